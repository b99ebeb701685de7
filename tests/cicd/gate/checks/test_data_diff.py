"""The data-diff gate check: wiring and the quick paths; the whole gate path on the real project is slow."""

import json
from pathlib import Path

import pytest

from cicd.dbt.build import build_duckdb
from cicd.dbt.datadiff.mutations import MUTATIONS
from cicd.gate.checks.data_diff import DataDiff
from cicd.gate.model import GateContext, ToolError
from cicd.gate.registry import all_checks


def ctx(root: Path, changed=None, base_ref: str | None = "main") -> GateContext:
    return GateContext(root=root, out_dir=root / "build" / "gate", changed_files=changed, base_ref=base_ref)


def test_registered_after_dbt_build_and_keyed_on_the_base_commit():
    [check] = [c for c in all_checks() if c.name == "data-diff"]
    assert check.needs == ("dbt-build",) and check.uses_base_ref
    assert check.selected(ctx(Path("."), frozenset({"dbt_project/models/marts/crm/accounts.sql"})))
    assert not check.selected(ctx(Path("."), frozenset({"stacks/storage_stack.py"})))


def test_without_a_base_ref_there_is_nothing_to_diff_and_nothing_runs(tmp_path):
    check = DataDiff()
    assert check.run(ctx(tmp_path, None, base_ref=None)) == []
    assert "no --changed-since reference" in check.summary_note


def test_a_change_outside_dbt_project_cannot_change_data_and_runs_no_dbt(tmp_path):
    check = DataDiff()
    assert check.run(ctx(tmp_path, frozenset({"cicd/data/generate.py"}))) == []
    assert "no file under dbt_project/ changed" in check.summary_note


def test_without_the_head_dbt_build_left_it_is_a_tool_error_not_a_pass(tmp_path):
    with pytest.raises(ToolError, match=r"build/dbt/ci/target/manifest.json, build/dbt/ci/ci.duckdb missing"):
        DataDiff().run(ctx(tmp_path, frozenset({"dbt_project/models/marts/crm/accounts.sql"})))


@pytest.mark.slow
def test_a_case_change_that_moves_customers_fails_until_acknowledged_and_writes_the_reports(dbt_project_repo):
    root = dbt_project_repo
    [mutation] = [m for m in MUTATIONS if m.id == "mart-health-healthy-at-60"]
    mutation.apply(root / "dbt_project")
    assert build_duckdb(root).passed  # what dbt-build does first: the head, built and tested (it passes)
    changed = frozenset({f"dbt_project/{mutation.path}"})

    check = DataDiff()
    findings = check.run(ctx(root, changed))

    [failure] = [f for f in findings if f.severity == "error"]
    assert failure.rule == "data-diff:rows-changed"
    assert failure.file == "dbt_project/models/marts/crm/_crm__models.yml"
    assert failure.message.startswith("customer_health (enforced contract): ")
    report = json.loads((root / "build/gate/data-diff.json").read_text())
    [health] = report["models"]
    assert health["changed_rows"] > 0 and [c["column"] for c in health["columns"]] == ["health_status"]
    assert health["columns"][0]["transitions"][0]["base"] == "at_risk"
    assert (root / "build/gate/data-diff.md").read_text().startswith("### Data diff: 1 of 1 selected model(s) change")
    assert "<script" not in (root / "build/gate/data-diff.html").read_text()

    (root / "dbt_project/data_changes.yml").write_text(
        "acknowledgements:\n  - model: customer_health\n    change: rows-changed\n"
        "    reason: Customer success moved the healthy band to 60 (DP-77).\n    approved_by: jane.doe\n"
    )
    assert [f.severity for f in check.run(ctx(root, changed))] == ["warning"]  # informs, no longer fails
