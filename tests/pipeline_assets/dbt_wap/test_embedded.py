"""Write-audit-publish on DuckDB: the plan's Snowflake statements, with the effect Snowflake gives them."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipeline_assets.dbt_wap import embedded, wap
from pipeline_assets.dbt_wap.embedded import EmbeddedWarehouseError, duckdb_executor


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "analytics.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema analytics_marts")
        conn.execute("create table analytics_marts.orders as select range as order_id from range(10)")
    return path


def plan(release_id: str, selector: str = "operations_events") -> wap.WapPlan:
    return wap.WapPlan(database="analytics", target_schema="analytics", release_id=release_id, selector=selector)


def orders(path, schema: str = "analytics_marts") -> list[int]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return [row[0] for row in conn.execute(f"select order_id from {schema}.orders order by 1").fetchall()]


def build_into(path, p: wap.WapPlan, rows: int) -> int:
    """What dbt does during the audit: rebuild the mart inside the release schema (here: `rows` orders)."""
    with duckdb.connect(str(path)) as conn:
        schema = p.release.split(".")[1]
        conn.execute(f"create or replace table {schema}.orders as select range as order_id from range({rows})")
    return 0


def test_a_publish_swaps_the_audited_schema_in_and_keeps_the_previous_one(warehouse):
    execute = duckdb_executor(warehouse)
    b = plan("r-b")
    result = wap.run(b, executor=execute, build=lambda: build_into(warehouse, b, 4))
    assert result.published
    assert orders(warehouse) == [0, 1, 2, 3]
    assert orders(warehouse, "analytics_marts__previous") == list(range(10))
    assert execute(b.schema_comment_sql(b.published)) == [("published release r-b (operations_events)",)]
    assert execute(b.schema_exists_sql(b.release)) == [(0,)]


def test_the_swap_back_restores_the_previous_release_and_its_label(warehouse):
    execute = duckdb_executor(warehouse)
    a, b = plan("r-a"), plan("r-b")
    wap.run(a, executor=execute, build=lambda: build_into(warehouse, a, 10))
    wap.run(b, executor=execute, build=lambda: build_into(warehouse, b, 4))
    wap.rollback(b, executor=execute, restores="r-a")
    assert orders(warehouse) == list(range(10))
    assert orders(warehouse, "analytics_marts__previous") == [0, 1, 2, 3]


def test_the_swap_back_restores_the_release_before_however_often_the_bad_one_published(warehouse):
    # Two pipelines of B (or a rerun) publish: the previous schema still holds A's last publish.
    execute = duckdb_executor(warehouse)
    a, b_first, b_second = plan("r-a"), plan("r-b", "crm_accounts"), plan("r-b")
    wap.run(a, executor=execute, build=lambda: build_into(warehouse, a, 10))
    wap.run(b_first, executor=execute, build=lambda: build_into(warehouse, b_first, 6))
    wap.run(b_second, executor=execute, build=lambda: build_into(warehouse, b_second, 4))
    assert orders(warehouse, "analytics_marts__previous") == list(range(10))
    assert execute(b_second.schema_exists_sql(b_first.release)) == [(0,)]  # B's own earlier publish is gone
    wap.rollback(b_second, executor=execute, restores="r-a")
    assert orders(warehouse) == list(range(10))


def test_a_swap_back_that_would_not_restore_the_release_is_refused(warehouse):
    # Two releases since A: the previous schema holds B's publish, not A's.
    execute = duckdb_executor(warehouse)
    a, b, c = plan("r-a"), plan("r-b"), plan("r-c")
    wap.run(a, executor=execute, build=lambda: build_into(warehouse, a, 10))
    wap.run(b, executor=execute, build=lambda: build_into(warehouse, b, 6))
    wap.run(c, executor=execute, build=lambda: build_into(warehouse, c, 4))
    with pytest.raises(wap.WapError, match=r"not the last publish of r-a.*Time Travel"):
        wap.rollback(c, executor=execute, restores="r-a")
    assert orders(warehouse) == [0, 1, 2, 3]  # nothing moved


def test_a_failing_statement_changes_nothing(warehouse):
    execute = duckdb_executor(warehouse)
    with pytest.raises(EmbeddedWarehouseError, match="does not exist"):
        execute("alter schema analytics.analytics_marts swap with analytics.analytics_marts__missing")
    assert orders(warehouse) == list(range(10))


def test_views_cannot_move_between_schemas(warehouse):
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create view analytics_marts.orders_view as select * from analytics_marts.orders")
    with pytest.raises(EmbeddedWarehouseError, match="views"):
        duckdb_executor(warehouse)("create or replace schema analytics.r clone analytics.analytics_marts")


def test_grants_are_recorded_but_duckdb_has_no_roles(warehouse):
    assert duckdb_executor(warehouse)("grant usage on schema analytics.analytics_marts to role bi") == []


def test_the_database_is_the_file_name(tmp_path):
    assert embedded.database_of(tmp_path / "warehouse.duckdb") == "warehouse"


def test_row_counts_of_the_release_schema_replace_what_dbt_reported(warehouse, tmp_path):
    execute = duckdb_executor(warehouse)
    b = plan("r-b")
    execute(b.write_statements(True)[0])
    build_into(warehouse, b, 4)
    schema = b.release.split(".")[1]
    results = tmp_path / "run_results.json"
    mart = {"unique_id": "model.p.orders", "status": "success", "adapter_response": {"_message": "OK"}}
    mart["relation_name"] = f'"analytics"."{schema}"."orders"'
    work = {"unique_id": "model.p.stg", "status": "success", "adapter_response": {}}
    work["relation_name"] = '"analytics"."work"."stg"'
    test = {"unique_id": "test.p.unique", "status": "pass", "adapter_response": {}}
    results.write_text(json.dumps({"results": [mart, work, test]}))
    assert wap.record_row_counts(execute, b, results) == {"model.p.orders": 4}
    recorded = json.loads(results.read_text())["results"]
    assert recorded[0]["adapter_response"] == {"_message": "OK", "rows_affected": 4, "dbt_rows_affected": None}
    assert "rows_affected" not in recorded[1]["adapter_response"]  # not in the release schema: not a mart
