"""dbt on the Snowflake emulator: the real dbt-snowflake adapter, its SQL executed by fakesnow.

Run as a module so the patch, the source load and dbt share one process (fakesnow patches the connector
in-process and keeps its databases in memory):

    python -m cicd.dbt.emulator --data build/data/scale-1-seed-42 -- build --target fakesnow --threads 1

The exit code is dbt's. Snowflake-only SQL errors (functions, casts, DDL the adapter emits) surface here
without an account; what the emulator cannot check is listed in docs/dbt.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cicd.dbt.offline import raw_tables

DATABASE = "ANALYTICS_CI"
OFFLINE_COMPILE_FAILED = 3


@contextmanager
def patched(db_path: Path | None = None) -> Iterator[None]:
    import fakesnow

    with fakesnow.patch(db_path=str(db_path) if db_path else None):
        yield


def connect(database: str = DATABASE, schema: str | None = None) -> Any:
    """A connector connection; inside `patched()` it is fakesnow's."""
    import snowflake.connector

    kwargs: dict[str, str] = {"user": "fake", "password": "fake", "account": "fakesnow", "database": database}
    if schema:
        kwargs["schema"] = schema
    return snowflake.connector.connect(**kwargs)


def load_sources(data_dir: Path, database: str = DATABASE) -> dict[str, int]:
    """Create the raw schemas and tables with Snowflake DDL and load the synthetic Parquet into them."""
    import pyarrow.parquet as pq
    from snowflake.connector.pandas_tools import write_pandas

    counts: dict[str, int] = {}
    conn = connect(database)
    try:
        cur = conn.cursor()
        for raw in raw_tables(data_dir):
            name = f"{database}.{raw.raw_schema}.{raw.table}"
            cur.execute(f"create schema if not exists {database}.{raw.raw_schema}")
            cur.execute(f"create or replace table {name} ({raw.columns('snowflake')})")
            frame = pq.read_table(raw.parquet).to_pandas()
            frame.columns = [c.upper() for c in frame.columns]
            write_pandas(conn, frame, raw.table.upper(), database=database, schema=raw.raw_schema.upper())
            cur.execute(f"select count(*) from {name}")  # noqa: S608 (fixed identifiers)
            counts[f"{raw.raw_schema}.{raw.table}"] = int(cur.fetchone()[0])
    finally:
        conn.close()
    return counts


def run_dbt_in_process(args: Sequence[str]) -> int:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(list(args))
    if result.exception is not None:
        print(f"dbt raised: {result.exception}", file=sys.stderr)
        return 2
    return 0 if result.success else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicd.dbt.emulator", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="generated data directory to load as sources")
    parser.add_argument("--db-path", type=Path, help="keep fakesnow's databases in files here (default: memory)")
    parser.add_argument("--database", default=DATABASE, help="Snowflake database the fakesnow target uses")
    parser.add_argument(
        "--offline-compile",
        metavar="TARGET",
        help="first compile for this real Snowflake target without connecting (exit 3 when that fails)",
    )
    parser.add_argument("--offline-target-path", type=Path, help="dbt target path for the offline compile")
    parser.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments for dbt, after --")
    args = parser.parse_args(argv)
    dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
    if args.offline_compile:
        # `compile` without a connection: no cache population, no introspective queries. It proves the
        # production profile renders and every model compiles with the Snowflake adapter's macros.
        compile_args = ["compile", "--target", args.offline_compile, "--no-populate-cache", "--no-introspect"]
        if args.offline_target_path:
            compile_args += ["--target-path", str(args.offline_target_path)]
        if run_dbt_in_process(compile_args) != 0:
            return OFFLINE_COMPILE_FAILED
        print(f"offline compile for target {args.offline_compile} ok", flush=True)
    with patched(args.db_path):
        counts = load_sources(args.data, args.database)
        print(f"loaded {sum(counts.values())} rows into {len(counts)} source tables on the emulator", flush=True)
        return run_dbt_in_process(dbt_args)


if __name__ == "__main__":
    sys.exit(main())
