"""Write-audit-publish on the embedded warehouse (DuckDB): Snowflake's statements, emulated where DuckDB has none.

The plan (wap.py) issues the statements Snowflake runs. This executor runs each of them on a DuckDB file as
it is, except the forms DuckDB lacks, which it performs with the same effect by copying tables inside one
transaction (DuckDB DDL is transactional, so a failure leaves every schema as it was):

    create or replace schema R clone P      drop R; create R; every table of P copied into R
    alter schema A swap with B              A and B exchange their tables (through a scratch schema)
    alter schema A rename to B              B gets A's tables, A is dropped
    comment on schema S is '...'            a row of _wap.schema_comments, moved by swaps and renames
    drop schema S                           with CASCADE, Snowflake's default for DROP SCHEMA
    grant ... to role ...                   DuckDB has no roles: recorded and skipped
    <db>.information_schema.schemata        DuckDB's global view, matched case-insensitively

Copies, not metadata operations: fine for the synthetic data of a rehearsal, never a model of Snowflake's
cost. Only tables move (marts are tables, dbt_project.yml); a view in a swapped schema is an error. What
Snowflake itself does with these statements is tested on their text (tests/pipeline_assets/dbt_wap/).
Identifiers come from the plan's validated names or the catalog, never from input (hence the S608 waivers).
Imports duckdb lazily: the module ships in the DAG folder, where only the rehearsal's worker has duckdb.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME = r"([A-Za-z_][A-Za-z0-9_$]*)\.([A-Za-z_][A-Za-z0-9_$]*)"
CLONE = re.compile(rf"^create or replace schema {NAME} clone {NAME}$", re.IGNORECASE)
SWAP = re.compile(rf"^alter schema {NAME} swap with {NAME}$", re.IGNORECASE)
RENAME = re.compile(rf"^alter schema {NAME} rename to {NAME}$", re.IGNORECASE)
COMMENT = re.compile(rf"^comment on schema {NAME} is '((?:[^']|'')*)'$", re.IGNORECASE)
DROP = re.compile(rf"^drop schema (if exists )?{NAME}$", re.IGNORECASE)
GRANT = re.compile(r"^grant .+ to role [A-Za-z_][A-Za-z0-9_$]*$", re.IGNORECASE)
SCHEMATA = re.compile(
    r"^select (count\(\*\)|comment) from ([A-Za-z_][A-Za-z0-9_$]*)\.information_schema\.schemata "
    r"where schema_name = '([^']+)'$",
    re.IGNORECASE,
)
BOOKKEEPING = "_wap"

Executor = Callable[[str], list[tuple[Any, ...]]]


class EmbeddedWarehouseError(RuntimeError):
    pass


def _tables(conn: Any, database: str, schema: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "select table_name, table_type from information_schema.tables where table_catalog = ? and table_schema = ?",
        [database, schema],
    ).fetchall()
    views = [name for name, kind in rows if kind != "BASE TABLE"]
    if views:
        raise EmbeddedWarehouseError(
            f"{database}.{schema} holds views {views}: only tables can move between schemas here (marts are tables)"
        )
    return sorted((name, kind) for name, kind in rows)


def _hold(conn: Any, database: str, schema: str, tag: str) -> list[str]:
    """Copy a schema's tables into temporary tables `<tag>__<name>`: DuckDB cannot drop a table it created earlier
    in the same transaction, so the data in transit lives in the connection's temp catalog instead."""
    names = [name for name, _ in _tables(conn, database, schema)]
    for name in names:
        conn.execute(f'create temp table "{tag}__{name}" as from "{database}"."{schema}"."{name}"')
    return names


def _refill(conn: Any, database: str, schema: str, tag: str, names: list[str]) -> None:
    """Make `schema` hold exactly the held tables."""
    conn.execute(f'drop schema if exists "{database}"."{schema}" cascade')
    conn.execute(f'create schema "{database}"."{schema}"')
    for name in names:
        conn.execute(f'create table "{database}"."{schema}"."{name}" as from temp."{tag}__{name}"')


def _relabel(conn: Any, database: str, moves: dict[str, str | None]) -> None:
    """Move schema comments along with the data: {from schema: to schema (None drops the comment)}."""
    comments = f'"{database}".{BOOKKEEPING}.schema_comments'
    rows = conn.execute(f"select schema_name, comment from {comments}").fetchall()  # noqa: S608
    kept = {schema: text for schema, text in rows if schema not in moves and schema not in moves.values()}
    for source, target in moves.items():
        text = dict(rows).get(source)
        if target is not None and text is not None:
            kept[target] = text
    conn.execute(f"delete from {comments}")  # noqa: S608
    for schema, text in kept.items():
        conn.execute(f"insert into {comments} values (?, ?)", [schema, text])  # noqa: S608


