"""Ledger writer Lambda: EventBridge events in, write-once JSON records in the evidence bucket out.

Handler: `pipeline_assets.ledger.handler.handler`. Inputs (environment):
  EVIDENCE_BUCKET            the Object Lock bucket (also where the synth step uploads incoming/)
  EVIDENCE_RETENTION_DAYS    COMPLIANCE retention set on every record, in days (prod: >= 2557)
  EVIDENCE_KMS_KEY_ARN       optional: SSE-KMS key for the records (else the bucket default applies)
  LEDGER_ENRICH              "false" turns off the CodePipeline API look-ups (default: on)

A malformed or unsupported event raises: the invocation fails, EventBridge/Lambda retry it and
then park it on the function's failure destination, where an alarm makes the gap visible. An
event dropped silently would be a hole in the evidence.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from pipeline_assets.ledger import layout, records
from pipeline_assets.ledger.enrich import enrich
from pipeline_assets.ledger.records import EventError
from pipeline_assets.ledger.store import EvidenceStore, WriteResult

LOG = logging.getLogger("ledger")
LOG.setLevel(logging.INFO)


@dataclass(frozen=True)
class Settings:
    bucket: str
    retention_days: int
    kms_key_id: str | None
    enrich: bool

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        bucket = env.get("EVIDENCE_BUCKET", "").strip()
        if not bucket:
            raise RuntimeError("EVIDENCE_BUCKET is not set: the ledger Lambda needs the evidence bucket's name")
        raw_days = env.get("EVIDENCE_RETENTION_DAYS", "").strip()
        if not raw_days.isdigit() or int(raw_days) < 1:
            raise RuntimeError(
                f"EVIDENCE_RETENTION_DAYS must be a whole number of days >= 1 (got {raw_days!r}); "
                "prod keeps SOC 2 evidence for 7 years (2557 days)"
            )
        return cls(
            bucket=bucket,
            retention_days=int(raw_days),
            kms_key_id=env.get("EVIDENCE_KMS_KEY_ARN") or None,
            enrich=env.get("LEDGER_ENRICH", "true").lower() != "false",
        )


def record_event(
    event: dict[str, Any],
    *,
    store: EvidenceStore,
    codepipeline: Any | None = None,
    clock: Callable[[], datetime] | None = None,
) -> WriteResult:
    """Write the record for one event. Idempotent: a redelivered event returns written=False."""
    kind = records.classify(event)
    now = (clock or store.clock)()
    if kind == "codepipeline":
        record = records.codepipeline_record(event, recorded_at=now)
        if store.exists(record.key):
            # A redelivery: skip the API look-ups as well as the write.
            return WriteResult(record.key, written=False)
        enrichment = enrich(record.body["transition"], codepipeline) if codepipeline is not None else None
        if enrichment:
            record = records.codepipeline_record(event, recorded_at=now, enrichment=enrichment)
    elif kind == "approval-api":
        record = records.approval_api_record(event, recorded_at=now)
    elif kind in ("cloudformation", "cloudformation-api"):
        record = records.stack_change_record(event, recorded_at=now)
    else:
        record = _incoming_record(event, store=store, now=now)
    return store.put_record(record.key, record.body)


def _incoming_record(event: dict[str, Any], *, store: EvidenceStore, now: datetime) -> records.LedgerRecord:
    detail = event.get("detail") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    obj = detail.get("object") or {}
    key = unquote_plus(str(obj.get("key") or ""))
    parsed = layout.parse_incoming_key(key)
    if not bucket or parsed is None:
        raise EventError(
            f"S3 object {bucket}/{key} is not build evidence: expected "
            f"{layout.INCOMING_PREFIX}<pipeline>/<execution-id>/<upload-id>/<one of {', '.join(layout.INCOMING_FILES)}>"
        )
    pipeline, execution_id, name = parsed
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if obj.get("version-id"):
        request["VersionId"] = obj["version-id"]
    raw = store.s3.get_object(**request)["Body"].read()
    return records.build_evidence_record(
        pipeline=pipeline,
        execution_id=execution_id,
        name=name,
        raw=raw,
        location={"bucket": bucket, "key": key, "version_id": obj.get("version-id"), "etag": obj.get("etag")},
        uploaded_at=records.parse_time(event.get("time"), "time"),
        recorded_at=now,
    )


_CLIENTS: dict[str, Any] = {}


def _client(name: str) -> Any:
    # Created on first use, not at import: importing the module (tests, cold start) makes no AWS call.
    if name not in _CLIENTS:
        import boto3

        _CLIENTS[name] = boto3.client(name)
    return _CLIENTS[name]


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    settings = Settings.from_env()
    store = EvidenceStore(
        _client("s3"), settings.bucket, retention_days=settings.retention_days, kms_key_id=settings.kms_key_id
    )
    result = record_event(event, store=store, codepipeline=_client("codepipeline") if settings.enrich else None)
    return {"key": result.key, "written": result.written}
