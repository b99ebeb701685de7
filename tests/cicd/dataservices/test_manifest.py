"""Reading the compiled dbt manifest: models, opt-in meta, column tags and meta from both places."""

import json
import os
import shutil

import pytest

from cicd.dataservices.manifest import ManifestError, load, locate_or_compile
from cicd.gate.model import ToolError

from .conftest import FIXTURE_DBT_DIR, FIXTURES, HEALTH


def test_reads_models_columns_and_the_yaml_that_documents_them():
    manifest = load(FIXTURES / "manifest.json", dbt_dir=FIXTURE_DBT_DIR)
    assert manifest.project == "dataservices_fixture"
    assert manifest.schema_version.endswith("/v12.json")
    health = next(m for m in manifest.models if m.unique_id == HEALTH)
    assert health.file == f"{FIXTURE_DBT_DIR}/models/marts/crm/_crm__models.yml"
    assert health.sql_file == f"{FIXTURE_DBT_DIR}/models/marts/crm/customer_health.sql"
    assert health.contract_enforced
    assert (health.schema, health.alias) == ("main", "customer_health")
    email = health.columns["contact_email"]
    assert email.tags == frozenset({"pii"}) and email.meta == {"pii": True}  # from the column's config
    assert health.columns["health_score"].data_type == "double"
    assert [m.name for m in manifest.declared()] == ["customer_health", "product_catalog"]


def test_an_unreadable_manifest_names_the_file(tmp_path):
    broken = tmp_path / "manifest.json"
    broken.write_text("{not json")
    with pytest.raises(ManifestError, match=f"cannot read the dbt manifest {broken}"):
        load(broken)


def test_no_dbt_project_is_reported(tmp_path):
    with pytest.raises(ManifestError, match=r"dbt_project/dbt_project\.yml not found"):
        locate_or_compile(tmp_path)


@pytest.mark.slow
def test_compiles_once_and_reuses_the_manifest_until_a_model_changes(tmp_path):
    shutil.copytree(FIXTURES / "dbt_project", tmp_path / "dbt_project")
    first = locate_or_compile(tmp_path, target="duckdb")
    stamp = first.stat().st_mtime_ns
    assert locate_or_compile(tmp_path, target="duckdb").stat().st_mtime_ns == stamp  # no second parse

    yml = tmp_path / "dbt_project" / "models" / "marts" / "crm" / "_crm__models.yml"
    yml.write_text(yml.read_text().replace("Identifier of the CRM account.", "The CRM account's id."))
    future = first.stat().st_mtime + 5
    os.utime(yml, (future, future))
    again = locate_or_compile(tmp_path, target="duckdb")
    node = json.loads(again.read_text())["nodes"][HEALTH]
    assert node["columns"]["account_id"]["description"] == "The CRM account's id."
    assert not (tmp_path / "dbt_project" / "target").exists()  # dbt wrote under build/, not the sources


@pytest.mark.slow
def test_a_broken_dbt_project_is_a_tool_error_with_dbt_s_message(tmp_path):
    shutil.copytree(FIXTURES / "dbt_project", tmp_path / "dbt_project")
    (tmp_path / "dbt_project" / "models" / "marts" / "crm" / "_crm__models.yml").write_text("models: [oops")
    with pytest.raises(ToolError, match="dbt parse failed"):
        locate_or_compile(tmp_path, target="duckdb")


@pytest.mark.slow
def test_the_committed_fixture_manifest_is_what_dbt_parse_writes(tmp_path):
    """The fixture manifest must not drift from real dbt output (regenerate with trim_manifest.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("trim_manifest", FIXTURES / "trim_manifest.py")
    trim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trim)
    shutil.copytree(FIXTURES / "dbt_project", tmp_path / "dbt_project")
    parsed = json.loads(locate_or_compile(tmp_path, target="duckdb").read_text())
    committed = json.loads((FIXTURES / "manifest.json").read_text())
    assert trim.trim(parsed)["nodes"] == committed["nodes"]
