"""Kafka client code and the streaming transform on what a real broker returns.

Locally: an Apache Kafka broker on 127.0.0.1 (KRaft, tests/conftest.py) behind confluent_kafka. In staging:
confluent_kafka (librdkafka) against MSK on an ephemeral topic. Spark's own Kafka source reading a real broker
is tested in tests/cicd/rehearsal/test_streaming.py (see docs/external-systems.md).
"""

import pytest

from pipeline_assets import schemas
from pipeline_assets.spark.operations_events_stream import job, kafka_clients, synthetic

pytestmark = pytest.mark.external

SCHEMA = schemas.current_schema("operations.events.v1-value")


@pytest.fixture(scope="module")
def delivered(kafka):
    """Events published once, with one producer retry (same event again) and one foreign payload."""
    events = synthetic.events(30, seed=41)
    count = kafka_clients.publish(
        kafka.producer, kafka.topic, [*events, events[0]], schema=SCHEMA, partitions=kafka.partitions, raw=[b"{}"]
    )
    messages = kafka_clients.consume(kafka.consumer, kafka.topic, expected=count, timeout_s=60)
    return events, messages


def test_every_message_comes_back_in_order_within_its_partition(kafka, delivered):
    events, messages = delivered
    assert len(messages) == len(events) + 2
    by_partition = {}
    for message in messages:
        by_partition.setdefault(message.partition(), []).append(message.key())
    for partition, keys in by_partition.items():
        produced = [e["event_id"].encode() for e in [*events, events[0]]]
        produced += [b"raw"]
        expected = [k for k in produced if kafka_clients.partition_for(k, kafka.partitions) == partition]
        assert keys == expected
    assert {m.topic() for m in messages} == {kafka.topic}


def test_consumed_messages_carry_the_brokers_offsets_and_timestamps(kafka, delivered):
    _, messages = delivered
    by_partition: dict[int, list[int]] = {}
    for message in messages:
        by_partition.setdefault(message.partition(), []).append(message.offset())
        kind, millis = message.timestamp()
        assert kind != 0 and millis > 0  # TIMESTAMP_NOT_AVAILABLE is 0
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))  # a fresh topic: every partition from offset 0, no gap


def test_streaming_transform_on_consumed_records(spark, delivered):
    events, messages = delivered
    rows = kafka_clients.as_kafka_rows(messages)
    result = job.transform(spark.createDataFrame(rows, job.KAFKA_RECORD)).collect()
    valid = sorted(r.event_id for r in result if r.quarantine_reason is None)
    assert valid == sorted(e["event_id"] for e in events)  # the retried event once
    [bad] = [r for r in result if r.quarantine_reason is not None]
    assert bad.quarantine_reason == "not_single_object_encoded" and bytes(bad.raw_value) == b"{}"
