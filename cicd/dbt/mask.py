"""Statically masked copies of the raw sources for staging, produced inside production.

Columns tagged `meta: {pii: true}` on the dbt sources are replaced by deterministic tokens: an HMAC-SHA256
of the value under a secret key, so the same value always gives the same token (joins and distinct counts
keep working) and nothing can be reversed or guessed-and-checked without the key. The key never leaves
production: the job reads it from an environment variable filled from a secret (KEY_VARIABLE), refuses one
shorter or less random than 32 random bytes, and hands it to Snowflake only inside a temporary table of its
own session. There is no default key. `meta.masking` picks the shape:

- `token` (default): `tok_` + 24 hex characters;
- `email`: a token local part at `masked.invalid`, case-insensitive (so lower-cased joins still match);
- `redact`: a constant for non-null values (the column is kept for shape, its content is not needed);
- `null`: always null.

Personal names and free text are masked by rule even when nobody tagged them (NAME_COLUMNS get a token,
FREE_TEXT_COLUMNS are nulled): an untagged `last_name` or `notes` column never reaches staging as is.

Fail-closed: a table with a column the dbt source does not declare is not copied (the undeclared column
could be PII nobody tagged), a missing or duplicated key stops the job, and row counts are compared after
each copy. Staging then reads the masked database (DBT_RAW_DATABASE) through a share.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Executor = Callable[..., list[tuple[Any, ...]]]  # (sql, params=None) -> rows
STRATEGIES = ("token", "email", "redact", "null")
KEY_VARIABLE = "STAGING_MASKING_KEY"
MIN_KEY_BYTES = 32
# Shannon entropy per byte of the key's bytes: 32 random bytes score ~4.8 (at most log2(32) = 5); a
# repeated or patterned value such as "abab..." or a hex-encoded word scores far lower.
MIN_BITS_PER_BYTE = 4.0
KEY_FIX = (
    f"store {MIN_KEY_BYTES} random bytes in the masking secret, hex- or base64-encoded "
    "(python -c 'import secrets; print(secrets.token_hex(32))'), and expose it to the job as ${var}"
)
# Personal names: tokenised by rule, tagged or not (a tag may choose a stricter strategy).
NAME_COLUMNS = re.compile(
    r"^(?:.*_)?(?:first|last|full|middle|given|family|maiden|nick|display|contact|person|legal)_?name$|^(?:sur|nick)name$"
)
# Free text can hold anything (names, addresses, health notes): nulled by rule, tagged or not.
FREE_TEXT_COLUMNS = re.compile(
    r"^(?:.*_)?(?:notes?|comments?|remarks?|memo|free_text|message|body|address(?:_line)?(?:_?\d+)?|street(?:_address)?)$"
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class MaskError(Exception):
    pass


@dataclass(frozen=True)
class MaskingKey:
    """The HMAC key; repr never shows it."""

    secret: bytes

    def __repr__(self) -> str:
        return f"MaskingKey({len(self.secret)} bytes)"

    @property
    def hex(self) -> str:
        return self.secret.hex()


def _decode_key(text: str) -> bytes | None:
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
        return bytes.fromhex(text)
    try:
        return base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None, validate=True
        )
    except (binascii.Error, ValueError):
        return None


def _bits_per_byte(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def masking_key(environ: dict[str, str], variable: str = KEY_VARIABLE) -> MaskingKey:
    """The key from `variable`, or a MaskError naming the variable, what is wrong and the fix."""
    fix = KEY_FIX.format(var=variable)
    text = (environ.get(variable) or "").strip()
    if not text:
        raise MaskError(f"${variable} is not set: there is no default masking key; {fix}")
    secret = _decode_key(text)
    if secret is None:
        raise MaskError(f"${variable} is neither hex nor base64 (a passphrase is too guessable); {fix}")
    if len(secret) < MIN_KEY_BYTES:
        raise MaskError(f"${variable} holds {len(secret)} bytes, fewer than {MIN_KEY_BYTES}; {fix}")
    if _bits_per_byte(secret) < MIN_BITS_PER_BYTE:
        raise MaskError(
            f"${variable} does not look random ({_bits_per_byte(secret):.1f} bits per byte, at least "
            f"{MIN_BITS_PER_BYTE} expected): a patterned or hand-made key can be guessed; {fix}"
        )
    return MaskingKey(secret)


def hmac_token(key_hex: str, value: str | None) -> str | None:
    """HMAC-SHA256 of the value, hex. Also the body of the Snowflake function the copy calls (mask_hmac)."""
    import hashlib
    import hmac

    if value is None:
        return None
    return hmac.new(bytes.fromhex(key_hex), value.encode("utf-8"), hashlib.sha256).hexdigest()


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


def rule_strategy(column: str) -> str | None:
    """The masking a column gets by its name alone: names are tokenised, free text is dropped."""
    if FREE_TEXT_COLUMNS.match(column):
        return "null"
    if NAME_COLUMNS.match(column):
        return "token"
    return None


def tables_from_manifest(manifest: dict[str, Any]) -> list[MaskedTable]:
    """Every dbt source table with its declared columns and the masking of its PII columns."""
    tables: list[MaskedTable] = []
    for source in sorted((manifest.get("sources") or {}).values(), key=lambda s: s["unique_id"]):
        columns = []
        for name, column in (source.get("columns") or {}).items():
            column_name = _ident(str(column.get("name") or name), "column")
            meta = _meta(column)
            strategy = None
            if meta.get("pii") is True:
                strategy = str(meta.get("masking", "token"))
                if strategy not in STRATEGIES:
                    raise MaskError(
                        f"source {source['source_name']}.{source['name']} column {name}: masking {strategy!r} is "
                        f"not one of {', '.join(STRATEGIES)}"
                    )
            columns.append(MaskedColumn(column_name, strategy or rule_strategy(column_name)))
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


MASK_FUNCTION = "mask_hmac"


def mask_expression(column: MaskedColumn, key: str = "masking_key.key_hex") -> str:
    name = column.name
    digest = f"{MASK_FUNCTION}({key}, cast({name} as varchar))"
    if column.strategy is None:
        return name
    if column.strategy == "token":
        return f"case when {name} is null then null else 'tok_' || left({digest}, 24) end as {name}"
    if column.strategy == "email":
        lowered = f"{MASK_FUNCTION}({key}, lower(cast({name} as varchar)))"
        return f"case when {name} is null then null else left({lowered}, 20) || '@masked.invalid' end as {name}"
    if column.strategy == "redact":
        return f"case when {name} is null then null else 'redacted' end as {name}"
    return f"cast(null as varchar) as {name}"


def mask_value(strategy: str | None, key_hex: str, value: object) -> object:
    """mask_expression in Python: what a value looks like in a masked copy, for reports shown below prod."""
    if strategy is None or value is None:
        return value
    if strategy == "token":
        return "tok_" + str(hmac_token(key_hex, str(value)))[:24]
    if strategy == "email":
        return str(hmac_token(key_hex, str(value).lower()))[:20] + "@masked.invalid"
    if strategy == "redact":
        return "redacted"
    return None


# The Snowflake side of hmac_token: the same source, as a session-scoped Python function.
_UDF_SOURCE = inspect.getsource(hmac_token)


@dataclass(frozen=True)
class MaskJob:
    source_database: str
    target_database: str

    def __post_init__(self) -> None:
        _ident(self.source_database, "source database")
        _ident(self.target_database, "target database")

    @property
    def work_schema(self) -> str:
        return f"{self.target_database.lower()}.masking"

    @property
    def key_table(self) -> str:
        # Unqualified: a temporary table lives in the session's current schema (set by session_sql's `use`).
        return "session_key"

    def session_sql(self) -> list[str]:
        """A schema of the job's own and a temporary table for the key: both vanish with the session."""
        return [
            f"create schema if not exists {self.work_schema}",
            f"use schema {self.work_schema}",
            f"create or replace temporary table {self.key_table} (key_hex varchar)",
        ]

    def key_insert_sql(self) -> str:
        # The key is a bind parameter: it is never part of a statement this job prints or returns.
        return f"insert into {self.key_table} (key_hex) values (%s)"  # noqa: S608 (validated identifiers)

    def function_sql(self) -> str:
        return (
            f"create or replace temporary function {MASK_FUNCTION}(key_hex varchar, value varchar) "
            f"returns varchar language python runtime_version = '3.11' handler = 'hmac_token' "
            f"as $$\n{_UDF_SOURCE}$$"
        )

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
            f"cross join (select key_hex from {self.key_table}) as masking_key",
        ]

    def count_sql(self, database: str, table: MaskedTable) -> str:
        return f"select count(*) from {database.lower()}.{table.schema}.{table.table}"  # noqa: S608


@dataclass
class MaskResult:
    tables: dict[str, int]
    statements: list[str]


def run(job: MaskJob, tables: list[MaskedTable], *, key: MaskingKey, executor: Executor) -> MaskResult:
    for statement in job.session_sql():
        executor(statement)
    executor(job.key_insert_sql(), (key.hex,))
    executor(job.function_sql())
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
    executor(f"drop table if exists {job.key_table}")
    return MaskResult(copied, executed)


def load_tables(manifest_path: Path) -> list[MaskedTable]:
    return tables_from_manifest(json.loads(manifest_path.read_text()))
