"""Conform a drifting source extract to a declared table, route bad rows to quarantine, keep the latest version.

Source systems rename columns (accountName, "Account Name"), add columns nobody asked for,
drop columns, and send numbers as text. A job declares the table it promises downstream as a
TableSpec; `conform_and_validate` maps whatever arrived onto it:

* column names are matched after normalising to snake_case, then through declared aliases;
* unknown columns are left out of the output (and reported by `drift_report` so main() logs them);
* absent columns become nulls, which a `required` column turns into a quarantine reason;
* values are cast with Spark's non-ANSI cast: a value that was present but does not cast is a
  quarantine reason naming the column, never a silent null.

Rows with at least one reason go to quarantine with all their reasons and the raw record; the
rest are deduplicated to the latest version per key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

QUARANTINE_REASON = "quarantine_reason"
RAW_RECORD = "raw_record"
CORRUPT_RECORD = "_corrupt_record"
ROW_HASH = "_row_hash"  # Spark's PERMISSIVE-mode column for unparseable lines

# A job-specific rule: given the typed row's columns, a condition that marks the row bad, and the reason.
Rule = tuple[str, Callable[[], Column]]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str  # Spark SQL type name: string, long, double, boolean, timestamp, date, decimal(p,s)
    required: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.type in ("int", "long", "double", "float") or self.type.startswith("decimal")


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    latest_by: str  # the version column: the greatest value per key wins
    rules: tuple[Rule, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Drift:
    renamed: dict[str, str]  # source column -> declared column
    unexpected: tuple[str, ...]  # source columns the table does not declare (left out)
    missing: tuple[str, ...]  # declared columns absent from the source (null)


def snake_case(name: str) -> str:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def _source_for(columns: list[str], spec: ColumnSpec) -> str | None:
    by_normal = {snake_case(c): c for c in columns if c != CORRUPT_RECORD}
    for candidate in (spec.name, *spec.aliases):
        if snake_case(candidate) in by_normal:
            return by_normal[snake_case(candidate)]
    return None


def drift_report(columns: list[str], spec: TableSpec) -> Drift:
    mapping = {c.name: _source_for(columns, c) for c in spec.columns}
    used = {source for source in mapping.values() if source is not None}
    return Drift(
        renamed={source: name for name, source in mapping.items() if source is not None and source != name},
        unexpected=tuple(sorted(c for c in columns if c not in used and c != CORRUPT_RECORD)),
        missing=tuple(name for name, source in mapping.items() if source is None),
    )


def _blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def _reason_columns(raw: DataFrame, spec: TableSpec) -> tuple[list[Column], list[Column]]:
    """Typed value and failure reason for each declared column."""
    typed: list[Column] = []
    reasons: list[Column] = []
    for column in spec.columns:
        source = _source_for(raw.columns, column)
        value = F.trim(F.col(f"`{source}`").cast("string")) if source else F.lit(None).cast("string")
        cleaned = F.regexp_replace(value, ",", "") if column.numeric else value  # "1,250.00" from spreadsheets
        cast = F.when(_blank(value), F.lit(None)).otherwise(cleaned.cast(column.type))
        typed.append(cast.alias(column.name))
        if column.required:
            reasons.append(F.when(_blank(value), F.lit(f"missing_required:{column.name}")))
        reasons.append(F.when(~_blank(value) & cast.isNull(), F.lit(f"invalid_{column.type}:{column.name}")))
    return typed, reasons


def conform_and_validate(raw: DataFrame, spec: TableSpec) -> DataFrame:
    """Typed declared columns + quarantine_reason (null when valid) + raw_record (the row as it arrived)."""
    original = [c for c in raw.columns if c != CORRUPT_RECORD]
    raw_json = F.to_json(F.struct(*[F.col(f"`{c}`") for c in original])) if original else F.lit(None)
    if CORRUPT_RECORD in raw.columns:
        raw_json = F.coalesce(F.col(CORRUPT_RECORD), raw_json)
    typed, reasons = _reason_columns(raw, spec)
    reason_list = F.array(*reasons)
    if CORRUPT_RECORD in raw.columns:
        # An unparseable line has no columns to blame: one reason, not one per missing column.
        reason_list = F.when(F.col(CORRUPT_RECORD).isNotNull(), F.array(F.lit("malformed_record"))).otherwise(
            reason_list
        )
    # A hash of the row as it arrived breaks ties between versions deterministically (reruns pick the same row).
    row_hash = F.xxhash64(*[F.col(f"`{c}`") for c in raw.columns]) if raw.columns else F.lit(0)
    staged = raw.select(*typed, reason_list.alias("_reasons"), raw_json.alias("_raw"), row_hash.alias(ROW_HASH))
    # Job rules see typed values; they only apply where the value is present and typed.
    rule_reasons = [F.when(condition(), F.lit(reason)) for reason, condition in spec.rules]
    with_rules = staged.withColumn("_reasons", F.concat(F.col("_reasons"), F.array(*rule_reasons)))
    joined = F.concat_ws(";", F.filter(F.col("_reasons"), lambda r: r.isNotNull()))
    reason = F.when(joined == "", F.lit(None)).otherwise(joined)
    return with_rules.select(*spec.names, ROW_HASH, reason.alias(QUARANTINE_REASON), "_raw").select(
        *spec.names,
        ROW_HASH,
        QUARANTINE_REASON,
        # Serialising the raw row costs more than the rest of the row's checks: only quarantined rows need it.
        F.when(F.col(QUARANTINE_REASON).isNotNull(), F.col("_raw")).alias(RAW_RECORD),
    )


def latest_per_key(checked: DataFrame, spec: TableSpec) -> DataFrame:
    """Valid rows: one per key, the greatest `latest_by`. Quarantined rows: all kept.

    One window over all rows (valid and quarantined ranked apart) rather than a union of two
    filtered branches, which would read and parse the input twice.
    """
    is_valid = F.col(QUARANTINE_REASON).isNull()
    order = Window.partitionBy(*spec.key, is_valid).orderBy(
        F.col(spec.latest_by).desc_nulls_last(), F.col(ROW_HASH).desc()
    )
    ranked = checked.withColumn("_rank", F.row_number().over(order))
    return ranked.where(~is_valid | (F.col("_rank") == 1)).drop("_rank", ROW_HASH)


def transform_table(raw: DataFrame, spec: TableSpec) -> DataFrame:
    """Valid rows deduplicated to the latest version, plus every quarantined row (reason not null)."""
    return latest_per_key(conform_and_validate(raw, spec), spec)


def split_quarantine(result: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid rows without the bookkeeping columns, quarantined rows: reason + raw record)."""
    valid = result.where(F.col(QUARANTINE_REASON).isNull()).drop(QUARANTINE_REASON, RAW_RECORD)
    quarantined = result.where(F.col(QUARANTINE_REASON).isNotNull()).select(QUARANTINE_REASON, RAW_RECORD)
    return valid, quarantined
