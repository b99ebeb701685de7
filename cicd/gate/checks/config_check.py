"""The per-environment YAML files load into the typed model and obey the production rules."""

from __future__ import annotations

from cicd.gate.model import Check, Finding, GateContext
from cicd.gate.registry import register
from config import ConfigError, load_all


@register
class ConfigCheck(Check):
    name = "config"
    description = "config/*.yaml against the typed model (accounts, regions, approval, data policy)"
    paths = ("config/*",)
    expected_seconds = 2

    def run(self, ctx: GateContext) -> list[Finding]:
        try:
            load_all(ctx.path("config"))
        except ConfigError as exc:
            return [
                Finding(
                    rule=f"config:{problem.rule}",
                    message=f"{problem.field}: {problem.message}" if problem.field else problem.message,
                    file=problem.file,
                    line=problem.line,
                    fix=problem.fix,
                )
                for problem in exc.problems
            ]
        return []
