"""The stream tally: what landed, by event_id, against what was produced."""

from __future__ import annotations

import io
from collections import Counter

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from moto import mock_aws

from cicd.rehearsal.stream import landed_event_ids, tally


def parquet(ids: list[str]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"event_id": ids, "event_type": ["x"] * len(ids)}), buffer)
    return buffer.getvalue()


def test_the_tally_names_lost_duplicated_and_unexpected_events():
    result = tally(["a", "b", "c"], Counter({"a": 1, "b": 2, "z": 1}))
    assert (result.lost, result.duplicated, result.unexpected) == (("c",), ("b",), ("z",))
    assert not result.ok
    assert result.summary() == ("events produced 3, landed rows 4: lost 1, duplicated 1, never produced 1")


def test_every_produced_event_landed_once_is_ok():
    assert tally(["a", "b"], Counter({"a": 1, "b": 1})).ok


def test_landed_ids_come_from_every_committed_batch_and_skip_work_in_progress():
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="raw", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        prefix = "landing/operations_events/"
        s3.put_object(Bucket="raw", Key=f"{prefix}batch_id=0000000000/part-1.snappy.parquet", Body=parquet(["a", "b"]))
        s3.put_object(Bucket="raw", Key=f"{prefix}batch_id=0000000001/part-1.snappy.parquet", Body=parquet(["b"]))
        s3.put_object(Bucket="raw", Key=f"{prefix}batch_id=0000000001/_SUCCESS", Body=b"")
        s3.put_object(Bucket="raw", Key=f"{prefix}batch_id=0000000002/_temporary/0/part-1.parquet", Body=parquet(["c"]))
        assert landed_event_ids(s3, f"s3://raw/{prefix}") == Counter({"a": 1, "b": 2})