def _comment(conn: Any, database: str, schema: str) -> str | None:
    comments = f'"{database}".{BOOKKEEPING}.schema_comments'
    row = conn.execute(f"select comment from {comments} where schema_name = ?", [schema]).fetchone()  # noqa: S608
    return None if row is None else str(row[0])


def _exists(conn: Any, database: str, schema: str) -> bool:
    rows = conn.execute(
        "select 1 from information_schema.schemata where catalog_name = ? and lower(schema_name) = lower(?)",
        [database, schema],
    ).fetchall()
    return bool(rows)


def run_statement(conn: Any, statement: str) -> list[tuple[Any, ...]]:
    """One plan statement on a DuckDB connection (the caller commits or rolls back)."""
    sql = " ".join(statement.strip().rstrip(";").split())
    database = conn.execute("select current_database()").fetchone()[0]
    conn.execute(f'create schema if not exists "{database}".{BOOKKEEPING}')
    conn.execute(
        f'create table if not exists "{database}".{BOOKKEEPING}.schema_comments (schema_name varchar, comment varchar)'
    )
    if match := SCHEMATA.match(sql):
        what, db, schema = match.groups()
        if not _exists(conn, db, schema):
            return [(0,)] if what.lower() == "count(*)" else []
        return [(1,)] if what.lower() == "count(*)" else [(_comment(conn, db, schema.lower()),)]
    if match := CLONE.match(sql):
        db, release, db2, published = match.groups()
        _same_database(db, db2, sql)
        conn.execute(f'drop schema if exists "{db}"."{release}" cascade')
        conn.execute(f'create schema "{db}"."{release}"')
        for name, _ in _tables(conn, db, published):
            conn.execute(f'create table "{db}"."{release}"."{name}" as from "{db}"."{published}"."{name}"')
        return []
    if match := SWAP.match(sql):
        db, first, db2, second = match.groups()
        _same_database(db, db2, sql)
        for schema in (first, second):
            if not _exists(conn, db, schema):
                raise EmbeddedWarehouseError(f"{sql}: schema {db}.{schema} does not exist")
        held_first, held_second = _hold(conn, db, first, "first"), _hold(conn, db, second, "second")
        _refill(conn, db, first, "second", held_second)
        _refill(conn, db, second, "first", held_first)
        _relabel(conn, db, {first: second, second: first})
        return []
    if match := RENAME.match(sql):
        db, source, db2, target = match.groups()
        _same_database(db, db2, sql)
        if _exists(conn, db, target):
            raise EmbeddedWarehouseError(f"{sql}: schema {db}.{target} already exists")
        held = _hold(conn, db, source, "source")
        conn.execute(f'drop schema "{db}"."{source}" cascade')
        _refill(conn, db, target, "source", held)
        _relabel(conn, db, {source: target})
        return []
    if match := COMMENT.match(sql):
        db, schema, text = match.groups()
        _relabel(conn, db, {schema: None})
        comments = f'"{db}".{BOOKKEEPING}.schema_comments'
        conn.execute(f"insert into {comments} values (?, ?)", [schema, text.replace("''", "'")])  # noqa: S608
        return []
    if match := DROP.match(sql):
        if_exists, db, schema = match.groups()
        conn.execute(f'drop schema {if_exists or ""}"{db}"."{schema}" cascade')  # Snowflake's default is CASCADE
        _relabel(conn, db, {schema: None})
        return []
    if GRANT.match(sql):
        return []
    cursor = conn.execute(statement)
    return list(cursor.fetchall()) if cursor.description else []


def _same_database(first: str, second: str, sql: str) -> None:
    if first != second:
        raise EmbeddedWarehouseError(f"{sql}: both schemas must be in one database here")


def duckdb_executor(path: Path) -> Executor:
    """An executor for wap.run/wap.rollback on a DuckDB file: one connection and one transaction per statement.

    The connection is closed after each statement: dbt (another process) needs the file between them.
    """

    def execute(statement: str) -> list[tuple[Any, ...]]:
        import duckdb

        conn = duckdb.connect(str(path))
        try:
            conn.execute("begin transaction")
            try:
                rows = run_statement(conn, statement)
            except Exception:
                conn.execute("rollback")
                raise
            conn.execute("commit")
            return rows
        finally:
            conn.close()

    return execute


def database_of(path: Path) -> str:
    """DuckDB names a file's catalog after the file: the `database` the plan and dbt's relations use."""
    return path.stem
