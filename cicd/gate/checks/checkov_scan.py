"""checkov's CloudFormation policies on the synthesized templates (its own virtual environment)."""

from __future__ import annotations

import json

from cicd.gate.checks.cdk_synth import CLOUD_ASSEMBLY, CdkSynth
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path


@register
class Checkov(Check):
    name = "checkov"
    expected_seconds = 12
    description = "checkov (CloudFormation framework) on the cloud assembly, offline"
    paths = CdkSynth.paths
    needs = ("cdk-synth",)
    inputs = ()  # keyed on the templates it scans (and the checkov lock), not the stack code
    build_inputs = ("build/cdk.out/**/*.template.json",)

    def run(self, ctx: GateContext) -> list[Finding]:
        checkov = tool_path("checkov", ctx.root)
        templates = sorted(ctx.path(CLOUD_ASSEMBLY).glob("**/*.template.json"))
        if not templates:
            raise ToolError(f"no templates under {CLOUD_ASSEMBLY} to scan")
        args = [checkov, "--framework", "cloudformation", "--skip-download", "--quiet", "--compact", "-o", "json"]
        for template in templates:
            args += ["-f", str(template.relative_to(ctx.root))]
        proc = run_tool(args, cwd=ctx.root, env={"LOG_LEVEL": "ERROR"}, timeout_s=300)
        try:
            parsed = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise ToolError(f"checkov output is not JSON: {(proc.stdout + proc.stderr)[-800:]}") from exc
        reports = parsed if isinstance(parsed, list) else [parsed]
        findings = []
        scanned = 0
        for report in reports:
            results = report.get("results", {})
            scanned += report.get("summary", {}).get("resource_count", 0)
            for failed in results.get("failed_checks", []):
                findings.append(
                    Finding(
                        rule=f"checkov:{failed['check_id']}",
                        message=f"{failed['check_name']} ({failed.get('resource')})",
                        file=ctx.relative(ctx.root / failed["file_path"].lstrip("/")),
                        line=(failed.get("file_line_range") or [None])[0],
                        fix=failed.get("guideline")
                        or "fix the resource, or skip it in CDK metadata (checkov: skip) with a specific reason",
                    )
                )
        self.summary_note = f"{scanned} resources scanned"
        return findings
