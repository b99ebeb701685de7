"""What a change does to the data: every changed dbt model diffed by value against the merge base (cicd/dbt/datadiff).

Runs under --changed-since when a dbt file changed. dbt-build has just built the head on the synthetic data;
this check rebuilds, from the merge base's project, only what the change modifies and what reads it, in a copy
of that database, and diffs each of those models by primary key. Reports: build/gate/data-diff.{md,json,html}
(the Markdown is a pull-request comment). It informs (warnings) and fails only for a contracted model whose key
set changes or whose changed-row share exceeds its threshold, until dbt_project/data_changes.yml acknowledges it.
"""

from __future__ import annotations

from cicd.dbt.build import DEFAULT_SCALE, DEFAULT_SEED
from cicd.dbt.datadiff import report
from cicd.dbt.datadiff.run import BuiltSide, DiffError, diff_built_head
from cicd.dbt.datadiff.verdict import ACKNOWLEDGEMENTS, decide
from cicd.gate.checks.dbt_build import DBT_PATHS
from cicd.gate.model import Check, Finding, GateContext, ToolError
from cicd.gate.registry import register
from pipeline_assets.dbt_wap.runner import DbtWorkspace

DBT_PROJECT_FILES = ("dbt_project/*",)


@register
class DataDiff(Check):
    name = "data-diff"
    expected_seconds = 25
    description = (
        "value diff of every changed dbt model vs the merge base on synthetic data (informs; a contracted model "
        "whose keys or too many rows change fails until acknowledged in dbt_project/data_changes.yml)"
    )
    paths = DBT_PATHS
    needs = ("dbt-build",)
    uses_base_ref = True

    def run(self, ctx: GateContext) -> list[Finding]:
        if ctx.base_ref is None:
            self.summary_note = "no --changed-since reference: nothing to diff against"
            return []
        if not ctx.changed(DBT_PROJECT_FILES):
            self.summary_note = "no file under dbt_project/ changed: the data cannot differ"
            return []
        workspace = DbtWorkspace(ctx.root, "ci")
        head = BuiltSide(workspace.project_dir, workspace.manifest_path, workspace.duckdb_path)
        missing = [ctx.relative(p) for p in (head.manifest, head.database) if not p.exists()]
        if missing:
            raise ToolError(f"{', '.join(missing)} missing: dbt-build did not leave the head it built")
        data = f"synthetic data scale {DEFAULT_SCALE}, seed {DEFAULT_SEED}"
        try:
            run = diff_built_head(ctx.root, ctx.base_ref, head, data_label=data)
        except DiffError as exc:
            raise ToolError(str(exc)) from exc
        verdict = decide(run.models, ctx.root / ACKNOWLEDGEMENTS)
        written = report.write(run, verdict, ctx.out_dir)
        self.summary_note = (
            f"{len(run.changed)} of {len(run.models)} selected model(s) change, {len(verdict.failing)} need an "
            f"acknowledgement; {ctx.relative(written['md'])}"
        )
        return verdict.findings
