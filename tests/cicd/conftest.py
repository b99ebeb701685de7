"""Fixtures shared by the gate's checks and the tools they run on: small cloud assemblies from JSON.

A spec lists stacks; one with a `stage` goes into that stage's nested assembly, as CDK Pipelines puts
the stacks of a Stage, so loaders see the same layout `cdk synth` writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REGION = "eu-west-1"


def write_assembly(spec: dict[str, Any], out: Path) -> Path:
    """A cloud assembly (manifest.json, templates, nested stage assemblies) for the fixture's stacks."""
    root_artifacts: dict[str, Any] = {}
    stages: dict[str, dict[str, Any]] = {}
    for stack in spec["stacks"]:
        path = stack["path"]
        artifact_id = path.replace("/", "")
        stage = stack.get("stage")
        directory = out / f"assembly-{stage}" if stage else out
        directory.mkdir(parents=True, exist_ok=True)
        template = {
            key: stack[field]
            for key, field in (("Resources", "resources"), ("Outputs", "outputs"), ("Parameters", "parameters"))
            if field in stack
        }
        (directory / f"{artifact_id}.template.json").write_text(json.dumps(template))
        artifact = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{stack['account']}/{stack.get('region', REGION)}",
            "displayName": path,
            "dependencies": [d.replace("/", "") for d in stack.get("depends_on", [])],
            "properties": {"templateFile": f"{artifact_id}.template.json", "stackName": stack.get("name", artifact_id)}
            | stack.get("manifest", {}),
        }
        (stages.setdefault(stage, {}) if stage else root_artifacts)[artifact_id] = artifact
    for stage, artifacts in stages.items():
        (out / f"assembly-{stage}" / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
        root_artifacts[f"assembly-{stage}"] = {
            "type": "cdk:cloud-assembly",
            "properties": {"directoryName": f"assembly-{stage}", "displayName": stage},
        }
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps({"artifacts": root_artifacts}))
    return out


@pytest.fixture
def assembly_dir(tmp_path: Path) -> Callable[[dict[str, Any], str], Path]:
    """A spec's cloud assembly written under tmp_path/<name>, e.g. "build/cdk.out" of a scratch root."""

    def build(spec: dict[str, Any], name: str = "cdk.out") -> Path:
        return write_assembly(spec, tmp_path / name)

    return build
