"""Write-once evidence objects in an S3 Object Lock bucket.

A record is written once and never overwritten: the writer checks for the key first, and the
write itself is conditional (`If-None-Match: *`), so two concurrent deliveries of the same event
cannot both land. Every object carries its own COMPLIANCE-mode retention date: in compliance mode
nobody, including the account root user, can delete or shorten it before that date. The bucket's
default retention would also apply, but setting it per object means the evidence does not depend
on a bucket setting someone could later lower.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

LOG = logging.getLogger("ledger.store")

OBJECT_LOCK_MODE = "COMPLIANCE"


class EvidenceStoreError(Exception):
    """The evidence bucket refused a read or write in a way that is not "already recorded"."""


class EvidenceTamperedError(EvidenceStoreError):
    """A ledger key has more than one version: something overwrote or deleted a write-once record."""


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(body: dict[str, Any]) -> bytes:
    """Canonical bytes of a record: sorted keys, so the same record always hashes the same."""
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode()


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@dataclass(frozen=True)
class WriteResult:
    key: str
    written: bool  # False: the record was already there (a redelivery), nothing was changed
    retain_until: datetime | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


class EvidenceStore:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        retention_days: int,
        kms_key_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1 (got {retention_days})")
        self.s3 = s3
        self.bucket = bucket
        self.retention_days = retention_days
        self.kms_key_id = kms_key_id
        self.clock = clock
        members = s3.meta.service_model.operation_model("PutObject").input_shape.members
        # The bucket policy denies ledger writes without If-None-Match: a client too old to send it
        # could never record anything, so say so now instead of failing every write.
        if "IfNoneMatch" not in members:
            raise EvidenceStoreError(
                "this boto3/botocore cannot send If-None-Match on PutObject, which the evidence bucket requires "
                "for ledger writes; package boto3 >= 1.35.16 with the function"
            )

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _status(exc) == 404 or _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            if _status(exc) == 403:
                raise EvidenceStoreError(
                    f"s3://{self.bucket}/{key}: HeadObject was denied; the writer needs s3:ListBucket on the "
                    "bucket (without it S3 answers 403 instead of 404 for a missing key) and s3:GetObject"
                ) from exc
            raise
        return True

    def put_record(self, key: str, body: dict[str, Any]) -> WriteResult:
        if self.exists(key):
            LOG.info("already recorded, left unchanged: s3://%s/%s", self.bucket, key)
            return WriteResult(key, written=False)
        retain_until = (self.clock() + timedelta(days=self.retention_days)).replace(microsecond=0)
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": dumps(body),
            "ContentType": "application/json",
            # Object Lock writes must carry an integrity checksum; SHA-256 also lets an auditor
            # compare the stored checksum with the one they compute.
            "ChecksumAlgorithm": "SHA256",
            "ObjectLockMode": OBJECT_LOCK_MODE,
            "ObjectLockRetainUntilDate": retain_until,
            # Create-only: a concurrent delivery of the same event cannot add a second version.
            "IfNoneMatch": "*",
        }
        if self.kms_key_id:
            request["ServerSideEncryption"] = "aws:kms"
            request["SSEKMSKeyId"] = self.kms_key_id
        try:
            self.s3.put_object(**request)
        except Exception as exc:
            code = _error_code(exc)
            if code == "PreconditionFailed" or _status(exc) == 412:
                LOG.info("recorded concurrently by another delivery: s3://%s/%s", self.bucket, key)
                return WriteResult(key, written=False)
            if code == "ConditionalRequestConflict" and self.exists(key):
                return WriteResult(key, written=False)
            raise EvidenceStoreError(f"could not write s3://{self.bucket}/{key}: {code or exc}") from exc
        LOG.info("recorded s3://%s/%s (retained until %s)", self.bucket, key, retain_until.isoformat())
        return WriteResult(key, written=True, retain_until=retain_until)

    def get_bytes(self, key: str) -> bytes:
        self.check_single_version(key)
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def check_single_version(self, key: str) -> None:
        """Refuse to read a record that was ever overwritten or deleted (a second version or a delete marker).

        Object Lock keeps every version, so the original survives, but what a plain GET returns is
        no longer what was written: that is tampering, and nothing should be decided on it."""
        versions = version_counts(self.s3, self.bucket, key).get(key, 0)
        if versions > 1:
            LOG.error(
                "TAMPERING: s3://%s/%s has %d versions; a ledger record is written once", self.bucket, key, versions
            )
            raise EvidenceTamperedError(
                f"s3://{self.bucket}/{key} has {versions} versions (or delete markers): a write-once ledger record "
                "was overwritten or deleted; list them with `aws s3api list-object-versions --bucket "
                f"{self.bucket} --prefix {key}` and treat this as a security incident"
            )

    def get_json(self, key: str) -> dict[str, Any]:
        data = json.loads(self.get_bytes(key))
        if not isinstance(data, dict):
            raise EvidenceStoreError(f"s3://{self.bucket}/{key} is not a JSON object")
        return data

    def list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])


def version_counts(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """How many versions and delete markers each key under `prefix` has (ListObjectVersions)."""
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
            counts[str(entry["Key"])] = counts.get(str(entry["Key"]), 0) + 1
    return counts
