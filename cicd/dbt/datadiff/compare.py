"""The value-level diff of one model between two builds, by primary key, on DuckDB.

Each side's relation is exported to Parquet from its own database file (both files are named for the same dbt
database, so views resolve inside each file and the two cannot be attached side by side), then compared in
memory: rows only in base, rows only in head, rows whose values changed (per column, with examples masked by
the rules for data below prod), and the schema. A model without a key, or whose key repeats on a side, is
compared as whole rows (a multiset), which still counts rows gone and rows new but cannot say which column.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cicd.dbt.datadiff.masking import Masking
from cicd.dbt.mask import mask_value

EXAMPLES = 3
TRANSITIONS = 5
FEW_VALUES = 20  # a column with at most this many distinct values is profiled by value counts
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "UBIGINT", "UINTEGER")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def shown(value: Any) -> Any:
    """A value as JSON and Markdown show it."""
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, float | int | bool | str) or value is None:
        return value
    return str(value)


@dataclass
class ColumnChange:
    column: str
    changed: int
    masked: bool = False
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"key": {...}, "base": v, "head": v}
    transitions: list[dict[str, Any]] = field(default_factory=list)  # {"base": v, "head": v, "rows": n}
    mean_abs_delta: float | None = None
    max_abs_delta: float | None = None


@dataclass
class SchemaDiff:
    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)


@dataclass
class Comparison:
    key: list[str]
    compared_by: str  # "key" | "whole rows"
    rows_base: int | None
    rows_head: int | None
    only_base: int = 0
    only_head: int = 0
    only_base_examples: list[dict[str, Any]] = field(default_factory=list)
    only_head_examples: list[dict[str, Any]] = field(default_factory=list)
    changed_rows: int = 0
    columns: list[ColumnChange] = field(default_factory=list)
    schema: SchemaDiff = field(default_factory=SchemaDiff)
    duplicate_keys: dict[str, int] = field(default_factory=dict)  # side -> rows sharing a key with another
    note: str = ""
    # Without a key, which columns' values shifted: {"column", "items": [{"what", "base", "head"}]}
    shifts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.only_base or self.only_head or self.changed_rows or self.schema.changed)


@contextmanager
def _memory() -> Iterator[Any]:
    import duckdb

    conn = duckdb.connect(":memory:")
    try:
        yield conn
    finally:
        conn.close()


def export(db_path: Path, relations: dict[str, str], out_dir: Path) -> dict[str, Path | str]:
    """Each relation (unique id -> dbt relation name) to a Parquet file; an error message where it cannot be read."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    exported: dict[str, Path | str] = {}
    with duckdb.connect(str(db_path), read_only=True) as conn:
        for uid, relation in relations.items():
            target = out_dir / f"{uid}.parquet"
            try:
                # The relation name comes from the dbt manifest, already quoted by the adapter.
                conn.execute(f"copy (select * from {relation}) to {literal(str(target))} (format parquet)")  # noqa: S608
                exported[uid] = target
            except duckdb.Error as exc:
                exported[uid] = f"cannot read {relation}: {str(exc).splitlines()[0]}"
    return exported


def _columns(conn: Any, view: str) -> dict[str, str]:
    return {str(row[0]): str(row[1]) for row in conn.execute(f"describe {view}").fetchall()}


