"""Proves cdk-nag checked every stack of the cloud assembly, with every rule pack, and found nothing.

cdk-nag's Aspects do not cross into a Stage unless applied to it (TOOLCHAIN.md), so a stage or
stack added without `apply_nag_checks` would pass synth silently. cdk-nag writes one CSV report per
stack and pack whose rows name the construct path of each resource it evaluated: a stack with no
rows in a pack's reports was never checked by that pack.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from cicd.gate.checks.cdk_synth import CLOUD_ASSEMBLY, CdkSynth
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register

# The packs stacks/nag.py applies; a report file is "<pack>-<stack path>-NagReport.csv".
PACKS = ("AwsSolutions", "NIST.800.53.R5")
SUPPRESS_FIX = "fix the resource, or add NagSuppressions on the narrowest construct with a specific reason"
APPLY_FIX = (
    "apply stacks.nag.apply_nag_checks to the stage or app scope that holds the stack (Aspects on the app do "
    "not reach stacks inside a Stage)"
)


@dataclass(frozen=True)
class StackArtifact:
    path: str  # construct path, e.g. "Prod/Release"
    template: Path


def assembly_stacks(assembly: Path) -> list[StackArtifact]:
    """Every CloudFormation stack of a cloud assembly, including those in nested (stage) assemblies."""
    manifest_path = assembly / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ToolError(f"cannot read the cloud assembly manifest {manifest_path}: {exc}") from exc
    stacks = []
    for artifact_id, artifact in sorted(manifest.get("artifacts", {}).items()):
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            stacks.append(
                StackArtifact(artifact.get("displayName", artifact_id), assembly / properties["templateFile"])
            )
        elif artifact.get("type") == "cdk:cloud-assembly":
            stacks += assembly_stacks(assembly / properties["directoryName"])
    return stacks


def report_rows(assembly: Path, pack: str) -> list[dict[str, str]]:
    rows = []
    for report in sorted(assembly.rglob(f"{pack}-*-NagReport.csv")):
        with report.open(newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def coverage_findings(assembly: Path, root: Path) -> tuple[list[Finding], int]:
    """Findings for unchecked (stack, pack) pairs and non-compliant rows; and how many stacks were seen."""
    stacks = assembly_stacks(assembly)
    if not stacks:
        raise ToolError(f"the cloud assembly {assembly} holds no stack")
    findings = []

    def where(stack: StackArtifact) -> str:
        try:
            return stack.template.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(stack.template)

    for pack in PACKS:
        rows = report_rows(assembly, pack)
        checked = {row.get("Resource ID", "") for row in rows}
        for stack in stacks:
            if not any(resource.startswith(f"{stack.path}/") for resource in checked):
                findings.append(
                    Finding(
                        rule="cdk-nag:unchecked-stack",
                        message=f"stack {stack.path} was not checked by cdk-nag's {pack} pack",
                        file=where(stack),
                        fix=APPLY_FIX,
                    )
                )
        for row in rows:
            if row.get("Compliance") == "Non-Compliant":
                resource = row.get("Resource ID", "")
                owner = next((s for s in stacks if resource.startswith(f"{s.path}/")), None)
                findings.append(
                    Finding(
                        rule=f"cdk-nag:{row.get('Rule ID')}",
                        message=f"{resource}: {row.get('Rule Info')}",
                        file=where(owner) if owner else None,
                        fix=SUPPRESS_FIX,
                    )
                )
    return findings, len(stacks)


@register
class CdkNagCoverage(Check):
    name = "cdk-nag-coverage"
    description = "every stack of every stage was checked by each cdk-nag pack (from its NagReport CSVs)"
    paths = CdkSynth.paths
    needs = ("cdk-synth",)
    inputs = ()  # keyed on what synth wrote: manifests, templates and cdk-nag's reports
    build_inputs = ("build/cdk.out/**/manifest.json", "build/cdk.out/**/*.template.json", "build/cdk.out/**/*.csv")

    def run(self, ctx: GateContext) -> list[Finding]:
        assembly = ctx.path(CLOUD_ASSEMBLY)
        if not assembly.is_dir():
            raise ToolError(f"no cloud assembly at {CLOUD_ASSEMBLY}; cdk-synth must run first")
        findings, count = coverage_findings(assembly, ctx.root)
        self.summary_note = f"{count} stacks x {len(PACKS)} packs"
        return findings
