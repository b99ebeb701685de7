"""Build evidence from the synth step: gate report, release manifest, template hashes and commit."""

import argparse
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from cicd.audit import cli
from cicd.audit.evidence import EvidenceError, collect, commit_info, template_hashes, upload
from pipeline_assets.ledger.handler import record_event
from pipeline_assets.ledger.store import EvidenceStore

BUCKET = "evidence-bucket"
EXECUTION = "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"


def write_assembly(root: Path) -> dict[str, bytes]:
    """A cloud assembly shaped like `cdk synth` output for staged apps (nested assembly-<Stage>/)."""
    templates = {
        "Prod-Storage": b'{"Resources": {"DataKey": {"Type": "AWS::KMS::Key"}}}',
        "Prod-ReleaseLane": b'{"Resources": {"Activation": {"Type": "Custom::ReleaseActivation"}}}',
    }
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}},
                    "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
                }
            }
        )
    )
    nested = root / "assembly-Prod"
    nested.mkdir()
    artifacts = {}
    for name, body in templates.items():
        logical = name.replace("-", "") + "0EF194CB"
        (nested / f"{logical}.template.json").write_bytes(body)
        artifacts[logical] = {
            "type": "aws:cloudformation:stack",
            "environment": "aws://444444444444/eu-west-1",
            "properties": {"templateFile": f"{logical}.template.json", "stackName": name},
            "displayName": name.replace("-", "/"),
        }
        artifacts[f"{logical}.assets"] = {"type": "cdk:asset-manifest", "properties": {"file": "x.assets.json"}}
    (nested / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return templates


def test_template_hashes_cover_nested_stage_assemblies(tmp_path):
    templates = write_assembly(tmp_path / "cdk.out")

    found = template_hashes(tmp_path / "cdk.out")["stacks"]

    assert {name: info["sha256"] for name, info in found.items()} == {
        name: hashlib.sha256(body).hexdigest() for name, body in templates.items()
    }
    assert found["Prod-Storage"]["template"] == "assembly-Prod/ProdStorage0EF194CB.template.json"


def test_template_hashes_need_a_synthesized_assembly(tmp_path):
    with pytest.raises(EvidenceError, match=r"manifest.json not found: run cdk synth"):
        template_hashes(tmp_path)


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_commit_comes_from_git_with_its_author(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("x")
    git(tmp_path, "add", "f.txt")
    git(tmp_path, "-c", "user.email=alice@example.com", "-c", "user.name=Alice Moreno", "commit", "-q", "-m", "add f")

    info = commit_info(tmp_path)

    assert (info["author_email"], info["author_name"], info["subject"]) == (
        "alice@example.com",
        "Alice Moreno",
        "add f",
    )
    assert len(info["sha"]) == 40


def test_without_git_the_codebuild_revision_is_used_and_the_author_left_to_the_trigger(tmp_path):
    info = commit_info(tmp_path, env={"CODEBUILD_RESOLVED_SOURCE_VERSION": "9d1e4c7a"})
    assert info == {"sha": "9d1e4c7a", "author_email": None, "author_name": None, "committed_at": None, "subject": None}
    with pytest.raises(EvidenceError, match="CODEBUILD_RESOLVED_SOURCE_VERSION is unset: the commit is unknown"):
        commit_info(tmp_path, env={})


def test_collect_names_the_missing_input_and_the_command_that_makes_it(tmp_path):
    with pytest.raises(EvidenceError, match=r"report.json not found: run `cicd validate` first"):
        collect(tmp_path, gate_report=tmp_path / "report.json", release_dir=None, cloud_assembly=None)
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(EvidenceError, match=r"release.json not found: run `cicd release build` first"):
        collect(tmp_path, gate_report=tmp_path / "report.json", release_dir=tmp_path / "rel", cloud_assembly=None)


@pytest.fixture
def s3(object_lock_bucket):
    return object_lock_bucket(BUCKET)


def make_build(root: Path) -> None:
    (root / "build" / "gate").mkdir(parents=True)
    gate = {"passed": True, "scope": "all", "checks": [{"name": "python-lint", "status": "passed", "findings": []}]}
    (root / "build" / "gate" / "report.json").write_text(json.dumps(gate))
    (root / "build" / "release" / "current").mkdir(parents=True)
    (root / "build" / "release" / "current" / "release.json").write_text(
        json.dumps({"release_id": "r-0123456789abcdef", "content_sha256": "ab" * 32, "git_sha": "9d1e4c7a"})
    )
    write_assembly(root / "build" / "cdk.out")
    git(root, "init", "-q")
    git(root, "-c", "user.email=alice@example.com", "-c", "user.name=Alice", "commit", "-q", "--allow-empty", "-m", "m")


def test_uploaded_evidence_becomes_ledger_records(tmp_path, s3):
    make_build(tmp_path)
    evidence = collect(
        tmp_path,
        gate_report=tmp_path / "build/gate/report.json",
        release_dir=tmp_path / "build/release/current",
        cloud_assembly=tmp_path / "build/cdk.out",
    )
    keys = upload(s3, BUCKET, pipeline="DataPlatformDelivery", execution_id=EXECUTION, evidence=evidence, upload="b-1")
    store = EvidenceStore(s3, BUCKET, retention_days=30)

    kinds = {}
    for key in keys:
        event = {
            "id": key,
            "detail-type": "Object Created",
            "source": "aws.s3",
            "time": "2026-03-02T09:27:48Z",
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}},
        }
        record = store.get_json(record_event(event, store=store).key)
        kinds[record["kind"]] = record

    assert sorted(kinds) == ["commit", "gate-report", "release", "templates"]
    assert kinds["commit"]["content"]["author_email"] == "alice@example.com"
    assert kinds["release"]["content"]["release_id"] == "r-0123456789abcdef"
    assert set(kinds["templates"]["content"]["stacks"]) == {"Prod-ReleaseLane", "Prod-Storage"}
    assert kinds["gate-report"]["summary"]["counts"] == {"passed": 1}


def test_cli_upload_evidence(tmp_path, s3, capsys, monkeypatch):
    make_build(tmp_path)
    monkeypatch.setenv("CODEBUILD_BUILD_ID", "DataPlatformSynth:6f1e2d3c-0000-4000-8000-000000000000")
    args = argparse.Namespace(
        root=str(tmp_path), bucket=BUCKET, pipeline="DataPlatformDelivery", execution_id=EXECUTION,
        gate_report="build/gate/report.json", release_dir="build/release/current", cloud_assembly="build/cdk.out",
        no_release=False, no_templates=False,
    )  # fmt: skip

    assert cli.cmd_upload_evidence(args, s3=s3) == 0

    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    prefix = f"uploaded s3://{BUCKET}/incoming/DataPlatformDelivery/{EXECUTION}/DataPlatformSynth_6f1e2d3c-"
    assert len(lines) == 4 and all(line.startswith(prefix) for line in lines)
    assert "change-identities" not in captured.out + captured.err  # who made the change is not this build's to say


def test_cli_upload_evidence_without_a_gate_report_exits_2(tmp_path, capsys):
    args = argparse.Namespace(
        root=str(tmp_path), bucket=BUCKET, pipeline="P", execution_id=EXECUTION, gate_report="build/gate/report.json",
        release_dir="build/release/current", cloud_assembly="build/cdk.out", no_release=True, no_templates=True,
    )  # fmt: skip
    assert cli.cmd_upload_evidence(args, s3=object()) == 2
    assert "run `cicd validate` first" in capsys.readouterr().err
