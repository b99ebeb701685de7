"""Running dbt the same way everywhere: the gate, the CLI, the benchmark and the tests.

dbt writes its target/ and logs/ under build/ (never into the source tree the release bundle copies), reads
profiles from dbt_project/, and never phones home. Sources are loaded from the synthetic Parquet files into
the raw schemas the dbt sources declare, so the models read exactly what they would read in Snowflake.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = "dbt_project"
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


@dataclass(frozen=True)
class DbtWorkspace:
    """Where one kind of dbt run keeps its state: build/dbt/<name>/{target,logs,*.duckdb}."""

    root: Path
    name: str

    @property
    def project_dir(self) -> Path:
        return self.root / PROJECT_DIR

    @property
    def work_dir(self) -> Path:
        return self.root / "build" / "dbt" / self.name

    @property
    def target_path(self) -> Path:
        return self.work_dir / "target"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "logs"

    @property
    def duckdb_path(self) -> Path:
        return self.work_dir / f"{self.name}.duckdb"

    @property
    def manifest_path(self) -> Path:
        return self.target_path / "manifest.json"

    @property
    def run_results_path(self) -> Path:
        return self.target_path / "run_results.json"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return {
            "DBT_PROFILES_DIR": str(self.project_dir),
            "DBT_PROJECT_DIR": str(self.project_dir),
            "DBT_TARGET_PATH": str(self.target_path),
            "DBT_LOG_PATH": str(self.log_path),
            "DBT_DUCKDB_PATH": str(self.duckdb_path),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_USE_COLORS": "false",
            "DBT_PRINTER_WIDTH": "120",
            **(extra or {}),
        }


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError("dbt is not installed in this environment; run `make venv`")
    return found


def run_dbt(
    workspace: DbtWorkspace, args: list[str], *, extra_env: dict[str, str] | None = None, timeout_s: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI in its own process (the gate and the CLI; callers map the exit code)."""
    env = {**os.environ, **workspace.env(extra_env)}
    return subprocess.run(
        [dbt_executable(), *args],
        cwd=workspace.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


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
    # Imported here: MWAA workers run write-audit-publish through this module and have no synthetic data.
    from cicd.data.schemas import RAW_SCHEMAS, SOURCES

    # Identifiers below come from the fixed SOURCES / RAW_SCHEMAS mappings, never from input: S608 does not apply.
    with duckdb.connect(str(db_path)) as conn:
        for (source, table), schema in SOURCES.items():
            raw_schema = RAW_SCHEMAS[source]
            parquet = data_dir / source / f"{table}.parquet"
            if not parquet.exists():
                raise FileNotFoundError(f"{parquet} is missing: run `python -m cicd data generate` first")
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
