"""Build evidence the pipeline's synth step hands to the ledger: what was built, from which commit,
which checks ran, and the exact CloudFormation templates. Who made the change is not among them: this
build runs the change's own code, so the trusted ChangeEvidence step records that before it
(pipeline_assets/change_evidence).

The synth step runs `cicd audit upload-evidence` after the gate and the release build; the
files land under `incoming/<pipeline>/<execution-id>/<upload-id>/` in the evidence bucket, and the
ledger Lambda turns each into a write-once record. The upload id (the CodeBuild build id) keeps a
retried build's evidence beside the first attempt's instead of replacing it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline_assets.ledger import layout
from platform_vocabulary.git import git_output


class EvidenceError(Exception):
    pass


def commit_info(root: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The commit being built. CodePipeline's default source artifact has no .git folder; CodeBuild
    still knows the revision, and the pipeline trigger event in the ledger knows the author."""
    variables = dict(os.environ if env is None else env)
    log = git_output(root, "log", "-1", "--format=%H%x00%ae%x00%an%x00%cI%x00%s", timeout_s=30)
    if log:
        sha, email, name, committed, subject = log.split("\x00", 4)
        return {"sha": sha, "author_email": email, "author_name": name, "committed_at": committed, "subject": subject}
    revision = variables.get("CODEBUILD_RESOLVED_SOURCE_VERSION")
    if not revision:
        raise EvidenceError(
            f"{root} is not a git checkout and CODEBUILD_RESOLVED_SOURCE_VERSION is unset: the commit is unknown"
        )
    return {"sha": revision, "author_email": None, "author_name": None, "committed_at": None, "subject": None}


def template_hashes(assembly: Path) -> dict[str, Any]:
    """SHA-256 of every stack template in a cloud assembly, nested stage assemblies included."""
    stacks: dict[str, dict[str, Any]] = {}

    def walk(directory: Path) -> None:
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            raise EvidenceError(f"{manifest_path} not found: run cdk synth (the cdk-synth gate check) first")
        manifest = json.loads(manifest_path.read_text())
        for artifact_id, artifact in sorted(manifest.get("artifacts", {}).items()):
            properties = artifact.get("properties") or {}
            if artifact.get("type") == "cdk:cloud-assembly":
                walk(directory / properties["directoryName"])
            elif artifact.get("type") == "aws:cloudformation:stack":
                template = directory / properties["templateFile"]
                name = properties.get("stackName") or artifact_id
                stacks[name] = {
                    "template": template.relative_to(assembly).as_posix(),
                    "sha256": hashlib.sha256(template.read_bytes()).hexdigest(),
                    "environment": artifact.get("environment"),
                    "display_name": artifact.get("displayName"),
                }

    walk(assembly)
    if not stacks:
        raise EvidenceError(f"{assembly} holds no CloudFormation stack templates")
    return {"stacks": dict(sorted(stacks.items()))}


@dataclass(frozen=True)
class EvidenceFiles:
    files: dict[str, bytes]  # name (one of layout.INCOMING_FILES) -> bytes


def collect(
    root: Path,
    *,
    gate_report: Path,
    release_dir: Path | None,
    cloud_assembly: Path | None,
) -> EvidenceFiles:
    if not gate_report.is_file():
        raise EvidenceError(f"{gate_report} not found: run `cicd validate` first (it writes the gate report)")
    files = {"gate-report.json": gate_report.read_bytes()}
    if release_dir is not None:
        manifest = release_dir / "release.json"
        if not manifest.is_file():
            raise EvidenceError(f"{manifest} not found: run `cicd release build` first")
        files["release.json"] = manifest.read_bytes()
    if cloud_assembly is not None:
        files["templates.json"] = (
            json.dumps(template_hashes(cloud_assembly), indent=2, sort_keys=True) + "\n"
        ).encode()
    files["commit.json"] = (json.dumps(commit_info(root), indent=2, sort_keys=True) + "\n").encode()
    return EvidenceFiles(files)


def upload_id(env: dict[str, str] | None = None) -> str:
    build = (os.environ if env is None else env).get("CODEBUILD_BUILD_ID")
    return layout.safe(build) if build else datetime.now(UTC).strftime("local-%Y%m%dT%H%M%SZ")


def upload(
    s3: Any, bucket: str, *, pipeline: str, execution_id: str, evidence: EvidenceFiles, upload: str
) -> list[str]:
    keys = []
    for name, data in sorted(evidence.files.items()):
        key = layout.incoming_key(pipeline=pipeline, execution_id=execution_id, upload_id=upload, name=name)
        # Plain PutObject: the bucket's default Object Lock retention covers these uploads, and the
        # synth role needs no s3:PutObjectRetention.
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", ChecksumAlgorithm="SHA256")
        keys.append(key)
    return keys
