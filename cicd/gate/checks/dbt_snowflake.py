"""Snowflake SQL without an account: compile for the prod target offline, then build on fakesnow.

The offline compile proves the production profile renders and every model compiles with dbt-snowflake's
macros; the emulated build runs the real adapter's DDL, contracts and data tests through fakesnow, which
catches Snowflake-only SQL errors that DuckDB would accept. Runs after dbt-build so a model that is plainly
broken is reported once, by the faster engine.
"""

from __future__ import annotations

from cicd.dbt.build import DbtToolError, build_snowflake_emulated
from cicd.gate.checks.dbt_build import DBT_PATHS
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register


@register
class DbtSnowflake(Check):
    name = "dbt-snowflake"
    expected_seconds = 18
    description = "dbt compile for Snowflake prod offline + dbt build on the fakesnow emulator"
    paths = DBT_PATHS
    needs = ("dbt-build",)

    def run(self, ctx: GateContext) -> list[Finding]:
        try:
            outcome = build_snowflake_emulated(ctx.root)
        except (DbtToolError, FileNotFoundError, OSError) as exc:
            raise ToolError(str(exc)) from exc
        ctx.report_path("dbt-snowflake.log").write_text(outcome.output)
        self.summary_note = f"{outcome.nodes} nodes on fakesnow"
        return outcome.findings
