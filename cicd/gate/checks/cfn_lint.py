"""cfn-lint on every synthesized template (rule config and reasons: .cfnlintrc)."""

from __future__ import annotations

import json

from cicd.gate.checks.cdk_synth import CLOUD_ASSEMBLY, CdkSynth
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path


@register
class CfnLint(Check):
    name = "cfn-lint"
    expected_seconds = 12
    description = "cfn-lint on the cloud assembly's templates"
    paths = (*CdkSynth.paths, ".cfnlintrc")
    needs = ("cdk-synth",)
    # Keyed on the templates, not the stack code: a stack edit that synthesizes the same templates reuses it.
    inputs = (".cfnlintrc",)
    build_inputs = ("build/cdk.out/**/*.template.json",)

    def run(self, ctx: GateContext) -> list[Finding]:
        templates = sorted(ctx.path(CLOUD_ASSEMBLY).glob("**/*.template.json"))
        if not templates:
            raise ToolError(f"no templates under {CLOUD_ASSEMBLY} to lint")
        cfn_lint = tool_path("cfn-lint", ctx.root)
        args = [cfn_lint, "--format", "json", "--", *[str(t.relative_to(ctx.root)) for t in templates]]
        # cfn-lint exits with a bit mask of severities found (2 error, 4 warning, 8 info).
        proc = run_tool(args, cwd=ctx.root, ok_codes=tuple(range(0, 16)))
        try:
            matches = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError as exc:
            raise ToolError(f"cfn-lint output is not JSON: {(proc.stdout + proc.stderr)[-800:]}") from exc
        self.summary_note = f"{len(templates)} templates"
        return [
            Finding(
                rule=f"cfn-lint:{m['Rule']['Id']}",
                message=m["Message"],
                file=m["Filename"],
                line=m["Location"]["Start"]["LineNumber"],
                severity="warning" if m["Level"] == "Informational" else "error",
                fix=f"see {m['Rule'].get('Source') or 'the cfn-lint rule docs'}; fix the construct that emits it",
            )
            for m in matches
        ]
