"""Statically masked copies of the raw sources for staging, produced inside production.

Columns tagged `meta: {pii: true}` on the dbt sources are replaced by deterministic tokens: a SHA-256 of a
secret key and the value, so the same value always gives the same token (joins and distinct counts keep
working) and nothing can be reversed without the key, which never leaves production (it lives in a table
only the masking role reads). `meta.masking` picks the shape:

- `token` (default): `tok_` + 24 hex characters;
- `email`: a token local part at `masked.invalid`, case-insensitive (so lower-cased joins still match);
- `redact`: a constant for non-null values (the column is kept for shape, its content is not needed);
- `null`: always null.

Fail-closed: a table with a column the dbt source does not declare is not copied (the undeclared column
could be PII nobody tagged), a missing or duplicated key stops the job, and row counts are compared after
each copy. Staging then reads the masked database (DBT_RAW_DATABASE) through a share.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Executor = Callable[[str], list[tuple[Any, ...]]]
STRATEGIES = ("token", "email", "redact", "null")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class MaskError(Exception):
    pass


def _ident(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise MaskError(f"{what} {value!r} is not a plain Snowflake identifier")
    return value.lower()


@dataclass(frozen=True)
class MaskedColumn:
    name: str
    strategy: str | None  # None: not PII, copied as is


@dataclass(frozen=True)
class MaskedTable:
    source: str
    schema: str
    table: str
    columns: tuple[MaskedColumn, ...]

    @property
    def pii(self) -> list[MaskedColumn]:
        return [c for c in self.columns if c.strategy]


def _meta(column: dict[str, Any]) -> dict[str, Any]:
    meta = dict(column.get("meta") or {})
    meta.update((column.get("config") or {}).get("meta") or {})
    return meta


def tables_from_manifest(manifest: dict[str, Any]) -> list[MaskedTable]:
    """Every dbt source table with its declared columns and the masking of its PII columns."""
    tables: list[MaskedTable] = []
    for source in sorted((manifest.get("sources") or {}).values(), key=lambda s: s["unique_id"]):
        columns = []
        for name, column in (source.get("columns") or {}).items():
            meta = _meta(column)
            strategy = None
            if meta.get("pii") is True:
                strategy = str(meta.get("masking", "token"))
                if strategy not in STRATEGIES:
                    raise MaskError(
                        f"source {source['source_name']}.{source['name']} column {name}: masking {strategy!r} is "
                        f"not one of {', '.join(STRATEGIES)}"
                    )
            columns.append(MaskedColumn(_ident(str(column.get("name") or name), "column"), strategy))
        if not columns:
            raise MaskError(f"source {source['source_name']}.{source['name']} declares no columns: cannot mask it")
        tables.append(
            MaskedTable(
                source=source["source_name"],
                schema=_ident(source["schema"], "schema"),
                table=_ident(source.get("identifier") or source["name"], "table"),
                columns=tuple(columns),
            )
        )
    return tables


def mask_expression(column: MaskedColumn, key: str = "masking_key.key_value") -> str:
    name = column.name
    digest = f"sha2({key} || '|' || cast({name} as varchar), 256)"
    if column.strategy is None:
        return name
    if column.strategy == "token":
        return f"case when {name} is null then null else 'tok_' || left({digest}, 24) end as {name}"
    if column.strategy == "email":
        lowered = f"sha2({key} || '|' || lower(cast({name} as varchar)), 256)"
        return f"case when {name} is null then null else left({lowered}, 20) || '@masked.invalid' end as {name}"
    if column.strategy == "redact":
        return f"case when {name} is null then null else 'redacted' end as {name}"
    return f"cast(null as varchar) as {name}"


@dataclass(frozen=True)
class MaskJob:
    source_database: str
    target_database: str
    key_table: str  # database.schema.table holding (key_name, key_value)
    key_name: str

    def __post_init__(self) -> None:
        _ident(self.source_database, "source database")
        _ident(self.target_database, "target database")
        parts = self.key_table.split(".")
        if len(parts) != 3:
            raise MaskError(f"key table {self.key_table!r} must be database.schema.table")
        for part in parts:
            _ident(part, "key table part")
        if not re.match(r"^[A-Za-z0-9_-]+$", self.key_name):
            raise MaskError(f"key name {self.key_name!r} must be letters, digits, - and _")

    def key_check_sql(self) -> str:
        return f"select count(*) from {self.key_table.lower()} where key_name = '{self.key_name}'"  # noqa: S608

    def columns_sql(self, table: MaskedTable) -> str:
        return (
            f"select column_name from {self.source_database.lower()}.information_schema.columns "  # noqa: S608
            f"where table_schema = '{table.schema.upper()}' and table_name = '{table.table.upper()}'"
        )

    def copy_sql(self, table: MaskedTable) -> list[str]:
        select_list = ",\n    ".join(mask_expression(c) for c in table.columns)
        target = f"{self.target_database.lower()}.{table.schema}.{table.table}"
        return [
            f"create schema if not exists {self.target_database.lower()}.{table.schema}",
            f"create or replace table {target} as\nselect\n    {select_list}\n"  # noqa: S608 (validated identifiers)
            f"from {self.source_database.lower()}.{table.schema}.{table.table}\n"
            f"cross join (\n    select key_value from {self.key_table.lower()} where key_name = '{self.key_name}'\n"
            ") as masking_key",
        ]

    def count_sql(self, database: str, table: MaskedTable) -> str:
        return f"select count(*) from {database.lower()}.{table.schema}.{table.table}"  # noqa: S608


@dataclass
class MaskResult:
    tables: dict[str, int]
    statements: list[str]


def run(job: MaskJob, tables: list[MaskedTable], *, executor: Executor) -> MaskResult:
    keys = executor(job.key_check_sql())
    if not keys or int(keys[0][0]) != 1:
        found = int(keys[0][0]) if keys else 0
        raise MaskError(f"{job.key_table} must hold exactly one key named {job.key_name!r}, found {found}")
    executed: list[str] = []
    copied: dict[str, int] = {}
    for table in tables:
        actual = {str(row[0]).lower() for row in executor(job.columns_sql(table))}
        if not actual:
            raise MaskError(f"{job.source_database}.{table.schema}.{table.table} does not exist")
        undeclared = sorted(actual - {c.name for c in table.columns})
        if undeclared:
            raise MaskError(
                f"{table.schema}.{table.table} has column(s) {', '.join(undeclared)} that the dbt source does not "
                "declare: declare them (tagging PII with meta.pii) before they can be copied to staging"
            )
        for statement in job.copy_sql(table):
            executor(statement)
            executed.append(statement)
        source_rows = int(executor(job.count_sql(job.source_database, table))[0][0])
        masked_rows = int(executor(job.count_sql(job.target_database, table))[0][0])
        if source_rows != masked_rows:
            raise MaskError(f"{table.schema}.{table.table}: {masked_rows} masked rows for {source_rows} source rows")
        copied[f"{table.schema}.{table.table}"] = masked_rows
    return MaskResult(copied, executed)


def load_tables(manifest_path: Path) -> list[MaskedTable]:
    return tables_from_manifest(json.loads(manifest_path.read_text()))
