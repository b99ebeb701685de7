"""The raw source tables, spelled once for both SQL dialects they are created in: DuckDB and the fakesnow emulator."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cicd.data.generate import generate
from cicd.dbt.emulator import load_sources, patched
from cicd.dbt.offline import column_type, load_duckdb, raw_tables

# What the two loaders declared before they shared one table (cicd/dbt/offline.py _duck_type and
# cicd/dbt/emulator.py snowflake_type): None is "no type, a ValueError".
TYPES = [
    (pa.string(), "varchar", "varchar"),
    (pa.decimal128(18, 2), "decimal(18, 2)", "number(18, 2)"),
    (pa.timestamp("us"), "timestamp", "timestamp_ntz"),
    (pa.timestamp("ms", tz="UTC"), "timestamp", "timestamp_ntz"),
    (pa.date32(), "date", "date"),
    (pa.bool_(), "boolean", "boolean"),
    (pa.int32(), "integer", "number(38, 0)"),
    (pa.int64(), "bigint", "number(38, 0)"),
    (pa.int16(), None, "number(38, 0)"),
    (pa.float64(), None, None),
]


@pytest.mark.parametrize(("arrow_type", "duckdb_type", "snowflake_type"), TYPES, ids=[str(t[0]) for t in TYPES])
def test_each_arrow_type_has_the_column_type_each_dialect_declared_before_the_merge(
    arrow_type, duckdb_type, snowflake_type
):
    for dialect, expected in (("duckdb", duckdb_type), ("snowflake", snowflake_type)):
        if expected is None:
            with pytest.raises(ValueError, match=f"no {'DuckDB' if dialect == 'duckdb' else 'Snowflake'} type"):
                column_type(arrow_type, dialect)
        else:
            assert column_type(arrow_type, dialect) == expected


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "scale-1-seed-42", scale=1, seed=42).out_dir


def test_duckdb_and_the_snowflake_emulator_load_every_raw_table_with_all_its_rows(data, tmp_path):
    expected = {f"{t.raw_schema}.{t.table}": pq.read_metadata(t.parquet).num_rows for t in raw_tables(data)}
    assert load_duckdb(tmp_path / "raw.duckdb", data) == expected
    with patched():
        assert load_sources(data) == expected


def test_a_missing_parquet_file_is_named_with_the_command_that_makes_it(data, tmp_path):
    for table in raw_tables(data):
        target = tmp_path / table.parquet.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(table.parquet.read_bytes())
    missing = tmp_path / raw_tables(data)[-1].parquet.relative_to(data)
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=f"{missing} is missing: run `cicd data generate` first"):
        load_duckdb(tmp_path / "raw.duckdb", tmp_path)
    with patched(), pytest.raises(FileNotFoundError, match="run `cicd data generate` first"):
        load_sources(tmp_path)
