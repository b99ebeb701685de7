"""ruff lint and format check over the whole repository (it takes well under a second)."""

from __future__ import annotations

import json

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path


@register
class PythonLint(Check):
    name = "python-lint"
    description = "ruff lint rules and formatting (config: pyproject.toml)"
    paths = ("*.py", "pyproject.toml")
    expected_seconds = 2

    def run(self, ctx: GateContext) -> list[Finding]:
        ruff = tool_path("ruff", ctx.root)
        lint = run_tool([ruff, "check", "--output-format", "json", "--no-cache", "."], cwd=ctx.root)
        try:
            items = json.loads(lint.stdout or "[]")
        except json.JSONDecodeError as exc:
            raise ToolError(f"ruff printed output that is not JSON: {lint.stdout[:300]}") from exc
        findings = [
            Finding(
                rule=f"ruff:{item['code'] or 'syntax'}",
                message=item["message"],
                file=ctx.relative(item["filename"]),
                line=(item.get("location") or {}).get("row"),
                fix=(item.get("fix") or {}).get("message") or "see https://docs.astral.sh/ruff/rules/ for the rule",
            )
            for item in items
        ]
        # ruff format exits 2 on files it cannot parse; the lint pass above already reports those.
        fmt = run_tool([ruff, "format", "--check", "--no-cache", "."], cwd=ctx.root, ok_codes=(0, 1, 2))
        if fmt.returncode == 2 and "Failed to parse" not in fmt.stderr:
            raise ToolError(f"ruff format crashed: {fmt.stderr[-800:]}")
        for line in fmt.stdout.splitlines():
            if line.startswith("Would reformat: "):
                findings.append(
                    Finding(
                        rule="ruff:format",
                        message="file is not formatted",
                        file=line.removeprefix("Would reformat: ").strip(),
                        fix="run `make fmt` (ruff format)",
                    )
                )
        return findings
