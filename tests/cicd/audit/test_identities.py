"""Every identity of a change, from a real git history built in the test: several commits, a forged
author, a different committer, a co-author trailer and a GitHub pull-request merge."""

import argparse
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cicd.audit import cli
from cicd.audit.evidence import collect
from cicd.audit.identities import (
    IdentitiesError,
    PullRequest,
    collect_change_identities,
    parse_log,
    pull_requests,
)
from cicd.options import ExitCode
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.records import build_evidence_record

BUILD_ENV = {
    "PIPELINE_NAME": "DataPlatformDelivery",
    "PIPELINE_EXECUTION_ID": "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01",
    "CODEBUILD_BUILD_ID": "DataPlatformValidate:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
    "CODEBUILD_BUILD_ARN": "arn:aws:codebuild:eu-west-1:111111111111:build/DataPlatformValidate:0f1e2d3c",
}


def git(repo: Path, *args: str, author=("Alice Moreno", "alice@example.com"), committer=None) -> str:
    committer = committer or author
    env = {
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": committer[0],
        "GIT_COMMITTER_EMAIL": committer[1],
        "HOME": str(repo),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, name: str, message: str, **people) -> str:
    (repo / name).write_text(message)
    git(repo, "add", name, **people)
    git(repo, "commit", "-q", "-m", message, **people)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path):
    """main: released (alice) → bob's commit, committed by carol, co-authored by dan → merge of erin's
    PR #12, merged by frank on GitHub (committer GitHub) → a commit whose author was forged as mallory."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    released = commit(repo, "a.txt", "first release")
    commit(
        repo,
        "b.txt",
        "crm: add tier\n\nCo-authored-by: Dan Roe <Dan@Example.com>",
        author=("Bob Ito", "bob@example.com"),
        committer=("Carol Diaz", "carol@example.com"),
    )
    git(repo, "checkout", "-q", "-b", "feature", released)
    commit(repo, "c.txt", "erin's change", author=("Erin Park", "erin@example.com"))
    git(repo, "checkout", "-q", "main")
    git(
        repo,
        "merge",
        "-q",
        "--no-ff",
        "feature",
        "-m",
        "Merge pull request #12 from erin-gh/feature\n\nerin's change",
        author=("Frank Ode", "frank@example.com"),
        committer=("GitHub", "noreply@github.com"),
    )
    commit(repo, "d.txt", "looks like mallory", author=("Mallory", "mallory@example.com"),
           committer=("Grace Hall", "grace@example.com"))  # fmt: skip
    return repo, released


def test_window_mode_records_every_identity_of_every_commit(repo):
    root, _ = repo

    data = collect_change_identities(root, since="auto", env=BUILD_ENV)

    assert data["schema"] == "change-identities/v1"
    assert data["range"]["mode"] == "window" and data["range"]["complete"] is True
    assert len(data["commits"]) == 5
    ids = {i.lower() for i in data["identities"]}
    # forged author AND the real committer, co-author, merge author, PR head login, earlier commits
    expected = {"mallory@example.com", "grace@example.com", "carol@example.com", "dan@example.com"}
    expected |= {"frank@example.com", "erin-gh", "erin@example.com", "bob@example.com", "alice@example.com"}
    assert expected <= ids, expected - ids
    merge = next(c for c in data["commits"] if len(c["parents"]) == 2)
    assert merge["pull_requests"] == [{"number": 12, "login": "erin-gh"}]
    assert data["build"]["build_id"] == BUILD_ENV["CODEBUILD_BUILD_ID"]
    assert data["build"]["pipeline_execution_id"] == BUILD_ENV["PIPELINE_EXECUTION_ID"]


def test_auto_starts_at_the_newest_prod_release_tag(repo):
    root, released = repo
    git(root, "tag", "prod-release-2026-03-01", released)

    data = collect_change_identities(root, since="auto", env=BUILD_ENV)

    assert data["range"]["mode"] == "tag" and data["range"]["since"] == released
    assert data["range"]["since_ref"] == "prod-release-2026-03-01"
    assert released not in {c["sha"] for c in data["commits"]}
    assert len(data["commits"]) == 4 and "alice@example.com" not in data["identities"]


def test_explicit_since_and_a_head_mismatch(repo):
    root, released = repo
    data = collect_change_identities(root, since=released, env={})
    assert data["range"]["mode"] == "explicit" and len(data["commits"]) == 4

    with pytest.raises(IdentitiesError, match="CodeBuild built 0000000"):
        collect_change_identities(root, since="auto", env={"CODEBUILD_RESOLVED_SOURCE_VERSION": "0" * 40})
    with pytest.raises(IdentitiesError, match="git rev-parse --verify nope"):
        collect_change_identities(root, since="nope", env={})


def test_pull_request_references():
    assert pull_requests("Merge pull request #7 from bob-gh/fix-x\n\nfix") == (PullRequest(7, "bob-gh"),)
    assert pull_requests("crm: add tier (#31)\n\n* details") == (PullRequest(31, None),)
    assert pull_requests("no reference #5 here") == ()


def test_parse_log_rejects_output_it_does_not_understand():
    with pytest.raises(IdentitiesError, match="unexpected git log record"):
        parse_log("abc\x1fdef\x1e")


def test_cli_writes_the_file_the_upload_then_carries_to_the_ledger(repo, capsys, monkeypatch):
    root, _ = repo
    for name, value in BUILD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CODEBUILD_RESOLVED_SOURCE_VERSION", raising=False)
    out = "build/cdk.out/evidence/change-identities.json"

    assert cli.cmd_change_identities(argparse.Namespace(root=str(root), since="auto", out=out)) == ExitCode.OK
    assert "5 commits since the newest 500 commits" in capsys.readouterr().out

    (root / "report.json").write_text("{}")
    files = collect(
        root, gate_report=root / "report.json", release_dir=None, cloud_assembly=None, change_identities=root / out
    ).files
    key = layout.incoming_key(pipeline="P", execution_id="E", upload_id="U", name="change-identities.json")
    assert layout.parse_incoming_key(key) == ("P", "E", "change-identities.json")
    now = datetime(2026, 3, 2, tzinfo=UTC)
    record = build_evidence_record(
        pipeline="P",
        execution_id="E",
        name="change-identities.json",
        raw=files["change-identities.json"],
        location={"key": key},
        uploaded_at=now,
        recorded_at=now,
    )
    assert record.body["kind"] == "change-identities" and len(record.body["content"]["commits"]) == 5


def test_cli_names_the_problem_outside_a_git_checkout(tmp_path, capsys):
    args = argparse.Namespace(root=str(tmp_path), since="auto", out="x.json")

    assert cli.cmd_change_identities(args) == ExitCode.USAGE
    assert "audit change-identities: `git rev-parse HEAD` failed" in capsys.readouterr().err
