"""Which warehouse column types a Data Analyst dataset can carry, and what they become in the CSV.

The assistant reads CSV, so every value becomes text; what matters is that the text parses back
into something the assistant's generated code can compute with. Semi-structured and binary types
(VARIANT, OBJECT, ARRAY, BINARY, GEOGRAPHY...) do not survive that round trip, and a bare TIME has
no unambiguous meaning without a date, so they are refused at build time instead of published.
"""

from __future__ import annotations

import re
from typing import Literal

AssistantType = Literal["string", "integer", "float", "boolean", "date", "datetime"]
ACCEPTED: tuple[AssistantType, ...] = ("string", "integer", "float", "boolean", "date", "datetime")

_STRING = {"varchar", "char", "character", "string", "text", "nvarchar", "nchar", "character varying", "uuid"}
_INTEGER = {"int", "integer", "bigint", "smallint", "tinyint", "byteint", "hugeint", "int2", "int4", "int8"}
_FLOAT = {"float", "float4", "float8", "double", "double precision", "real"}
_BOOLEAN = {"boolean", "bool"}
_DATE = {"date"}
_DATETIME = {
    "timestamp",
    "timestamp_ntz",
    "timestamp_ltz",
    "timestamp_tz",
    "timestamptz",
    "datetime",
    "timestamp with time zone",
    "timestamp without time zone",
}
_EXACT_NUMERIC = re.compile(r"^(number|numeric|decimal)\s*(\(\s*(\d+)\s*(,\s*(\d+)\s*)?\))?$")
_SIZED = re.compile(r"^(?P<base>[a-z_ ]+?)\s*\(\s*\d+\s*\)$")


def assistant_type(data_type: str | None) -> AssistantType | None:
    """The assistant type for a dbt contract data_type, or None when it cannot be published."""
    if not data_type:
        return None
    text = " ".join(data_type.strip().lower().split())
    exact = _EXACT_NUMERIC.match(text)
    if exact:
        scale = exact.group(5)
        # Snowflake's NUMBER without arguments is NUMBER(38,0); a scale of 0 holds whole numbers.
        if exact.group(2) is None:
            return "integer" if exact.group(1) == "number" else "float"
        return "integer" if scale is None or int(scale) == 0 else "float"
    sized = _SIZED.match(text)
    if sized:  # varchar(255), timestamp_ntz(9), char(2)
        text = sized.group("base").strip()
    return _KINDS.get(text)


_KINDS: dict[str, AssistantType] = {
    **dict.fromkeys(_STRING, "string"),
    **dict.fromkeys(_INTEGER, "integer"),
    **dict.fromkeys(_FLOAT, "float"),
    **dict.fromkeys(_BOOLEAN, "boolean"),
    **dict.fromkeys(_DATE, "date"),
    **dict.fromkeys(_DATETIME, "datetime"),
}
