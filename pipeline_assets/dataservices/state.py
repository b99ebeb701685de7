"""What has been published, kept as small JSON objects in S3 (the publish markers).

    <prefix><service>/published/<publish_key>.json   one per version that reached the assistant
    <prefix><service>/current.json                   the version the assistant serves now
    <prefix><service>/uploads/<publish_key>.json     the files of a version, written before they are sent
    <prefix><service>/orphans.json                   files the last sweep found that nothing uses

A marker is written only after the assistant switched to the version, and current.json only after
the marker, so a crash at any point leaves at worst a version that is live but not yet marked;
the publisher then finds its publish key in the assistant's active revision and repairs the marker
instead of uploading again.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


class StateError(Exception):
    """S3 refused a read or write of the publish state; the message names the object."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


class PublishState:
    def __init__(self, s3: Any, bucket: str, prefix: str):
        self.s3, self.bucket = s3, bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def _key(self, service: str, name: str) -> str:
        return f"{self.prefix}{service}/{name}"

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise StateError(f"could not read s3://{self.bucket}/{key} ({_reason(exc)})") from exc
        except Exception as exc:
            raise StateError(f"could not read s3://{self.bucket}/{key} ({_reason(exc)})") from exc
        document = json.loads(body)
        return document if isinstance(document, dict) else None

    def _put(self, key: str, document: dict[str, Any]) -> None:
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=(json.dumps(document, indent=2, sort_keys=True) + "\n").encode(),
                ContentType="application/json",
            )
        except Exception as exc:
            raise StateError(f"could not write s3://{self.bucket}/{key} ({_reason(exc)})") from exc

    def current(self, service: str) -> dict[str, Any] | None:
        return self._get(self._key(service, "current.json"))

    def is_current(self, service: str, publish_key: str) -> bool:
        current = self.current(service)
        if not current or current.get("publish_key") != publish_key:
            return False
        return self._get(self._key(service, f"published/{publish_key}.json")) is not None

    def record_uploads(self, service: str, publish_key: str, names: list[str]) -> None:
        """Before the first byte is sent: a partial upload must still be findable by the sweep."""
        self._put(self._key(service, f"uploads/{publish_key}.json"), {"publish_key": publish_key, "files": names})

    def uploads(self, service: str) -> dict[str, list[str]]:
        """publish key -> the file names uploaded (or about to be) for that version."""
        found: dict[str, list[str]] = {}
        prefix = self._key(service, "uploads/")
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                document = self._get(item["Key"]) or {}
                if document.get("publish_key"):
                    found[str(document["publish_key"])] = [str(n) for n in document.get("files") or []]
        return found

    def forget_uploads(self, service: str, publish_key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(service, f"uploads/{publish_key}.json"))

    def record_orphans(self, service: str, document: dict[str, Any]) -> None:
        self._put(self._key(service, "orphans.json"), document)

    def record(self, service: str, document: dict[str, Any]) -> None:
        key = document["publish_key"]
        self._put(self._key(service, f"published/{key}.json"), document)
        self._put(self._key(service, "current.json"), document)
