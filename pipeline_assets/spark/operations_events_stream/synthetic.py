"""Deterministic synthetic operations events: tests, the benchmark and staging smoke producers use them.

No production data below prod: everything here is generated from a seed.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

EVENT_TYPES = ("SHIPMENT_CREATED", "SHIPMENT_DELIVERED", "TICKET_OPENED", "TICKET_RESOLVED")
SOURCES = ("wms", "helpdesk")
# timezone.utc, not datetime.UTC: this module ships to EMR, whose Python is 3.9.
EPOCH = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)  # noqa: UP017


def events(count: int, *, seed: int = 7, start: dt.datetime = EPOCH, step_ms: int = 25) -> list[dict[str, Any]]:
    """`count` valid events of the current schema, occurred_at increasing by step_ms."""
    rng = random.Random(seed)  # noqa: S311 (reproducible synthetic data, not secrets)
    out = []
    for index in range(count):
        event_type = EVENT_TYPES[rng.randrange(len(EVENT_TYPES))]
        out.append(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": event_type,
                "occurred_at": start + dt.timedelta(milliseconds=index * step_ms),
                "account_id": f"A-{rng.randrange(1, 5000):05d}",
                "source_system": SOURCES[0] if event_type.startswith("SHIPMENT") else SOURCES[1],
                "attributes": {"priority": str(rng.randrange(1, 4))},
                "site_id": f"S-{rng.randrange(1, 40):02d}" if rng.random() < 0.8 else None,
                "duration_ms": rng.randrange(1_000, 900_000)
                if event_type.endswith(("DELIVERED", "RESOLVED"))
                else None,
            }
        )
    return out


def kafka_rows(
    values: list[bytes | None],
    *,
    topic: str,
    partition: int = 0,
    first_offset: int = 0,
    timestamp: dt.datetime = EPOCH,
    step_ms: int = 25,
) -> list[tuple[Any, ...]]:
    """Rows shaped like the Spark Kafka source's (key, value, topic, partition, offset, timestamp, timestampType)."""
    return [
        (None, value, topic, partition, first_offset + i, timestamp + dt.timedelta(milliseconds=i * step_ms), 0)
        for i, value in enumerate(values)
    ]
