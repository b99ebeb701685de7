"""dbt without Snowflake, as the gate and laptops run it: the offline profile placeholders, the
synthetic data's fixed "now", and the raw sources loaded into DuckDB from the synthetic Parquet files
(into the raw schemas the dbt sources declare, so the models read what they would read in Snowflake).
"""

from __future__ import annotations

import json
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


def _duck_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type):
        return "varchar"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_int32(arrow_type):
        return "integer"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    raise ValueError(f"no DuckDB type for {arrow_type}")


def load_duckdb(db_path: Path, data_dir: Path) -> dict[str, int]:
    """(Re)create the raw source tables in a DuckDB file from generated Parquet; returns rows per table."""
    import duckdb

    db_path.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    # Imported here: the schemas import pyarrow, which commands that only need the constants above never load.
    from cicd.data.schemas import RAW_SCHEMAS, SOURCES

    # Identifiers below come from the fixed SOURCES / RAW_SCHEMAS mappings, never from input: S608 does not apply.
    with duckdb.connect(str(db_path)) as conn:
        for (source, table), schema in SOURCES.items():
            raw_schema = RAW_SCHEMAS[source]
            parquet = data_dir / source / f"{table}.parquet"
            if not parquet.exists():
                raise FileNotFoundError(f"{parquet} is missing: run `cicd data generate` first")
            columns = ", ".join(f'"{f.name}" {_duck_type(f.type)}' for f in schema)
            conn.execute(f"create schema if not exists {raw_schema}")
            conn.execute(f"create or replace table {raw_schema}.{table} ({columns})")
            conn.execute(f"insert into {raw_schema}.{table} select * from read_parquet(?)", [str(parquet)])  # noqa: S608
            row = conn.execute(f"select count(*) from {raw_schema}.{table}").fetchone()  # noqa: S608
            counts[f"{raw_schema}.{table}"] = int(row[0]) if row else 0
    return counts


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
