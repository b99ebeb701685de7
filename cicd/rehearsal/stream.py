"""The stream under test: a steady producer on the real broker, and the tally of what the job landed, by key.

Every event carries a unique event_id; `tally` compares the ids produced with the event_id of every row the
streaming job wrote under its landing prefix (all batch_id=… folders): an id never landed is lost, an id
landed twice is duplicated. Both must be 0 through any redeploy, rollback or refusal.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

TOPIC = "operations.events.v1"
SUBJECT = "operations.events.v1-value"


class StreamCheckError(RuntimeError):
    pass


@dataclass(frozen=True)
class Tally:
    produced: int
    landed_rows: int
    lost: tuple[str, ...]  # produced, never landed
    duplicated: tuple[str, ...]  # landed more than once
    unexpected: tuple[str, ...]  # landed, never produced

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected)

    def summary(self) -> str:
        return (
            f"events produced {self.produced}, landed rows {self.landed_rows}: lost {len(self.lost)}, "
            f"duplicated {len(self.duplicated)}, never produced {len(self.unexpected)}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "landed_rows": self.landed_rows,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "unexpected": len(self.unexpected),
            "examples": {"lost": list(self.lost[:5]), "duplicated": list(self.duplicated[:5])},
        }


def tally(produced: Iterable[str], landed: Counter[str]) -> Tally:
    wanted = set(produced)
    return Tally(
        produced=len(wanted),
        landed_rows=sum(landed.values()),
        lost=tuple(sorted(wanted - set(landed))),
        duplicated=tuple(sorted(key for key, count in landed.items() if count > 1)),
        unexpected=tuple(sorted(set(landed) - wanted)),
    )


def landed_event_ids(s3: Any, output_uri: str) -> Counter[str]:
    """event_id of every row in the committed Parquet files under the landing prefix."""
    import pyarrow.parquet as pq

    parsed = urlparse(output_uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    counts: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith(".parquet") or "/_temporary/" in key:
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            counts.update(str(value) for value in pq.read_table(io.BytesIO(body), columns=["event_id"])["event_id"])
    return counts


@dataclass
class SteadyProducer:
    """Publishes synthetic events at `rate_per_s` from a background thread until stopped."""

    bootstrap: str
    topic: str = TOPIC
    rate_per_s: float = 40
    partitions: int = 3
    tick_s: float = 0.25
    # Seeds of the synthetic events: a producer of its own never repeats another one's event ids.
    seed_base: int = field(default_factory=lambda: random.randrange(1 << 40))  # noqa: S311 (not a secret)
    produced: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> SteadyProducer:
        self._thread = threading.Thread(target=self._run, name="steady-producer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from confluent_kafka import Producer

        from pipeline_assets import schemas
        from pipeline_assets.spark.operations_events_stream import kafka_clients, synthetic

        schema = schemas.current_schema(SUBJECT)
        producer = Producer({"bootstrap.servers": self.bootstrap, "log_level": 0, "enable.idempotence": True})
        per_tick, chunk, carry = self.rate_per_s * self.tick_s, 0, 0.0
        while not self._stop.is_set():
            began = time.monotonic()
            carry += per_tick
            count, carry = int(carry), carry - int(carry)
            if count:
                events = synthetic.events(count, seed=self.seed_base + chunk)
                chunk += 1
                try:
                    kafka_clients.publish(producer, self.topic, events, schema=schema, partitions=self.partitions)
                except kafka_clients.KafkaClientError as exc:  # not delivered: not counted as produced
                    self.errors.append(str(exc))
                else:
                    self.produced.extend(event["event_id"] for event in events)
            self._stop.wait(max(0.0, self.tick_s - (time.monotonic() - began)))

    def halt(self) -> None:
        """Stop producing without judging what was delivered (the rehearsal is being torn down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def stop(self) -> list[str]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.errors:
            raise StreamCheckError(f"the producer could not deliver: {self.errors[:3]}")
        return list(self.produced)


def wait_until_landed(
    s3: Any,
    output_uri: str,
    produced: list[str],
    *,
    timeout_s: float,
    poll_s: float = 2,
    clock: Callable[[], float] = time.monotonic,
) -> Tally:
    """Poll the landing prefix until every produced event landed (or the timeout); the last tally either way."""
    deadline = clock() + timeout_s
    while True:
        result = tally(produced, landed_event_ids(s3, output_uri))
        if not result.lost or clock() > deadline:
            return result
        time.sleep(poll_s)
