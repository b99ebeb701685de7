"""The value diff of one model on DuckDB: by key, per column with masked examples, or as whole rows."""

import json
from pathlib import Path

import duckdb
import pytest

from cicd.dbt.datadiff.compare import compare, export
from cicd.dbt.datadiff.masking import Masking

KEY = "00" * 32
NO_PII = Masking([{}], "model.p.m")
EMAIL_IS_PII = Masking(
    [{"nodes": {"model.p.m": {"columns": {"email": {"name": "email", "meta": {"pii": True, "masking": "email"}}}}}}],
    "model.p.m",
)


def parquet(tmp_path: Path, name: str, select: str) -> Path:
    path = tmp_path / f"{name}.parquet"
    duckdb.sql(f"copy ({select}) to '{path}' (format parquet)")
    return path


@pytest.fixture
def orders(tmp_path):
    base = parquet(
        tmp_path,
        "base",
        "select * from (values ('O1', 'placed', 10.00::decimal(18,2), 'ana@acc1.example'),"
        " ('O2', 'placed', 20.00::decimal(18,2), 'jo@acc2.example'), ('O3', 'delivered', 5.00::decimal(18,2), null),"
        " ('O4', 'placed', 1.00::decimal(18,2), 'x@acc4.example')) as t(order_id, status, amount, email)",
    )
    head = parquet(
        tmp_path,
        "head",
        "select * from (values ('O1', 'cancelled', 10.00::decimal(18,2), 'ana@acc1.example'),"
        " ('O2', 'cancelled', 21.50::decimal(18,2), 'JO@acc2.example'), ('O3', 'delivered', 5.00::decimal(18,2), null),"
        " ('O5', 'placed', 7.00::decimal(18,2), 'new@acc5.example')) as t(order_id, status, amount, email)",
    )
    return base, head


def test_rows_gone_new_and_changed_by_key_with_per_column_counts_and_examples(orders):
    base, head = orders
    result = compare(base, head, key=["order_id"], masking=NO_PII, mask_key=KEY)
    assert (result.compared_by, result.rows_base, result.rows_head) == ("key", 4, 4)
    assert (result.only_base, result.only_head) == (1, 1)
    assert result.only_base_examples == [{"order_id": "O4"}] and result.only_head_examples == [{"order_id": "O5"}]
    assert result.changed_rows == 2
    by_column = {c.column: c for c in result.columns}
    assert {name: c.changed for name, c in by_column.items()} == {"status": 2, "amount": 1, "email": 1}
    status = by_column["status"]
    assert status.examples[0] == {"key": {"order_id": "O1"}, "base": "placed", "head": "cancelled"}
    assert status.transitions == [{"base": "placed", "head": "cancelled", "rows": 2}]
    assert by_column["amount"].mean_abs_delta == pytest.approx(1.5)
    assert result.has_changes and not result.schema.changed


def test_pii_values_are_masked_in_examples_and_never_shown_raw(orders):
    base, head = orders
    result = compare(base, head, key=["order_id"], masking=EMAIL_IS_PII, mask_key=KEY)
    [email] = [c for c in result.columns if c.column == "email"]
    assert email.masked and email.transitions == []  # no value pairs of a PII column
    shown = json.dumps([c.__dict__ for c in result.columns])
    assert "jo@acc2.example" not in shown and "JO@acc2.example" not in shown
    # e-mails mask case-insensitively, as the masked copies do: a case-only change looks unchanged once masked
    assert email.examples[0]["base"] == email.examples[0]["head"]
    assert email.examples[0]["base"].endswith("@masked.invalid")


def test_a_schema_change_is_reported_and_values_compare_across_types(tmp_path):
    base = parquet(tmp_path, "b", "select 'A' as id, 1 as n, 'x' as gone")
    head = parquet(tmp_path, "h", "select 'A' as id, '1' as n, 'y' as added")
    result = compare(base, head, key=["id"], masking=NO_PII, mask_key=KEY)
    assert result.schema.added == [("added", "VARCHAR")] and result.schema.removed == [("gone", "VARCHAR")]
    assert result.schema.retyped == [("n", "INTEGER", "VARCHAR")]
    assert result.changed_rows == 0  # 1 and '1' are the same value; the type change is the schema diff's


def test_a_key_that_repeats_falls_back_to_whole_rows_and_says_so(tmp_path):
    base = parquet(tmp_path, "b", "select * from (values ('A', 1), ('B', 2)) as t(id, n)")
    head = parquet(tmp_path, "h", "select * from (values ('A', 1), ('B', 2), ('B', 3)) as t(id, n)")
    result = compare(base, head, key=["id"], masking=NO_PII, mask_key=KEY)
    assert result.compared_by == "whole rows" and result.duplicate_keys == {"head": 2}
    assert (result.only_base, result.only_head) == (0, 1)
    assert "not unique" in result.note


def test_a_model_without_key_is_compared_as_a_multiset_of_rows(tmp_path):
    base = parquet(tmp_path, "b", "select * from (values ('A', 1), ('A', 1), ('B', 2)) as t(id, n)")
    head = parquet(tmp_path, "h", "select * from (values ('A', 1), ('B', 2), ('C', 3)) as t(id, n)")
    result = compare(base, head, key=[], masking=NO_PII, mask_key=KEY)
    assert (result.only_base, result.only_head) == (1, 1)  # one duplicate row gone, one row new
    assert result.only_head_examples == [{"id": "C", "n": 3}]
    assert "no primary key" in result.note


def test_without_a_key_the_columns_whose_values_shifted_say_where_the_change_is(tmp_path):
    base = parquet(
        tmp_path,
        "b",
        "select * from (values ('O1', true, 10), ('O2', true, 20), ('O3', false, 30)) as t(id, closed, amount)",
    )
    head = parquet(
        tmp_path,
        "h",
        "select * from (values ('O1', true, 10), ('O2', false, 20), ('O3', false, 30)) as t(id, closed, amount)",
    )
    result = compare(base, head, key=[], masking=NO_PII, mask_key=KEY)
    assert result.shifts == [{"column": "closed", "items": [{"what": False, "base": 1, "head": 2},
                                                             {"what": True, "base": 2, "head": 1}]}]  # fmt: skip


def test_a_model_only_one_side_has_counts_all_its_rows_without_a_schema_diff(tmp_path):
    head = parquet(tmp_path, "h", "select * from (values ('A', 1), ('B', 2)) as t(id, n)")
    result = compare(None, head, key=["id"], masking=NO_PII, mask_key=KEY)
    assert (result.rows_base, result.rows_head, result.only_head) == (None, 2, 2)
    assert result.only_head_examples == [{"id": "A"}, {"id": "B"}] and not result.schema.changed


def test_export_writes_each_relation_and_names_the_one_it_cannot_read(tmp_path):
    database = tmp_path / "ci.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute("create schema ci_marts; create table ci_marts.orders as select 'O1' as order_id")
    exported = export(database, {"m.orders": '"ci"."ci_marts"."orders"', "m.gone": '"ci"."ci_marts"."gone"'}, tmp_path)
    assert exported["m.orders"] == tmp_path / "m.orders.parquet" and exported["m.orders"].exists()
    assert isinstance(exported["m.gone"], str) and '"ci"."ci_marts"."gone"' in exported["m.gone"]
