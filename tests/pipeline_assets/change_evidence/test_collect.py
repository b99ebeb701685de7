"""The ChangeEvidence build spec as CodeBuild runs it: real bash and git, the fake GitHub API, a fake `aws`.

Every test runs the commands constructs/change_evidence.py puts into the deployed build spec, on a
real repository, and reads the record the step uploaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from constructs.change_evidence import COLLECTOR, build_spec_commands

from pipeline_assets.approval_guard import evidence as guard_evidence
from pipeline_assets.approval_guard.policy import Approval, Author, Change, decide
from pipeline_assets.change_evidence import collect
from pipeline_assets.ledger import layout
from tests.pipeline_assets.change_evidence.fakes import REPOSITORY, TOKEN, FakeAws, FakeGitHub, commit, git, user

PIPELINE = "data-platform-delivery"
EXECUTION = "e-2"
BUILD_ID = "ChangeEvidenceProject:1111"
GATES = {"ApproveProd": "SeparationOfDuties", "ApproveTrustBoundary": "TrustBoundarySeparationOfDuties"}
ALICE, BOB, CAROL, DAN = user("alice-gh", 1001), user("bob-gh", 1002), user("carol-gh", 1003), user("dan-gh", 1004)
BOUNDARY = ["pipeline_assets/approval_guard/", "config/"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def released(fake_aws: FakeAws, commit_sha: str, *, mutated: str | None = None) -> None:
    """CodePipeline's history: execution e-1 passed ApproveProd, ApproveTrustBoundary and self-mutation at
    `commit_sha`, or self-mutation was an earlier execution's, at `mutated`."""
    details = [
        {"pipelineExecutionId": "e-1", "stageName": "ApproveProd", "actionName": "SeparationOfDuties",
         "status": "Succeeded", "lastUpdateTime": "2026-03-01T09:00:00+00:00"},
        {"pipelineExecutionId": "e-1", "stageName": "ApproveTrustBoundary",
         "actionName": "TrustBoundarySeparationOfDuties", "status": "Succeeded",
         "lastUpdateTime": "2026-03-01T07:00:00+00:00"},
        {"pipelineExecutionId": "e-1", "stageName": "UpdatePipeline", "actionName": "SelfMutate",
         "status": "Succeeded", "lastUpdateTime": "2026-03-01T08:00:00+00:00"},
    ]  # fmt: skip
    executions = {"e-1": commit_sha}
    if mutated:  # the last self-mutation was an earlier execution's
        details[2] = {**details[2], "pipelineExecutionId": "e-0", "lastUpdateTime": "2026-02-01T08:00:00+00:00"}
        executions["e-0"] = mutated
    fake_aws.pipeline(action_executions=details, executions=executions)


