"""Fault injection on the ledger writer: at every S3 step of recording a pipeline transition and build evidence.

The evidence bucket is an Object Lock bucket on moto; each fault gets an event of its own (a new
execution id), since a record can never be deleted. Invariants after each fault:
  - the record is there exactly once (one version) with the body a clean write gives, or not at all,
    and in that case the invocation failed (so EventBridge / Lambda deliver the event again);
  - the redelivery without the fault converges: one version, the expected body, written=False when
    the first attempt had already landed.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pipeline_assets.ledger.handler import record_event
from pipeline_assets.ledger.store import EvidenceStore, version_counts
from tests.fault_injection import faults, inject, pick, record_steps

EVENTS = Path(__file__).resolve().parents[2] / "fixtures" / "codepipeline_events"
BUCKET = "evidence-bucket"
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
EXECUTION = "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"


def transition() -> dict:
    """A pipeline transition of an execution nobody recorded yet."""
    event = json.loads((EVENTS / "pipeline_started.json").read_text())
    event["detail"]["execution-id"] = str(uuid.uuid4())
    return event


def build_evidence(s3) -> dict:
    """A gate report uploaded by a build nobody recorded yet, and its S3 notification."""
    event = json.loads((EVENTS / "s3_object_created_gate_report.json").read_text())
    key = event["detail"]["object"]["key"].replace(EXECUTION, str(uuid.uuid4()))
    event["detail"]["object"]["key"] = key
    report = {"passed": True, "scope": "all", "finished_at": "2026-03-02T09:27:40+00:00", "checks": []}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(report).encode())
    return event


def record_under(store: EvidenceStore, checks, tally, fault, event: dict) -> None:
    tally.fault(fault)
    clean_store = EvidenceStore(checks, BUCKET, retention_days=store.retention_days, clock=store.clock)
    with inject(fault, {"s3": store.s3}) as injector:
        try:
            result = record_event(copy.deepcopy(event), store=store)
            failed = None
        except Exception as exc:
            result, failed = None, exc
    tally.check("the fault was reached", injector.fired)
    again = record_event(copy.deepcopy(event), store=clean_store)  # the redelivery
    versions = version_counts(checks, BUCKET, again.key).get(again.key, 0)
    tally.check("the record exists exactly once after the redelivery", versions == 1, f"{versions} versions")
    if result is not None:
        tally.check("a write that returned landed", not again.written)
    else:
        tally.check("a failed invocation raised", failed is not None)
    body = json.loads(checks.get_object(Bucket=BUCKET, Key=again.key)["Body"].read())
    if "execution-id" in event["detail"]:
        holds = body.get("execution_id") == event["detail"]["execution-id"] and body.get("event") == event
    else:
        holds = body.get("artifact", {}).get("key") == event["detail"]["object"]["key"]
    tally.check("the record holds this event", holds)


def test_every_fault_at_every_s3_step_records_once_or_fails_for_a_redelivery(object_lock_bucket, fault_tally):
    s3 = object_lock_bucket(BUCKET)
    checks = s3  # reads for the checks go through the same client, after the injector is gone
    store = EvidenceStore(s3, BUCKET, retention_days=2557, clock=lambda: NOW)
    tally = fault_tally("ledger writer")
    for make in (lambda: transition(), lambda: build_evidence(s3)):
        sample = make()  # its upload is the build's, not a step of the writer
        with record_steps({"s3": s3}) as steps:
            assert record_event(sample, store=store).written
        for fault in faults(pick(steps)):
            record_under(store, checks, tally, fault, make())
    tally.assert_all_held()
