"""Export a mart to CSV files within the assistant's size limits, streaming from a DB-API cursor.

Rows are fetched in batches and written straight to disk, so a large mart never sits in the
worker's memory. A file is closed before it would pass max_file_bytes and the next part starts
with the header again; every part is a complete CSV the assistant can load on its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from pipeline_assets.dataservices.bundle import Dataset, Limits


class Cursor(Protocol):
    """What the export needs from a DB-API 2.0 cursor (snowflake-connector, duckdb, sqlite...)."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def execute(self, operation: str) -> Any: ...

    def fetchmany(self, size: int) -> Sequence[Sequence[Any]]: ...


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class Part:
    path: Path
    rows: int
    size_bytes: int
    sha256: str


@dataclass
class DatasetExport:
    dataset: str
    parts: list[Part] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes for p in self.parts)

    def sha256(self) -> str:
        """Digest of the exported content (independent of where the files were written)."""
        digest = hashlib.sha256(self.dataset.encode() + b"\0")
        for part in self.parts:
            digest.update(part.sha256.encode() + b"\n")
        return digest.hexdigest()


def csv_value(value: Any) -> str:
    """One value as CSV text that parses back unambiguously (ISO dates, lowercase booleans, UTC)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return "" if math.isnan(value) or math.isinf(value) else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _encode_row(values: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode("utf-8")


class _PartWriter:
    def __init__(self, out_dir: Path, dataset: str, header: bytes, max_bytes: int):
        self.out_dir, self.dataset, self.header, self.max_bytes = out_dir, dataset, header, max_bytes
        self.parts: list[Part] = []
        self._file: io.BufferedWriter | None = None
        self._path: Path | None = None
        self._size = 0
        self._rows = 0
        self._digest = hashlib.sha256()

    def _open(self) -> None:
        self._path = self.out_dir / f"{self.dataset}.part{len(self.parts):03d}.csv"
        self._file = self._path.open("wb")
        self._size, self._rows, self._digest = 0, 0, hashlib.sha256()
        self._write(self.header)

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._digest.update(data)
        self._size += len(data)

    def add(self, row: bytes) -> None:
        if len(self.header) + len(row) > self.max_bytes:
            raise ExportError(
                f"dataset {self.dataset}: one row is {len(row)} bytes, more than a whole file may hold "
                f"({self.max_bytes} bytes with the header); shorten the text columns or raise limits.max_file_mb"
            )
        if self._file is None:
            self._open()
        elif self._size + len(row) > self.max_bytes and self._rows > 0:
            self.close()
            self._open()
        self._write(row)
        self._rows += 1

    def close(self) -> None:
        if self._file is None or self._path is None:
            return
        self._file.close()
        self.parts.append(Part(self._path, self._rows, self._size, self._digest.hexdigest()))
        self._file = None

    def finish(self) -> list[Part]:
        if self._file is None and not self.parts:
            self._open()  # an empty mart still publishes: a header-only CSV says "no rows", truthfully
        self.close()
        return self.parts


def export_dataset(
    cursor: Cursor,
    dataset: Dataset,
    out_dir: Path,
    limits: Limits,
    *,
    schema: str | None = None,
    batch_rows: int = 10_000,
) -> DatasetExport:
    """Run the dataset's export query and write it as one or more CSV parts under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = f"the mart {dataset.relation.identifier} no longer matches the release (run the dbt build of this release)"
    try:
        cursor.execute(dataset.export_sql(schema))
    except Exception as exc:  # each driver has its own error classes; all mean the same here
        raise ExportError(f"dataset {dataset.name}: the export query failed ({exc}); {stale}") from exc
    got = [str(d[0]).lower() for d in (cursor.description or [])]
    expected = [c.name for c in dataset.columns]
    if got != expected:
        raise ExportError(f"dataset {dataset.name}: the query returned {got}, the bundle publishes {expected}; {stale}")
    writer = _PartWriter(out_dir, dataset.name, _encode_row(expected), limits.max_file_bytes)
    total = 0
    try:
        while rows := cursor.fetchmany(batch_rows):
            for row in rows:
                encoded = _encode_row([csv_value(v) for v in row])
                total += len(encoded)
                if total > limits.max_total_bytes:
                    raise ExportError(
                        f"dataset {dataset.name}: the export passed {limits.max_total_bytes} bytes, the limit "
                        "for one published dataset; publish an aggregate or fewer columns, or raise limits.max_total_mb"
                    )
                writer.add(encoded)
        parts = writer.finish()
    except BaseException:
        writer.close()
        raise
    return DatasetExport(dataset.name, parts)
