"""Where the report reads the ledger from: the evidence bucket, or a local copy of it.

Both expose the same keys (`ledger/v1/...`), so an auditor can be handed a folder (an `aws s3 sync`
of the bucket) and get the same report as from the bucket itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from pipeline_assets.ledger import layout
from pipeline_assets.ledger.store import version_counts

# S3 GETs are latency-bound; a few dozen in flight read a quarter's ledger in seconds.
READ_WORKERS = 32


class LedgerError(Exception):
    """The ledger could not be read, or a record in it is not valid JSON."""


class LedgerSource(Protocol):
    def describe(self) -> str: ...

    def list_keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]: ...

    def read(self, key: str) -> bytes: ...

    def multi_version_keys(self, prefix: str) -> dict[str, int] | None:
        """Keys under `prefix` with more than one version or a delete marker; None: this source has no versions."""
        ...


@dataclass(frozen=True)
class S3LedgerSource:
    client: Any
    bucket: str

    def describe(self) -> str:
        return f"s3://{self.bucket}/{layout.LEDGER_ROOT}/"

    def list_keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", []):
                    yield str(item["Key"])
        except Exception as exc:
            raise LedgerError(f"cannot list s3://{self.bucket}/{prefix}: {exc}") from exc

    def read(self, key: str) -> bytes:
        try:
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise LedgerError(f"cannot read s3://{self.bucket}/{key}: {exc}") from exc
        return data

    def multi_version_keys(self, prefix: str) -> dict[str, int] | None:
        try:
            counts = version_counts(self.client, self.bucket, prefix)
        except Exception as exc:
            raise LedgerError(
                f"cannot list versions of s3://{self.bucket}/{prefix} (the reader needs s3:ListBucketVersions): {exc}"
            ) from exc
        return {key: count for key, count in counts.items() if count > 1}


@dataclass(frozen=True)
class LocalLedgerSource:
    root: Path

    def describe(self) -> str:
        return f"{self.root}/{layout.LEDGER_ROOT}/"

    def list_keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        if not (self.root / layout.LEDGER_ROOT).is_dir():
            raise LedgerError(
                f"{self.root} holds no ledger: expected {self.root / layout.LEDGER_ROOT} "
                "(a copy of the evidence bucket, e.g. `aws s3 sync s3://<bucket>/ledger ./ledger`)"
            )
        keys = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*.json") if p.is_file())
        for key in sorted(keys):
            if key.startswith(prefix) and (start_after is None or key > start_after):
                yield key

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise LedgerError(f"cannot read {self.root / key}: {exc}") from exc

    def multi_version_keys(self, prefix: str) -> dict[str, int] | None:
        return None  # a copy holds one version per key; check the bucket itself for overwrites


@dataclass(frozen=True)
class LoadedLedger:
    records: list[dict[str, Any]]
    first_day: date
    last_day: date
    # Keys read that have more than one version (overwritten or deleted records); None: not checkable.
    tampered: dict[str, int] | None = None


def load(source: LedgerSource, *, since: date, until: date, lookback_days: int, lookahead_days: int) -> LoadedLedger:
    """Every record in the day partitions around the period, plus all review records.

    The window is wider than the period: an approval can wait days, and an execution deployed on
    the last day finishes (or rolls back) after it."""
    first, last = since - timedelta(days=lookback_days), until + timedelta(days=lookahead_days)
    keys: list[str] = []
    start_after = f"{layout.PARTITION_PREFIX}{(first - timedelta(days=1)).isoformat()}/~"
    for key in source.list_keys(layout.PARTITION_PREFIX, start_after=start_after):
        day = layout.partition_day(key)
        if day is None:
            continue
        if day > last:
            break
        if day >= first:
            keys.append(key)
    keys += list(source.list_keys(layout.REVIEWS_PREFIX))
    tampered = _tampered(source, first, last)

    def parse(key: str) -> dict[str, Any]:
        try:
            record = json.loads(source.read(key))
        except ValueError as exc:
            raise LedgerError(
                f"{source.describe()}{key.removeprefix(layout.LEDGER_ROOT + '/')} is not JSON: {exc}"
            ) from exc
        if not isinstance(record, dict) or "kind" not in record:
            raise LedgerError(f"{key} is not a ledger record (no 'kind')")
        record["_key"] = key
        return record

    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        records = list(pool.map(parse, keys))
    return LoadedLedger(records, first, last, tampered)


def _tampered(source: LedgerSource, first: date, last: date) -> dict[str, int] | None:
    """Records with history (overwritten, or deleted and so no longer listed) in the partitions read.

    One listing per day partition: the window is bounded, and the days list in parallel."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    prefixes = [f"{layout.PARTITION_PREFIX}{day.isoformat()}/" for day in days] + [layout.REVIEWS_PREFIX]
    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        found = list(pool.map(source.multi_version_keys, prefixes))
    if any(part is None for part in found):
        return None
    return dict(sorted(item for part in found if part for item in part.items()))