def _count(conn: Any, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


class _Sides:
    """The two Parquet exports as views b and h, with the masking for shown values."""

    def __init__(self, conn: Any, masking: Masking, mask_key: str) -> None:
        self.conn = conn
        self.masking = masking
        self.mask_key = mask_key

    def show(self, column: str, value: Any) -> Any:
        strategy = self.masking.strategy(column)
        if strategy is None:
            return shown(value)
        return mask_value(strategy, self.mask_key, None if value is None else str(shown(value)))

    def keys_of(self, key: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
        return {column: self.show(column, value) for column, value in zip(key, row, strict=False)}


def _schema(base: dict[str, str], head: dict[str, str]) -> SchemaDiff:
    return SchemaDiff(
        added=[(c, t) for c, t in head.items() if c not in base],
        removed=[(c, t) for c, t in base.items() if c not in head],
        retyped=[(c, base[c], head[c]) for c in base if c in head and base[c] != head[c]],
    )


def _duplicates(conn: Any, view: str, key: Sequence[str]) -> int:
    keys = ", ".join(quote(k) for k in key)
    nulls = " or ".join(f"{quote(k)} is null" for k in key)
    groups = f"select count(*) as n from {view} group by {keys} having n > 1"  # noqa: S608 (quoted identifiers)
    repeated = _count(conn, f"select coalesce(sum(n), 0) from ({groups})")  # noqa: S608
    return repeated + _count(conn, f"select count(*) from {view} where {nulls}")  # noqa: S608


def _by_key(sides: _Sides, result: Comparison, common: list[str], types: dict[str, tuple[str, str]]) -> None:
    conn, key = sides.conn, result.key
    join = " and ".join(f"b.{quote(k)} = h.{quote(k)}" for k in key)
    order = ", ".join(f"b.{quote(k)}" for k in key)
    key_list = ", ".join(f"b.{quote(k)}" for k in key)
    matched = " and ".join(f"o.{quote(k)} = t.{quote(k)}" for k in key)
    key_of_t = ", ".join(f"t.{quote(k)}" for k in key)
    for side, this, other in (("base", "b", "h"), ("head", "h", "b")):
        missing = f"from {this} as t where not exists (select 1 from {other} as o where {matched})"  # noqa: S608
        count = _count(conn, f"select count(*) {missing}")
        rows = conn.execute(f"select {key_of_t} {missing} order by {key_of_t} limit {EXAMPLES}").fetchall()
        examples = [sides.keys_of(key, row) for row in rows]
        if side == "base":
            result.only_base, result.only_base_examples = count, examples
        else:
            result.only_head, result.only_head_examples = count, examples
    values = [c for c in common if c not in key]
    if not values:
        return

    def differs(column: str) -> str:
        old, new = types[column]
        if old == new:
            return f"b.{quote(column)} is distinct from h.{quote(column)}"
        return f"cast(b.{quote(column)} as varchar) is distinct from cast(h.{quote(column)} as varchar)"

    counts = ", ".join(f"count(*) filter (where {differs(c)})" for c in values)
    any_change = " or ".join(differs(c) for c in values)
    row = conn.execute(
        f"select count(*) filter (where {any_change}), {counts} from b join h on {join}"  # noqa: S608
    ).fetchone()
    result.changed_rows = int(row[0]) if row else 0
    for column, changed in zip(values, row[1:] if row else [], strict=False):
        if not changed:
            continue
        change = ColumnChange(column, int(changed), masked=sides.masking.strategy(column) is not None)
        examples = conn.execute(
            f"select {key_list}, b.{quote(column)}, h.{quote(column)} from b join h on {join} "  # noqa: S608
            f"where {differs(column)} order by {order} limit {EXAMPLES}"
        ).fetchall()
        change.examples = [
            {
                "key": sides.keys_of(key, ex[: len(key)]),
                "base": sides.show(column, ex[len(key)]),
                "head": sides.show(column, ex[len(key) + 1]),
            }
            for ex in examples
        ]
        old_type, new_type = types[column]
        if old_type == new_type and old_type.split("(")[0] in NUMERIC:
            delta = f"abs(h.{quote(column)} - b.{quote(column)})"
            stats = conn.execute(
                f"select avg({delta}), max({delta}) from b join h on {join} where {differs(column)}"  # noqa: S608
            ).fetchone()
            if stats and stats[0] is not None:
                change.mean_abs_delta, change.max_abs_delta = float(stats[0]), float(stats[1])
        elif not change.masked:
            moves = conn.execute(
                f"select b.{quote(column)}, h.{quote(column)}, count(*) as n from b join h on {join} "  # noqa: S608
                f"where {differs(column)} group by all order by n desc, 1, 2 limit {TRANSITIONS}"
            ).fetchall()
            change.transitions = [{"base": shown(m[0]), "head": shown(m[1]), "rows": int(m[2])} for m in moves]
        result.columns.append(change)


def _by_rows(sides: _Sides, result: Comparison, common: list[str], types: dict[str, tuple[str, str]]) -> None:
    def select(view: str) -> str:
        cols = [
            quote(c) if types[c][0] == types[c][1] else f"cast({quote(c)} as varchar) as {quote(c)}" for c in common
        ]
        return f"select {', '.join(cols)} from {view}"  # noqa: S608

    for side, this, other in (("base", "b", "h"), ("head", "h", "b")):
        gone = f"({select(this)} except all {select(other)})"
        count = _count(sides.conn, f"select count(*) from {gone}")  # noqa: S608
        shown_cols = common[:6]
        rows = sides.conn.execute(
            f"select {', '.join(quote(c) for c in shown_cols)} from {gone} order by all limit {EXAMPLES}"  # noqa: S608
        ).fetchall()
        examples = [sides.keys_of(shown_cols, row) for row in rows]
        if side == "base":
            result.only_base, result.only_base_examples = count, examples
        else:
            result.only_head, result.only_head_examples = count, examples
    if result.only_base or result.only_head:
        result.shifts = _shifts(sides, common, types)


def _shifts(sides: _Sides, common: list[str], types: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows cannot be paired without a key; the columns whose profile moved say where the change is."""
    conn, found = sides.conn, []
    for column in common:
        name = quote(column)
        old_type, new_type = types[column]
        profile = f"select count(*) - count({name}), count(distinct {name}) from"
        (nulls_b, distinct_b), (nulls_h, distinct_h) = (conn.execute(f"{profile} {v}").fetchone() for v in ("b", "h"))
        items: list[dict[str, Any]] = []
        masked = sides.masking.strategy(column) is not None
        if not masked and old_type == new_type and max(distinct_b, distinct_h) <= FEW_VALUES:
            counts = conn.execute(
                f"select coalesce(b.v, h.v), coalesce(b.n, 0), coalesce(h.n, 0) from "  # noqa: S608
                f"(select {name} as v, count(*) as n from b group by all) as b full join "
                f"(select {name} as v, count(*) as n from h group by all) as h on b.v is not distinct from h.v "
                f"where coalesce(b.n, 0) != coalesce(h.n, 0) order by 1"
            ).fetchall()
            items = [{"what": shown(v), "base": int(n_b), "head": int(n_h)} for v, n_b, n_h in counts]
        else:
            if nulls_b != nulls_h:
                items.append({"what": "nulls", "base": int(nulls_b), "head": int(nulls_h)})
            if distinct_b != distinct_h:
                items.append({"what": "distinct values", "base": int(distinct_b), "head": int(distinct_h)})
            if not masked and old_type == new_type and old_type.split("(")[0] in NUMERIC:
                sums = [conn.execute(f"select sum({name}) from {v}").fetchone()[0] for v in ("b", "h")]  # noqa: S608
                if sums[0] != sums[1]:
                    items.append({"what": "sum", "base": shown(sums[0]), "head": shown(sums[1])})
        if items:
            found.append({"column": column, "items": items})
    return found


def compare(base: Path | None, head: Path | None, *, key: Sequence[str], masking: Masking, mask_key: str) -> Comparison:
    """Diff two Parquet exports (None: the model does not exist on that side)."""
    with _memory() as conn:
        sides = _Sides(conn, masking, mask_key)
        for view, path in (("b", base), ("h", head)):
            if path is not None:
                conn.execute(f"create view {view} as select * from read_parquet({literal(str(path))})")  # noqa: S608
        base_types = _columns(conn, "b") if base else {}
        head_types = _columns(conn, "h") if head else {}
        rows_base = _count(conn, "select count(*) from b") if base else None
        rows_head = _count(conn, "select count(*) from h") if head else None
        if base is None or head is None:
            # A model only one side has: all its rows are new (or gone); its columns are not a schema change.
            view, present = ("h", head_types) if base is None else ("b", base_types)
            shown_cols = [k for k in key if k in present] or list(present)[:4]
            rows = conn.execute(
                f"select {', '.join(quote(c) for c in shown_cols)} from {view} order by all limit {EXAMPLES}"  # noqa: S608
            ).fetchall()
            result = Comparison(list(key), "key" if key else "whole rows", rows_base, rows_head)
            result.only_base, result.only_head = rows_base or 0, rows_head or 0
            examples = [sides.keys_of(shown_cols, row) for row in rows]
            if base is None:
                result.only_head_examples = examples
            else:
                result.only_base_examples = examples
            return result
        result = Comparison(list(key), "key", rows_base, rows_head, schema=_schema(base_types, head_types))
        common = [c for c in head_types if c in base_types]
        types = {c: (base_types[c], head_types[c]) for c in common}
        usable = bool(key) and all(k in types for k in key)
        if usable:
            repeats = {"base": _duplicates(conn, "b", key), "head": _duplicates(conn, "h", key)}
            result.duplicate_keys = {side: n for side, n in repeats.items() if n}
        if usable and not result.duplicate_keys:
            _by_key(sides, result, common, types)
            return result
        result.compared_by = "whole rows"
        if not key:
            result.note = "no primary key (no primary_key constraint or unique test): compared as whole rows"
        elif not usable:
            result.note = f"key {', '.join(key)} is not a column on both sides: compared as whole rows"
        else:
            where = ", ".join(f"{n} rows on {side}" for side, n in result.duplicate_keys.items())
            result.note = f"key {', '.join(key)} is not unique or has nulls ({where}): compared as whole rows"
        _by_rows(sides, result, common, types)
        return result
