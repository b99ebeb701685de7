"""Where passed check results are kept, by check name and input key: a local folder or an S3 prefix.

GATE_CACHE_URI selects the store: unset, the local build/gate/cache; `s3://bucket/prefix` an S3 prefix
(CodeBuild shares results between builds that way); any other value a local folder. With
GATE_CACHE_READONLY=1 results are read but never written: pull-request builds read what main's builds
stored, and their role cannot write there anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

LOCAL_DIR = "build/gate/cache"
KEY = re.compile(r"^[0-9a-f]{16,64}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class CacheError(Exception):
    """The store could not be written; the result stands, it is just not shared."""


class CacheStore(Protocol):
    def get(self, check: str, key: str) -> dict[str, Any] | None: ...

    def put(self, check: str, key: str, entry: dict[str, Any]) -> None: ...

    def describe(self) -> str: ...


def _object_name(check: str, key: str) -> str:
    # Both parts end up in a path or an S3 key: refuse anything that could climb out of the store.
    if not NAME.match(check) or not KEY.match(key):
        raise CacheError(f"invalid cache entry name {check!r}/{key!r}")
    return f"{check}/{key}.json"


class LocalStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, check: str, key: str) -> dict[str, Any] | None:
        path = self.directory / _object_name(check, key)
        try:
            entry = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # missing or half-written: run the check
        return entry if isinstance(entry, dict) else None

    def put(self, check: str, key: str, entry: dict[str, Any]) -> None:
        path = self.directory / _object_name(check, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(entry, indent=2) + "\n")
        partial.replace(path)  # atomic: a parallel reader never sees half an entry

    def describe(self) -> str:
        return str(self.directory)


class S3Store:
    """Entries as s3://bucket/prefix/<check>/<key>.json; a missing object or a denied read is a miss."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix.strip("/"), client

    def _key(self, check: str, key: str) -> str:
        name = _object_name(check, key)
        return f"{self.prefix}/{name}" if self.prefix else name

    def get(self, check: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(check, key))["Body"].read()
            entry = json.loads(body)
        except (ClientError, BotoCoreError, json.JSONDecodeError):
            return None
        return entry if isinstance(entry, dict) else None

    def put(self, check: str, key: str, entry: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        body = (json.dumps(entry, indent=2) + "\n").encode()
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(check, key), Body=body, ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as exc:
            raise CacheError(
                f"cannot store the {check} result in s3://{self.bucket}/{self._key(check, key)}: {exc}; "
                "set GATE_CACHE_READONLY=1 where the build role may only read the cache"
            ) from exc

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class ReadOnlyStore:
    def __init__(self, inner: CacheStore) -> None:
        self.inner = inner

    def get(self, check: str, key: str) -> dict[str, Any] | None:
        return self.inner.get(check, key)

    def put(self, check: str, key: str, entry: dict[str, Any]) -> None:
        return None

    def describe(self) -> str:
        return f"{self.inner.describe()} (read-only)"


def store_from_env(root: Path, env: Mapping[str, str], s3_client: Any = None) -> CacheStore:
    """The store GATE_CACHE_URI names (default: build/gate/cache), read-only under GATE_CACHE_READONLY=1."""
    uri = env.get("GATE_CACHE_URI", "").strip()
    store: CacheStore
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise CacheError(f"GATE_CACHE_URI={uri!r} names no bucket; use s3://<bucket>/<prefix>")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        store = S3Store(bucket, prefix, s3_client)
    else:
        store = LocalStore(Path(uri) if uri else root / LOCAL_DIR)
    readonly = env.get("GATE_CACHE_READONLY", "").strip().lower()
    if readonly not in ("", "0", "1", "true", "false", "yes", "no"):
        raise CacheError(f"GATE_CACHE_READONLY={readonly!r}: use 1 (read only) or 0")
    return ReadOnlyStore(store) if readonly in ("1", "true", "yes") else store
