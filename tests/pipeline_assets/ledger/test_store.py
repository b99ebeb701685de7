"""The evidence store against moto S3: every write is create-only, and a record with history is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline_assets.ledger.store import EvidenceStore, EvidenceStoreError, EvidenceTamperedError, version_counts

BUCKET = "evidence-bucket"
KEY = "ledger/v1/dt=2026-03-02/pipeline/DataPlatformDelivery/e1/execution/SUCCEEDED-attempt1.json"
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


class RecordingClient:
    """The real (moto) client, with every put_object's parameters kept for the test to read."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.puts: list[dict[str, Any]] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append(kwargs)
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def s3(object_lock_bucket):
    return object_lock_bucket(BUCKET)


def test_every_record_is_written_create_only(s3):
    client = RecordingClient(s3)
    store = EvidenceStore(client, BUCKET, retention_days=2557, clock=lambda: NOW)

    assert store.put_record(KEY, {"kind": "pipeline-execution"}).written

    [put] = client.puts
    assert put["IfNoneMatch"] == "*"
    assert put["ObjectLockMode"] == "COMPLIANCE"


def test_a_client_that_cannot_send_if_none_match_is_refused_up_front():
    members = {"Bucket": None, "Key": None, "Body": None}
    old_client = SimpleNamespace(
        meta=SimpleNamespace(
            service_model=SimpleNamespace(
                operation_model=lambda _name: SimpleNamespace(input_shape=SimpleNamespace(members=members))
            )
        )
    )
    with pytest.raises(EvidenceStoreError, match=r"cannot send If-None-Match.*boto3 >= 1\.35\.16"):
        EvidenceStore(old_client, BUCKET, retention_days=1)


def test_a_record_written_once_reads_back(s3):
    store = EvidenceStore(s3, BUCKET, retention_days=1, clock=lambda: NOW)
    store.put_record(KEY, {"kind": "pipeline-execution"})

    assert store.get_json(KEY) == {"kind": "pipeline-execution"}
    assert version_counts(s3, BUCKET, KEY) == {KEY: 1}


@pytest.mark.parametrize("tamper", ["overwrite", "delete"])
def test_a_record_with_a_second_version_or_a_delete_marker_is_refused_loudly(s3, caplog, tamper):
    store = EvidenceStore(s3, BUCKET, retention_days=1, clock=lambda: NOW)
    store.put_record(KEY, {"kind": "pipeline-execution", "approver": "alice"})
    # What the bucket policy denies in AWS, done here directly (moto does not evaluate bucket policies).
    if tamper == "overwrite":
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"kind": "pipeline-execution", "approver": "mallory"}')
    else:
        s3.delete_object(Bucket=BUCKET, Key=KEY)

    with pytest.raises(EvidenceTamperedError, match=r"has 2 versions .*list-object-versions.*security incident"):
        store.get_json(KEY)
    assert any("TAMPERING" in r.message and r.levelname == "ERROR" for r in caplog.records)
