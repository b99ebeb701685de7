"""cdk-nag coverage on small hand-made cloud assemblies: every stack, every pack, no open finding."""

from __future__ import annotations

import csv
import json

import pytest

from cicd.gate.checks.cdk_nag_coverage import PACKS, CdkNagCoverage, coverage_findings
from cicd.gate.model import GateContext, ToolError
from cicd.gate.registry import all_checks

HEADER = ["Rule ID", "Resource ID", "Compliance", "Exception Reason", "Rule Level", "Rule Info"]


def assembly(root, stacks=("Storage", "Release")):
    out = root / "build" / "cdk.out"
    nested = out / "assembly-Dev"
    nested.mkdir(parents=True)
    (out / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "assembly-Dev": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Dev"}}
                }
            }
        )
    )
    artifacts = {}
    for name in stacks:
        (nested / f"Dev{name}.template.json").write_text("{}")
        artifacts[f"Dev{name}"] = {
            "type": "aws:cloudformation:stack",
            "displayName": f"Dev/{name}",
            "properties": {"templateFile": f"Dev{name}.template.json"},
        }
    (nested / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return out


def report(out, pack, stack, rows):
    with (out / f"{pack}-Dev-Dev-{stack}-NagReport.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(HEADER)
        for rule, resource, compliance in rows:
            writer.writerow([rule, f"Dev/{stack}/{resource}", compliance, "N/A", "Error", f"{rule} info"])


def test_every_stack_checked_by_every_pack_passes(tmp_path):
    out = assembly(tmp_path)
    for pack in PACKS:
        report(out, pack, "Storage", [(f"{pack}-S1", "Bucket/Resource", "Compliant")])
        report(out, pack, "Release", [(f"{pack}-L1", "Fn/Resource", "Suppressed")])

    findings, count = coverage_findings(out, tmp_path)

    assert (findings, count) == ([], 2)


def test_a_stack_missing_from_a_packs_reports_is_named_with_its_template(tmp_path):
    out = assembly(tmp_path)
    for pack in PACKS:
        report(out, pack, "Storage", [(f"{pack}-S1", "Bucket/Resource", "Compliant")])
    report(out, "AwsSolutions", "Release", [("AwsSolutions-L1", "Fn/Resource", "Compliant")])

    findings, _ = coverage_findings(out, tmp_path)

    (finding,) = findings
    assert finding.rule == "cdk-nag:unchecked-stack"
    assert finding.message == "stack Dev/Release was not checked by cdk-nag's NIST.800.53.R5 pack"
    assert finding.file == "build/cdk.out/assembly-Dev/DevRelease.template.json"
    assert "apply_nag_checks" in finding.fix


def test_a_non_compliant_row_is_a_finding(tmp_path):
    out = assembly(tmp_path, stacks=("Storage",))
    report(out, "AwsSolutions", "Storage", [("AwsSolutions-S1", "Bucket/Resource", "Non-Compliant")])
    report(out, "NIST.800.53.R5", "Storage", [("NIST.800.53.R5-S3", "Bucket/Resource", "Compliant")])

    (finding,) = coverage_findings(out, tmp_path)[0]

    assert finding.rule == "cdk-nag:AwsSolutions-S1"
    assert finding.message.startswith("Dev/Storage/Bucket/Resource:")
    assert finding.file == "build/cdk.out/assembly-Dev/DevStorage.template.json"
    assert "NagSuppressions" in finding.fix


def test_no_reports_at_all_flags_every_stack_for_every_pack(tmp_path):
    out = assembly(tmp_path)
    findings, _ = coverage_findings(out, tmp_path)
    assert len(findings) == 2 * len(PACKS)


def test_a_missing_assembly_is_a_tool_error_not_a_pass(tmp_path):
    ctx = GateContext(root=tmp_path, out_dir=tmp_path / "build" / "gate")
    with pytest.raises(ToolError, match=r"no cloud assembly at build/cdk\.out"):
        CdkNagCoverage().run(ctx)


def test_the_check_is_registered_after_synth():
    (check,) = [c for c in all_checks() if c.name == "cdk-nag-coverage"]
    assert check.needs == ("cdk-synth",)
