"""Schema compatibility of contracted dbt models against the last release's manifest (see cicd/dbt/compat.py).

Reads the manifest dbt-build just wrote; the baseline is the fetched last-release manifest when the pipeline
provides one (build/dbt/baseline/manifest.json), else the committed dbt_project/baseline/manifest.json.
"""

from __future__ import annotations

import json

from cicd.dbt import compat
from cicd.gate.checks.dbt_build import DBT_PATHS
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from pipeline_assets.dbt_wap.runner import DbtWorkspace


@register
class DbtSchemaCompat(Check):
    name = "dbt-schema-compat"
    description = "breaking changes to contracted dbt models vs the baseline manifest (versions / acknowledgements)"
    paths = DBT_PATHS
    needs = ("dbt-build",)
    build_inputs = ("build/dbt/ci/target/manifest.json", "build/dbt/baseline/manifest.json")
    dated = True  # acknowledgements of breaking changes expire

    def run(self, ctx: GateContext) -> list[Finding]:
        current_path = DbtWorkspace(ctx.root, "ci").manifest_path
        if not current_path.exists():
            raise ToolError(f"{ctx.relative(current_path)} is missing: dbt-build did not write a manifest")
        baseline_path = compat.resolve_baseline(ctx.root)
        if baseline_path is None:
            return [
                Finding(
                    rule="dbt-compat:no-baseline",
                    message="no baseline manifest: breaking changes cannot be detected",
                    file=compat.COMMITTED_BASELINE.as_posix(),
                    fix="run `cicd dbt baseline` and commit the file",
                )
            ]
        try:
            report = compat.check(
                compat.load_manifest(baseline_path),
                compat.load_manifest(current_path),
                ctx.root / compat.ACKNOWLEDGEMENTS,
            )
        except compat.CompatError as exc:
            raise ToolError(str(exc)) from exc
        ctx.report_path("dbt-schema-compat.json").write_text(
            json.dumps(
                {
                    "baseline": ctx.relative(baseline_path),
                    "breaking": [c.__dict__ for c in report.changes],
                    "acknowledged": [c.__dict__ for c in report.acknowledged],
                    "findings": [f.render() for f in report.findings],
                },
                indent=2,
            )
            + "\n"
        )
        self.summary_note = (
            f"vs {ctx.relative(baseline_path)}: {len(report.changes)} breaking, {len(report.acknowledged)} acknowledged"
        )
        return report.findings
