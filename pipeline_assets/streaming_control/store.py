"""S3 operations on checkpoints, snapshots and the raw sink, through an injected boto3 S3 client."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

BATCH_PREFIX = "batch_id="


class StoreError(RuntimeError):
    pass


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> (bucket, "some/prefix/"): prefixes always end with a slash."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StoreError(f"not an s3:// URI: {uri!r}")
    prefix = parsed.path.lstrip("/")
    return parsed.netloc, (prefix.rstrip("/") + "/") if prefix else ""


def keys(s3: Any, bucket: str, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = start_after
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        for item in page.get("Contents", []):
            yield item["Key"]


def read_bytes(s3: Any, bucket: str, key: str) -> bytes:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey as exc:
        raise StoreError(f"s3://{bucket}/{key} does not exist") from exc


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(read_bytes(s3, bucket, key))


def read_json_or_none(s3: Any, bucket: str, key: str) -> Any:
    try:
        return read_json(s3, bucket, key)
    except StoreError:
        return None


def put_json(s3: Any, bucket: str, key: str, body: Any, **extra: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, indent=2, sort_keys=True).encode(), **extra)


def sha256_of(s3: Any, bucket: str, key: str) -> str:
    return hashlib.sha256(read_bytes(s3, bucket, key)).hexdigest()


def delete_keys(s3: Any, bucket: str, names: list[str]) -> int:
    for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1000 keys
        chunk = names[start : start + 1000]
        result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        if result.get("Errors"):
            raise StoreError(
                f"could not delete {len(result['Errors'])} object(s) in s3://{bucket}: {result['Errors'][:3]}"
            )
    return len(names)


def copy_prefix(s3: Any, bucket: str, source: str, target: str, *, skip: tuple[str, ...] = ()) -> int:
    """Server-side copy of every object under source/ to target/ (same relative keys)."""
    copied = 0
    for key in keys(s3, bucket, source):
        relative = key[len(source) :]
        if relative in skip:
            continue
        s3.copy_object(Bucket=bucket, Key=target + relative, CopySource={"Bucket": bucket, "Key": key})
        copied += 1
    return copied


def replace_prefix(s3: Any, bucket: str, target: str, source: str, *, skip: tuple[str, ...] = ()) -> int:
    """Make target/ hold exactly what source/ holds: delete target's objects, then copy source's."""
    delete_keys(s3, bucket, list(keys(s3, bucket, target)))
    return copy_prefix(s3, bucket, source, target, skip=skip)


def last_committed_batch(s3: Any, checkpoint_uri: str) -> int:
    """The highest micro-batch Spark recorded as complete in the checkpoint; -1 when none."""
    bucket, prefix = split_uri(checkpoint_uri)
    committed = [k[len(prefix) + len("commits/") :] for k in keys(s3, bucket, prefix + "commits/")]
    numbers = [int(name) for name in committed if name.isdigit()]
    return max(numbers, default=-1)


def batch_folder(batch_id: int) -> str:
    return f"{BATCH_PREFIX}{batch_id:010d}/"


def prune_batches_after(s3: Any, sink_uri: str, batch_id: int) -> int:
    """Delete sink output of micro-batches after `batch_id` (zero-padded ids sort in batch order).

    Used when a checkpoint goes back to a snapshot: the batches after it will be planned again,
    possibly over different offset ranges, so their earlier output must not stay beside the new.
    """
    bucket, prefix = split_uri(sink_uri)
    # "~" sorts after every character a batch folder's files use: start after all of batch_id's files.
    start_after = prefix + batch_folder(batch_id) + "~" if batch_id >= 0 else None
    doomed = list(keys(s3, bucket, prefix + BATCH_PREFIX, start_after=start_after))
    return delete_keys(s3, bucket, doomed)
