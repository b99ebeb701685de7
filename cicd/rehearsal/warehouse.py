"""The embedded warehouse of the rehearsal: one DuckDB file with the synthetic raw data, and the marts' row hashes.

The raw schemas hold the deterministic synthetic data (`cicd data generate`, scale 1), loaded the way
the gate loads it; write-audit-publish (the `embedded` dbt target) builds and publishes the marts into the same
file. `marts()` fingerprints every table of the published schema by its sorted rows, so "the marts are A's
again" is a comparison of digests, not of row counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cicd.engines.jars import ROOT

DATA = ROOT / "build" / "data" / "scale-1-seed-42"
SCHEMA = "analytics"  # the embedded target's schema (profiles.yml)
PUBLISHED = f"{SCHEMA}_marts"


@dataclass(frozen=True)
class Table:
    rows: int
    digest: str


def prepare(path: Path) -> dict[str, int]:
    from cicd.data.generate import ensure
    from cicd.dbt.offline import load_duckdb

    return load_duckdb(path, ensure(DATA, scale=1, seed=42))


def marts(path: Path, schema: str = PUBLISHED) -> dict[str, Table]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
            ).fetchall()
        ]
        tables = {}
        for name in names:
            rows = conn.execute(f'select * from "{schema}"."{name}" order by all').fetchall()  # noqa: S608
            digest = hashlib.sha256()
            for row in rows:
                digest.update(repr(row).encode() + b"\n")
            tables[name] = Table(len(rows), digest.hexdigest())
    return tables
