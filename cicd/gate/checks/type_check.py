"""mypy over the project's own packages (pyproject.toml [tool.mypy] packages)."""

from __future__ import annotations

import re

from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from cicd.gate.tools import run_tool, tool_path

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<level>error|note): (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$")


@register
class TypeCheck(Check):
    name = "type-check"
    expected_seconds = 30
    description = "mypy on cicd, config, stacks and the other first-party packages"
    paths = ("*.py", "pyproject.toml")
    after = ("python-lint",)  # a syntax error is named by ruff in a second, not by mypy in half a minute

    def run(self, ctx: GateContext) -> list[Finding]:
        mypy = tool_path("mypy", ctx.root)
        cache = ctx.out_dir / "mypy-cache"
        proc = run_tool([mypy, "--cache-dir", str(cache), "--no-error-summary", "--show-error-codes"], cwd=ctx.root)
        findings = []
        for line in proc.stdout.splitlines():
            match = LINE.match(line)
            if match and match["level"] == "error":
                findings.append(
                    Finding(
                        rule=f"mypy:{match['code'] or 'error'}",
                        message=match["msg"],
                        file=match["file"],
                        line=int(match["line"]),
                        fix="correct the types, or narrow with an explicit check; avoid bare `type: ignore`",
                    )
                )
        if proc.returncode != 0 and not findings:
            raise ToolError(f"mypy failed without reporting an error:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        return findings
