"""Kafka client code around the operations topic: publish events as the contract says, read them back.

Used by the staging smoke run (synthetic events into the staging MSK topic) and the
external-system tests. The clients are passed in: confluent_kafka's Producer/Consumer against a
real broker, or mockafka's in-process FakeProducer/FakeConsumer (same API) locally.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from pipeline_assets.spark.operations_events_stream.codec import encode

KAFKA_CREATE_TIME = 0  # timestampType of the Spark Kafka source for producer-set timestamps


class KafkaClientError(RuntimeError):
    pass


def partition_for(key: bytes, partitions: int) -> int:
    """A stable partition per event id, so retries of an event land where the original did.

    Chosen here rather than by the client's partitioner: the in-process fake has none, and a
    stable choice keeps per-key ordering the same against the fake and a real broker.
    """
    return zlib.crc32(key) % partitions


def publish(
    producer: Any,
    topic: str,
    events: Iterable[dict[str, Any]],
    *,
    schema: Any,
    partitions: int,
    raw: Iterable[bytes] = (),
    flush_timeout_s: float = 30,
) -> int:
    """Produce events (single-object encoded) plus any raw payloads; raise if any is not delivered."""
    failures: list[str] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    count = 0
    payloads = [(e["event_id"].encode(), encode(e, schema)) for e in events] + [(b"raw", r) for r in raw]
    for key, value in payloads:
        producer.produce(topic, value=value, key=key, partition=partition_for(key, partitions), on_delivery=delivered)
        producer.poll(0)
        count += 1
    remaining = producer.flush(flush_timeout_s)
    if remaining or failures:
        raise KafkaClientError(
            f"{remaining} message(s) undelivered after {flush_timeout_s} s; failures: {failures[:5]}"
        )
    return count


def consume(
    consumer: Any,
    topic: str,
    *,
    expected: int,
    timeout_s: float = 60,
    clock: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """Read until `expected` messages arrived or the timeout passed; broker errors raise."""
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = clock() + timeout_s
    while len(messages) < expected and clock() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error() is not None:
            raise KafkaClientError(f"consuming {topic}: {message.error()}")
        messages.append(message)
    if messages:
        consumer.commit(asynchronous=False)  # the group's position moves only once everything was read
    return messages


def as_kafka_rows(messages: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Messages in the Spark Kafka source's column order (KAFKA_RECORD), to feed the streaming transform."""
    rows = []
    for message in messages:
        _, millis = message.timestamp()
        timestamp = dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc)  # noqa: UP017 (EMR Python 3.9)
        rows.append(
            (
                message.key(),
                message.value(),
                message.topic(),
                message.partition(),
                message.offset(),
                timestamp,
                KAFKA_CREATE_TIME,
            )
        )
    return rows