def run_step(repo: Path, github: FakeGitHub, fake_aws: FakeAws, tmp_path: Path, **env: str) -> tuple[int, str, str]:
    """The build phase's commands in one bash, as CodeBuild runs them (variables persist across commands)."""
    head = git(repo, "rev-parse", "HEAD")
    python = Path(os.path.realpath(sys.executable)).parent  # the interpreter itself, not the project's venv
    # CodeBuild stops the phase at the first command that fails.
    stop = "__rc=$?; if [ $__rc -ne 0 ]; then exit $__rc; fi"
    commands = build_spec_commands(COLLECTOR.read_text())
    script = "\n".join([*(f"{c}\n{stop}" for c in commands), 'echo "HINT=$TRUST_BOUNDARY_HINT"'])
    variables = {
        "PATH": f"{fake_aws.bin}:{python}:/usr/bin:/bin",
        "TMPDIR": str(tmp_path),
        "HOME": str(tmp_path),
        "CODEBUILD_SRC_DIR": str(repo),
        "CODEBUILD_RESOLVED_SOURCE_VERSION": head,
        "CODEBUILD_BUILD_ID": BUILD_ID,
        "PIPELINE_NAME": PIPELINE,
        "PIPELINE_EXECUTION_ID": EXECUTION,
        "REPOSITORY": REPOSITORY,
        "BRANCH": "main",
        "PROVIDER_API_URL": github.url,
        "PROVIDER_TOKEN": TOKEN,
        "EVIDENCE_BUCKET": "evidence",
        "EVIDENCE_PREFIX": layout.CHANGE_EVIDENCE_PREFIX.rstrip("/"),
        "APPROVAL_GATES": json.dumps(GATES),
        "SELF_MUTATION": json.dumps({"UpdatePipeline": "SelfMutate"}),
        "TRUST_BOUNDARY_PATHS": json.dumps(BOUNDARY),
        "NO_PROXY": "127.0.0.1",
        **fake_aws.env(),
        **env,
    }
    proc = subprocess.run(["bash", "-c", script], env=variables, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def record(fake_aws: FakeAws) -> dict[str, Any]:
    key = layout.change_evidence_key(pipeline=PIPELINE, execution_id=EXECUTION, build_id=BUILD_ID)
    objects = fake_aws.objects()
    assert list(objects) == [f"evidence/{key}"], objects
    return objects[f"evidence/{key}"]


def history(repo: Path, github: FakeGitHub, fake_aws: FakeAws) -> dict[str, str]:
    """main: a released commit, then Carol's PR #12 (reviewed by Dan, merged by Bob), then Alice's PR #13,
    whose commit claims Bob as its author (GIT_AUTHOR_*) and was merged by Carol."""
    base = commit(repo, {"dags/a.py": "a\n"}, author=("Rel Ease", "rel@example.com"))
    released(fake_aws, base)
    carol = commit(repo, {"dags/b.py": "b\n"}, author=("Carol Diaz", "carol@example.com"), message="Add b (#12)")
    forged = commit(
        repo,
        {"dags/c.py": "c\n"},
        author=("Bob Ito", "bob@example.com"),
        committer="Bob Ito <bob@example.com>",
        message="Add c (#13)\n\nCo-authored-by: Erin Park <erin@example.com>",
    )
    github.commit(carol, author=CAROL, pulls=[github.pull(12, author=CAROL, merged_by=BOB, approvers=[DAN])])
    # GitHub links the forged e-mail to Bob's account; the signature is not verified.
    github.commit(forged, author=BOB, pulls=[github.pull(13, author=ALICE, merged_by=CAROL, merge_commit_sha=forged)])
    github.activity(
        [
            {"before": carol, "after": forged, "activity_type": "pr_merge", "actor": CAROL},
            {"before": base, "after": carol, "activity_type": "pr_merge", "actor": BOB},
        ]
    )
    return {"base": base, "carol": carol, "forged": forged}


def test_a_forged_author_is_only_a_name_the_accounts_that_brought_the_commit_are_recorded(
    repo, github, fake_aws, tmp_path
):
    shas = history(repo, github, fake_aws)

    code, out, err = run_step(repo, github, fake_aws, tmp_path)

    assert code == 0, err
    evidence = record(fake_aws)
    forged = evidence["commits"][shas["forged"]]
    assert forged["author"] == {"name": "Bob Ito", "email": "bob@example.com"}  # what git says: a name only
    assert forged["verification"] == {"verified": False, "reason": "unsigned"}
    assert forged["co_authors"] == [{"name": "Erin Park", "email": "erin@example.com"}]
    pull = evidence["pull_requests"][str(forged["pull_requests"][0])]
    assert pull["author"]["id"] == ALICE["id"] and pull["merged_by"]["id"] == CAROL["id"]
    assert [p["id"] for p in forged["pushed_by"]] == [CAROL["id"]]
    assert evidence["pull_requests"]["12"]["approved_by"] == [{"login": "dan-gh", "id": 1004, "type": "User"}]
    assert evidence["ranges"]["ApproveProd"] == {
        "since": shas["base"],
        "since_execution": "e-1",
        "commits": [shas["forged"], shas["carol"]],
        "complete": True,
    }
    assert evidence["problems"] == [] and evidence["head"] == shas["forged"]
    assert evidence["build"]["build_id"] == BUILD_ID and evidence["build"]["pipeline_execution_id"] == EXECUTION
    # The token went to the provider only, on every request.
    assert {auth for _, auth in github.requests} == {f"Bearer {TOKEN}"}
    put = [c for c in fake_aws.calls() if c[:2] == ["s3api", "put-object"]]
    assert len(put) == 1 and put[0][put[0].index("--if-none-match") + 1] == "*"
    assert "HINT=" in out


def test_squash_and_rebase_merges_record_their_merger(repo, github, fake_aws, tmp_path):
    base = commit(repo, {"a": "1"}, author=("Rel", "rel@example.com"))
    released(fake_aws, base)
    squash = commit(repo, {"b": "1"}, author=("Alice", "alice@example.com"), message="Squashed (#21)")
    rebased_1 = commit(repo, {"c": "1"}, author=("Alice", "alice@example.com"), message="Part 1")
    rebased_2 = commit(repo, {"d": "1"}, author=("Alice", "alice@example.com"), message="Part 2")
    github.commit(squash, author=ALICE, pulls=[github.pull(21, author=ALICE, merged_by=DAN, merge_commit_sha=squash)])
    pull_22 = github.pull(22, author=ALICE, merged_by=BOB, merge_commit_sha=rebased_2)
    github.commit(rebased_1, author=ALICE, pulls=[pull_22])
    github.commit(rebased_2, author=ALICE, pulls=[pull_22])
    github.activity(
        [
            {"before": squash, "after": rebased_2, "activity_type": "pr_merge", "actor": BOB},
            {"before": base, "after": squash, "activity_type": "pr_merge", "actor": DAN},
        ]
    )

    code, _, err = run_step(repo, github, fake_aws, tmp_path)

    assert code == 0, err
    evidence = record(fake_aws)
    assert evidence["pull_requests"]["21"]["merged_by"]["id"] == DAN["id"]
    assert evidence["pull_requests"]["22"]["merged_by"]["id"] == BOB["id"]
    assert [p["login"] for p in evidence["commits"][rebased_1]["pushed_by"]] == ["bob-gh"]


def test_a_direct_push_records_its_pusher_and_a_commit_nobody_brought_is_unverifiable(repo, github, fake_aws, tmp_path):
    base = commit(repo, {"a": "1"}, author=("Rel", "rel@example.com"))
    released(fake_aws, base)
    pushed = commit(repo, {"b": "1"}, author=("Bob", "bob@example.com"))
    orphan = commit(repo, {"c": "1"}, author=("Bob", "bob@example.com"))
    github.commit(pushed, author=None)  # an e-mail GitHub links to no account
    github.commit(orphan, author=None)
    github.activity([{"before": base, "after": pushed, "activity_type": "push", "actor": ALICE}])

    code, _, err = run_step(repo, github, fake_aws, tmp_path)

    assert code == 0, err
    evidence = record(fake_aws)
    assert [p["login"] for p in evidence["commits"][pushed]["pushed_by"]] == ["alice-gh"]
    assert evidence["commits"][pushed]["accounts"] == {"author": None, "committer": None}
    assert evidence["problems"] == [
        {"commit": orphan, "problem": "came through no merged pull request and no recorded push: unverifiable"}
    ]


def test_replaced_objects_a_git_on_path_and_modules_in_the_checkout_change_nothing(repo, github, fake_aws, tmp_path):
    """The attacks on the old in-build classification, against the trusted step."""
    mutated = commit(repo, {"pipeline_assets/approval_guard/policy.py": "v1\n"}, author=("Rel", "rel@example.com"))
    base = commit(repo, {"dags/a.py": "1"}, author=("Rel", "rel@example.com"))
    released(fake_aws, base, mutated=mutated)
    head = commit(
        repo,
        {
            "pipeline_assets/approval_guard/policy.py": "v2: same_person = lambda *a, **k: False\n",
            # Would run if the collector imported from the checkout (json is the first thing it imports).
            "json.py": "open('/tmp/PWNED-by-checkout', 'w').write('x')\nraise SystemExit(0)\n",
        },
        author=("Alice", "alice@example.com"),
    )
    # git replace: make HEAD look like the base commit, written by Carol.
    git(repo, "replace", "-f", head, base)
    github.commit(head, author=ALICE, pulls=[github.pull(30, author=ALICE, merged_by=BOB)])
    github.activity([{"before": base, "after": head, "activity_type": "pr_merge", "actor": BOB}])
    liar = tmp_path / "liar"
    liar.mkdir()
    (liar / "git").write_text("#!/bin/sh\necho 0000000000000000000000000000000000000000\nexit 0\n")
    (liar / "git").chmod(0o755)

    code, out, err = run_step(
        repo,
        github,
        fake_aws,
        tmp_path,
        PATH=f"{liar}:{fake_aws.bin}:{Path(os.path.realpath(sys.executable)).parent}:/usr/bin:/bin",
    )

    assert code == 0, err
    evidence = record(fake_aws)
    assert evidence["head"] == head and evidence["ranges"]["ApproveProd"]["commits"] == [head]
    assert evidence["commits"][head]["author"]["email"] == "alice@example.com"
    assert evidence["trust_boundary_hint"] == {
        "baseline_commit": mutated,
        "paths": ["pipeline_assets/approval_guard/policy.py"],
        "changed": True,
    }
    assert "HINT=true" in out
    assert not Path("/tmp/PWNED-by-checkout").exists()


def test_no_self_mutation_yet_counts_as_a_boundary_change(repo, github, fake_aws, tmp_path):
    head = commit(repo, {"dags/a.py": "1"}, author=("Alice", "alice@example.com"))
    github.commit(head, author=ALICE)
    github.activity([{"before": "0" * 40, "after": head, "activity_type": "branch_creation", "actor": ALICE}])

    code, out, err = run_step(repo, github, fake_aws, tmp_path)

    assert code == 0, err
    evidence = record(fake_aws)
    assert evidence["trust_boundary_hint"]["paths"] == ["no-baseline:none"] and "HINT=true" in out
    assert evidence["ranges"]["ApproveProd"] == {
        "since": None,
        "since_execution": None,
        "commits": [head],
        "complete": True,
    }


def test_a_checkout_that_is_not_the_built_commit_fails_and_uploads_nothing(repo, github, fake_aws, tmp_path):
    commit(repo, {"a": "1"}, author=("Alice", "alice@example.com"))

    code, out, err = run_step(repo, github, fake_aws, tmp_path, CODEBUILD_RESOLVED_SOURCE_VERSION="f" * 40)

    assert code != 0 and "but CodePipeline built ffff" in err
    assert fake_aws.objects() == {} and "HINT=" not in out


@pytest.mark.parametrize(("failure", "message"), [("token", "answered 401"), ("server", "answered 502")])
def test_a_provider_that_refuses_or_fails_fails_the_step(repo, github, fake_aws, tmp_path, failure, message):
    shas = history(repo, github, fake_aws)
    if failure == "server":
        github.failures[f"/repos/{REPOSITORY}/pulls/13"] = 502

    code, _, err = run_step(
        repo, github, fake_aws, tmp_path, **({"PROVIDER_TOKEN": "stale"} if failure == "token" else {})
    )

    assert code != 0 and message in err and shas
    assert fake_aws.objects() == {}


def test_a_pipeline_api_error_fails_the_step(repo, github, fake_aws, tmp_path):
    history(repo, github, fake_aws)
    gone = {"pipelineExecutionId": "gone", "stageName": "ApproveProd", "actionName": "SeparationOfDuties",
            "status": "Succeeded", "lastUpdateTime": "2026-03-01T09:00:00+00:00"}  # fmt: skip
    fake_aws.pipeline(action_executions=[gone], executions={})

    code, _, err = run_step(repo, github, fake_aws, tmp_path)

    assert code != 0 and "aws codepipeline get-pipeline-execution failed" in err


def test_activity_and_reviews_are_read_across_pages(repo, github, fake_aws, tmp_path):
    base = commit(repo, {"a": "1"}, author=("Rel", "rel@example.com"))
    released(fake_aws, base)
    head = commit(repo, {"b": "1"}, author=("Alice", "alice@example.com"))
    github.commit(head, author=None)
    noise = [{"before": "1" * 40, "after": "2" * 40, "activity_type": "push", "actor": DAN}] * 130  # not in the clone
    github.activity([*noise, {"before": base, "after": head, "activity_type": "push", "actor": ALICE}])

    code, _, err = run_step(repo, github, fake_aws, tmp_path)

    assert code == 0, err
    assert [p["login"] for p in record(fake_aws)["commits"][head]["pushed_by"]] == ["alice-gh"]
    assert sum(1 for path, _ in github.requests if path.endswith("/activity")) == 2


def test_the_record_key_is_the_ledger_layouts():
    env = {"PIPELINE_NAME": "p:x", "PIPELINE_EXECUTION_ID": "e/1", "CODEBUILD_BUILD_ID": "Proj:uuid"}
    assert collect.record_key(env) == layout.change_evidence_key(
        pipeline="p:x", execution_id="e/1", build_id="Proj:uuid"
    )
    for sample in ("a:b", "x/y", ".lead", "ok-1.2@3=4+5"):
        assert collect.safe(sample) == layout.safe(sample)


def test_the_guard_rejects_the_real_author_on_the_record_the_step_wrote(repo, github, fake_aws, tmp_path):
    """Issue 17 #2 end to end: alice's commit claims bob as author, but came through her pull request."""
    shas = history(repo, github, fake_aws)
    code, _, err = run_step(repo, github, fake_aws, tmp_path)
    assert code == 0, err
    evidence = record(fake_aws)
    commits = guard_evidence.commits_since(evidence, stage="ApproveProd", release=shas["base"], where="the ledger")
    names, accounts, unverifiable = guard_evidence.identities_of(evidence, commits)
    change = Change(tuple(names), accounts=tuple(accounts.values()))
    aliases = {
        "alice@example.com": ["alice", "github:1001"],
        "bob@example.com": ["bob", "github:1002"],
        "carol@example.com": ["carol", "github:1003"],
        "dan@example.com": ["dan", "github:1004"],
        "frank@example.com": ["frank", "github:1006"],
    }
    role = "arn:aws:iam::111111111111:role/DataPlatformReleaseApprovers"

    def approve(person: str):
        arn = f"arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/{person}"
        approval = Approval(arn, "2026-03-02T10:00:00+00:00", "ok", "Succeeded", "cloudtrail", person)
        author = Author(None, None, shas["forged"], None)
        return decide(
            approval=approval, author=author, approvers=(role,), break_glass_principals=(),
            is_group_member=lambda *_: False, aliases=aliases, change=change,
        )  # fmt: skip

    assert unverifiable == []
    assert "alice approved a change they authored" in approve("alice").message  # PR #13's author
    assert "dan approved a change they authored" in approve("dan").message  # reviewed PR #12
    assert approve("frank").allowed
