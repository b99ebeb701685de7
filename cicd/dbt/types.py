"""Snowflake column types as dbt contracts spell them, normalised once with sqlglot's Snowflake dialect.

The schema-compatibility check (is this a type change, or a narrowing?) and the data-service build (which
assistant type does this column publish as?) both read `data_type` from the manifest. Two hand-written
alias tables disagreed: a bare NUMBER was an integer to one and an unsized numeric to the other, a bare
DECIMAL a float. Snowflake says NUMBER, DECIMAL and NUMERIC without arguments are NUMBER(38, 0), and
sqlglot's dialect knows that and the other aliases (TEXT = STRING = VARCHAR, DATETIME = TIMESTAMP_NTZ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.expressions.datatypes import DType

T = DType  # what exp.DataType.Type names; mypy needs the class itself in annotations
# Families whose members Snowflake stores alike: an alias within a family is not a type change.
FAMILIES: dict[DType, str] = {
    **dict.fromkeys((T.VARCHAR, T.NVARCHAR, T.TEXT, T.CHAR, T.NCHAR, T.BPCHAR), "string"),
    **dict.fromkeys((T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.INT128), "integer"),
    T.DECIMAL: "numeric",
    **dict.fromkeys((T.FLOAT, T.DOUBLE), "float"),
    T.BOOLEAN: "boolean",
    T.DATE: "date",
    T.TIME: "time",
    **dict.fromkeys((T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME), "timestamp_ntz"),
    T.TIMESTAMPTZ: "timestamp_tz",
    T.TIMESTAMPLTZ: "timestamp_ltz",
    **dict.fromkeys((T.BINARY, T.VARBINARY), "binary"),
    T.UUID: "string",  # Snowflake has no UUID type; dbt-duckdb's contracts may say uuid for a VARCHAR
}
# Families whose one parameter is a size (characters, bytes, fractional-second digits).
SIZED = frozenset({"string", "binary", "timestamp_ntz", "timestamp_tz", "timestamp_ltz", "time"})


@dataclass(frozen=True)
class DataType:
    base: str  # the family above, or Snowflake's own lower-case name (variant, object, geography, ...)
    params: tuple[int, ...] = ()  # size for SIZED families; (precision, scale) for numeric
    raw: str = ""

    def __str__(self) -> str:
        return self.raw or self.base


def _integers(parsed: exp.DataType) -> tuple[int, ...]:
    return tuple(int(p.name) for p in parsed.expressions if isinstance(p, exp.DataTypeParam) and p.name.isdigit())


def normalize_type(raw: str | None) -> DataType | None:
    """The family behind a Snowflake type name, with size or precision/scale when they matter."""
    if not raw or not raw.strip():
        return None
    try:
        parsed = exp.DataType.build(raw, dialect="snowflake")
    except SqlglotError:
        # Not a type Snowflake's grammar knows: compared as written, so a change still shows.
        return DataType(" ".join(raw.lower().split()), (), raw)
    params = _integers(parsed)
    family = FAMILIES.get(parsed.this)
    if family is None:
        return DataType(parsed.this.name.lower(), params, raw)
    if family == "numeric":
        precision, scale = params[0] if params else 38, params[1] if len(params) > 1 else 0
        # NUMBER(p, 0) holds whole numbers: Snowflake stores every integer type that way.
        return DataType("integer", (), raw) if scale == 0 else DataType("numeric", (precision, scale), raw)
    return DataType(family, params[:1] if family in SIZED else (), raw)
