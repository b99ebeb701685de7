"""Build and test every dbt model on DuckDB with deterministic synthetic data (scale 1, seed 42).

`dbt build` runs seeds, models (contracts enforced), data tests and unit tests in DAG order; every failing
node becomes a finding naming its file. The manifest it writes is what the schema-compatibility check reads.
"""

from __future__ import annotations

from cicd.dbt.build import DbtToolError, build_duckdb
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register

DBT_PATHS = ("dbt_project/*", "cicd/data/*", "cicd/dbt/*")


@register
class DbtBuild(Check):
    name = "dbt-build"
    expected_seconds = 9
    description = "dbt build (models, contracts, data and unit tests) on DuckDB with synthetic data"
    paths = DBT_PATHS
    # dbt-schema-compat reads the manifest; data-diff reads the manifest and the database it built.
    outputs = ("build/dbt/ci/target/manifest.json", "build/dbt/ci/ci.duckdb")

    def run(self, ctx: GateContext) -> list[Finding]:
        try:
            outcome = build_duckdb(ctx.root)
        except (DbtToolError, FileNotFoundError, OSError) as exc:
            raise ToolError(str(exc)) from exc
        ctx.report_path("dbt-build.log").write_text(outcome.output)
        timings = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in outcome.timings.items())
        self.summary_note = f"{outcome.nodes} nodes ({timings})"
        return outcome.findings
