"""dbt without Snowflake, as the gate and laptops run it: the offline profile placeholders, the
synthetic data's fixed "now", and the raw sources loaded into DuckDB from the synthetic Parquet files
(into the raw schemas the dbt sources declare, so the models read what they would read in Snowflake).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The synthetic data's fixed "now" (cicd.data.generate.AS_OF): windowed signals are measured from it in CI.
CI_AS_OF = "2026-01-01 00:00:00"

# Placeholders that let dbt render the Snowflake profiles offline. `dbt parse` and `dbt compile
# --no-populate-cache` never open a connection, so none of these is ever sent anywhere.
OFFLINE_SNOWFLAKE_ENV = {
    "SNOWFLAKE_ACCOUNT": "offline-parse",
    "SNOWFLAKE_USER": "offline-parse",
    "SNOWFLAKE_PRIVATE_KEY": "offline-parse",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "offline-parse",
    "SNOWFLAKE_ROLE": "offline-parse",
    "SNOWFLAKE_WAREHOUSE": "offline-parse",
    "SNOWFLAKE_DATABASE": "ANALYTICS",
}


# Each source column's type in the two SQL dialects the raw tables are created in: DuckDB (the gate's
# and laptops' dbt) and Snowflake (the fakesnow emulator). The first matching row wins; None means the
# dialect has no type for it here.
_COLUMN_TYPES: tuple[tuple[str, str | None, str], ...] = (
    ("is_string", "varchar", "varchar"),
    ("is_decimal", "decimal({precision}, {scale})", "number({precision}, {scale})"),
    ("is_timestamp", "timestamp", "timestamp_ntz"),
    ("is_date", "date", "date"),
    ("is_boolean", "boolean", "boolean"),
    ("is_int32", "integer", "number(38, 0)"),
    ("is_int64", "bigint", "number(38, 0)"),
    ("is_integer", None, "number(38, 0)"),
)
DIALECTS = ("duckdb", "snowflake")


def column_type(arrow_type: Any, dialect: str) -> str:
    """The SQL type a raw table declares for a Parquet column of this Arrow type."""
    import pyarrow as pa

    for predicate, duckdb_type, snowflake_type in _COLUMN_TYPES:
        if getattr(pa.types, predicate)(arrow_type):
            spelled = {"duckdb": duckdb_type, "snowflake": snowflake_type}[dialect]
            if spelled is None:
                break
            return spelled.format(precision=getattr(arrow_type, "precision", 0), scale=getattr(arrow_type, "scale", 0))
    raise ValueError(f"no {'DuckDB' if dialect == 'duckdb' else 'Snowflake'} type for {arrow_type}")


@dataclass(frozen=True)
class RawTable:
    """One raw source table as the synthetic data holds it, in the raw schema its dbt source declares."""

    raw_schema: str
    table: str
    parquet: Path
    schema: Any  # pyarrow.Schema

    def columns(self, dialect: str, *, quote: bool = False) -> str:
        q = '"' if quote else ""
        return ", ".join(f"{q}{f.name}{q} {column_type(f.type, dialect)}" for f in self.schema)


def raw_tables(data_dir: Path) -> list[RawTable]:
    """Every raw source table with its Parquet file under `data_dir`; a missing file stops before any load."""
    # Imported here: the schemas import pyarrow, which commands that only need the constants above never load.
    from cicd.data.schemas import RAW_SCHEMAS, SOURCES

    tables = []
    for (source, table), schema in SOURCES.items():
        parquet = data_dir / source / f"{table}.parquet"
        if not parquet.exists():
            raise FileNotFoundError(f"{parquet} is missing: run `cicd data generate` first")
        tables.append(RawTable(RAW_SCHEMAS[source], table, parquet, schema))
    return tables


def load_duckdb(db_path: Path, data_dir: Path) -> dict[str, int]:
    """(Re)create the raw source tables in a DuckDB file from generated Parquet; returns rows per table."""
    import duckdb

    db_path.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    # Identifiers below come from the fixed SOURCES / RAW_SCHEMAS mappings, never from input: S608 does not apply.
    with duckdb.connect(str(db_path)) as conn:
        for raw in raw_tables(data_dir):
            name = f"{raw.raw_schema}.{raw.table}"
            conn.execute(f"create schema if not exists {raw.raw_schema}")
            conn.execute(f"create or replace table {name} ({raw.columns('duckdb', quote=True)})")
            conn.execute(f"insert into {name} select * from read_parquet(?)", [str(raw.parquet)])  # noqa: S608
            row = conn.execute(f"select count(*) from {name}").fetchone()  # noqa: S608
            counts[name] = int(row[0]) if row else 0
    return counts


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
