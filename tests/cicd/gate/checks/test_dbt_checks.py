"""Wiring of the dbt gate checks; the heavy paths (dbt on DuckDB and fakesnow) are marked slow."""

import json
import shutil
from pathlib import Path

import pytest

from cicd.gate.checks.dbt_build import DbtBuild
from cicd.gate.checks.dbt_schema_compat import DbtSchemaCompat
from cicd.gate.checks.dbt_snowflake import DbtSnowflake
from cicd.gate.model import GateContext, ToolError
from cicd.gate.registry import all_checks

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "tests" / "fixtures" / "dbt" / "compat"


def ctx(root: Path, changed=None) -> GateContext:
    return GateContext(root=root, out_dir=root / "build" / "gate", changed_files=changed)


def test_checks_are_registered_with_their_dependencies():
    checks = {c.name: c for c in all_checks()}
    assert {"sql-lint", "dbt-build", "dbt-snowflake", "dbt-schema-compat"} <= set(checks)
    assert checks["dbt-snowflake"].needs == ("dbt-build",)
    assert checks["dbt-schema-compat"].needs == ("dbt-build",)


@pytest.mark.parametrize("check", [DbtBuild(), DbtSnowflake(), DbtSchemaCompat()])
def test_selected_by_dbt_project_generator_and_helpers_changes(check, tmp_path):
    assert check.selected(ctx(tmp_path, frozenset({"dbt_project/models/marts/crm/accounts.sql"})))
    assert check.selected(ctx(tmp_path, frozenset({"cicd/data/generate.py"})))
    assert not check.selected(ctx(tmp_path, frozenset({"stacks/storage_stack.py"})))


def _workspace_manifest(root: Path, fixture: str) -> None:
    target = root / "build" / "dbt" / "ci" / "target"
    target.mkdir(parents=True)
    shutil.copy(FIXTURES / f"{fixture}.json", target / "manifest.json")


def test_compat_check_fails_a_breaking_change_against_the_committed_baseline(tmp_path):
    (tmp_path / "dbt_project" / "baseline").mkdir(parents=True)
    shutil.copy(FIXTURES / "baseline.json", tmp_path / "dbt_project" / "baseline" / "manifest.json")
    _workspace_manifest(tmp_path, "column_removed")
    check = DbtSchemaCompat()
    [finding] = check.run(ctx(tmp_path))
    assert finding.rule == "dbt-compat:column-removed"
    report = json.loads((tmp_path / "build/gate/dbt-schema-compat.json").read_text())
    assert report["baseline"] == "dbt_project/baseline/manifest.json"
    assert "1 breaking" in check.summary_note


def test_compat_check_prefers_the_fetched_release_baseline(tmp_path):
    (tmp_path / "dbt_project" / "baseline").mkdir(parents=True)
    shutil.copy(FIXTURES / "baseline.json", tmp_path / "dbt_project" / "baseline" / "manifest.json")
    (tmp_path / "build" / "dbt" / "baseline").mkdir(parents=True)
    # The last release already removed the column: relative to it, nothing breaks.
    shutil.copy(FIXTURES / "column_removed.json", tmp_path / "build" / "dbt" / "baseline" / "manifest.json")
    _workspace_manifest(tmp_path, "column_removed")
    assert DbtSchemaCompat().run(ctx(tmp_path)) == []


def test_compat_without_a_manifest_is_a_tool_error_not_a_pass(tmp_path):
    with pytest.raises(ToolError, match="dbt-build did not write a manifest"):
        DbtSchemaCompat().run(ctx(tmp_path))


def test_compat_without_a_baseline_says_how_to_create_one(tmp_path):
    _workspace_manifest(tmp_path, "baseline")
    [finding] = DbtSchemaCompat().run(ctx(tmp_path))
    assert finding.rule == "dbt-compat:no-baseline"
    assert finding.file == "dbt_project/baseline/manifest.json"
    assert "cicd dbt baseline" in finding.fix


@pytest.mark.slow
def test_dbt_build_and_snowflake_checks_pass_on_the_project(repo_root):
    gate = ctx(repo_root)
    build = DbtBuild()
    assert build.run(gate) == []
    assert "nodes" in build.summary_note
    snowflake = DbtSnowflake()
    assert snowflake.run(gate) == []
    assert DbtSchemaCompat().run(gate) == []
