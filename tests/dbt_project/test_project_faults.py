"""The gate's dbt build catches bad models: duplicate keys (by tests, and by DuckDB's enforced primary key),
and a contract violation (at build).

One dbt build on a copy of the project with three planted faults; each test asserts one of them is reported
with the file to fix, the rule and the fix.
"""

import shutil
from pathlib import Path

import pytest

from cicd.dbt.build import build_duckdb

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broken_outcome(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    shutil.copytree(ROOT / "dbt_project", root / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    tickets = root / "dbt_project/models/intermediate/operations/int_support_tickets_pivoted.sql"
    # Fault 1: a wrong grain (one row per ticket and event type): ticket_id is no longer unique.
    tickets.write_text(tickets.read_text().replace("group by ticket_id", "group by ticket_id, event_type"))
    accounts = root / "dbt_project/models/marts/crm/accounts.sql"
    # Fault 2: a join condition that multiplies rows (every account also matches every EMEA country).
    accounts.write_text(
        accounts.read_text().replace(
            "on accounts.country_code = countries.country_code",
            "on accounts.country_code = countries.country_code or countries.region = 'EMEA'",
        )
    )
    products = root / "dbt_project/models/marts/product/products.sql"
    # Fault 3: a column's type no longer matches the enforced contract (boolean -> varchar).
    products.write_text(products.read_text().replace("    is_active,", "    cast(is_active as varchar) as is_active,"))
    return build_duckdb(root, workspace_name="broken")


@pytest.mark.slow
def test_duplicate_key_is_caught_by_the_unique_test(broken_outcome):
    assert broken_outcome.returncode == 1
    unique = [f for f in broken_outcome.findings if f.rule == "dbt:test-failed" and "unique" in f.message]
    subjects = {f.message.split(" on ", 1)[1].split(" failed")[0] for f in unique}
    assert "int_support_tickets_pivoted.ticket_id" in subjects
    finding = next(f for f in unique if "int_support_tickets_pivoted.ticket_id" in f.message)
    assert finding.file == "dbt_project/models/intermediate/operations/_int_operations__models.yml"
    assert "failing row(s)" in finding.message and "dbt show --select unique_int_support_tickets" in finding.fix


@pytest.mark.slow
def test_duplicate_key_in_a_mart_fails_the_build_on_the_enforced_primary_key(broken_outcome):
    # DuckDB enforces the contract's primary_key constraint; Snowflake does not, where the unique test
    # (the same one) is the guard.
    [finding] = [f for f in broken_outcome.findings if f.file == "dbt_project/models/marts/crm/accounts.sql"]
    assert finding.rule == "dbt:model-error"
    assert "duplicate key" in finding.message.lower()


@pytest.mark.slow
def test_contract_violation_is_caught_at_build(broken_outcome):
    [finding] = [f for f in broken_outcome.findings if f.rule == "dbt:contract-violation"]
    assert finding.file == "dbt_project/models/marts/product/products.sql"
    assert "is_active: boolean in the contract" in finding.message
    assert "declared columns and data types" in finding.fix


@pytest.mark.slow
def test_the_unbroken_project_builds_clean(tmp_path):
    shutil.copytree(ROOT / "dbt_project", tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    outcome = build_duckdb(tmp_path, workspace_name="clean")
    assert outcome.passed, [f.render() for f in outcome.findings]
    assert outcome.nodes > 90  # seeds, models, data tests and unit tests


@pytest.mark.slow
@pytest.mark.parametrize("selector", ["crm_accounts", "product_catalog", "operations_events", "customer_health"])
def test_each_pipeline_selector_builds_alone_on_an_empty_database(selector):
    """What a pipeline's DAG runs: its selector only, with no other model built before (as in a WAP work schema)."""
    outcome = build_duckdb(ROOT, selector=selector, workspace_name=f"selector-{selector}")
    assert outcome.passed, [f.render() for f in outcome.findings]
    assert outcome.nodes > 5
