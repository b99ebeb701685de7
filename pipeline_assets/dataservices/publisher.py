"""Publish one data service to its Data Analyst Assistant: export, upload, wait, switch, record.

Never a half-published dataset as the current one. The assistant API has no alias or swap for
datasets, so the switch is made with what it does document:

1. every dataset is uploaded under a new, content-versioned name (`<dataset>_v_<version>`, plus
   `_part_<xx>` when cut into parts) through POST /assistant/{id}/datasets/extend, next to the
   version users query now, which the active revision's metadata still describes;
2. the publisher polls GET /assistant/{id}/status until the load is ready (or failed, or the
   timeout passes: then it stops, and the previous version stays the current one);
3. only then it publishes a new assistant revision whose metadata names the new files
   (PUT /assistant/{id}, action savePublishNewRevision), waits for ready again, and
4. records the version in S3 (marker, then current.json), and
5. sweeps the files no kept version uses (sweep.py): parts of a publish that stopped half-way and
   the files of versions older than the previous one.

Idempotent: the publish key is a hash of the bundle and of the exported CSV bytes. When S3 says that
key is current, or the assistant's active revision carries it, nothing is uploaded again; and
because upload names derive from the content, a retried upload replaces the same file instead of
adding a second copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_assets.dataservices import metadata as md
from pipeline_assets.dataservices.bundle import ServiceBundle
from pipeline_assets.dataservices.client import GeaiClient, LoadStatus
from pipeline_assets.dataservices.export import Cursor, DatasetExport, export_dataset
from pipeline_assets.dataservices.names import versioned_name
from pipeline_assets.dataservices.state import PublishState, StateError
from pipeline_assets.dataservices.sweep import describe, sweep_quietly

log = logging.getLogger(__name__)


class PublishError(Exception):
    pass


class PublishTimeoutError(PublishError):
    pass


@dataclass(frozen=True)
class Timing:
    poll_interval_s: float = 10.0
    load_timeout_s: float = 1800.0


DEFAULT_TIMING = Timing()


@dataclass
class PublishResult:
    service: str
    assistant_id: str
    publish_key: str
    outcome: str  # "published" | "unchanged"
    files: dict[str, list[str]] = field(default_factory=dict)  # dataset -> upload names
    rows: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0
    sweep: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "assistant_id": self.assistant_id,
            "publish_key": self.publish_key,
            "outcome": self.outcome,
            "files": self.files,
            "rows": self.rows,
            "size_bytes": self.size_bytes,
            "sweep": self.sweep,
        }


def publish_key(bundle: ServiceBundle, exports: dict[str, DatasetExport]) -> str:
    digest = hashlib.sha256(bundle.content_sha256().encode() + b"\n")
    for name in sorted(exports):
        digest.update(f"{name}\0{exports[name].sha256()}\n".encode())
    return digest.hexdigest()


def _batches(files: list[tuple[str, Path, int]], max_request_bytes: int) -> list[list[tuple[str, Path]]]:
    """Group uploads so one request stays under the request limit (a file alone may use all of it)."""
    batches: list[list[tuple[str, Path]]] = []
    current: list[tuple[str, Path]] = []
    size = 0
    for name, path, nbytes in files:
        if current and size + nbytes > max_request_bytes:
            batches.append(current)
            current, size = [], 0
        current.append((name, path))
        size += nbytes
    if current:
        batches.append(current)
    return batches


def _record(state: PublishState, service: str, key: str, document: dict[str, Any]) -> None:
    try:
        state.record(service, document)
    except StateError as exc:
        raise PublishError(
            f"service {service}: the assistant serves version {key[:12]}, but recording it failed ({exc}); the next "
            "run records it from the assistant's active revision without uploading again"
        ) from exc


def wait_until_ready(
    client: GeaiClient,
    assistant_id: str,
    timing: Timing,
    *,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    deadline = clock() + timing.load_timeout_s
    while True:
        status = client.status(assistant_id)
        if status.state is LoadStatus.READY:
            return
        if status.state is LoadStatus.FAILED:
            detail = f": {status.message}" if status.message else ""
            raise PublishError(f"assistant {assistant_id} reported {status.raw!r} while {what}{detail}")
        if clock() >= deadline:
            raise PublishTimeoutError(
                f"assistant {assistant_id} still {status.raw!r} after {timing.load_timeout_s:.0f}s while {what}; "
                "the previous version stays current. Re-run the task once the assistant's status is ready."
            )
        sleep(timing.poll_interval_s)


def publish_service(
    bundle: ServiceBundle,
    *,
    assistant_id: str,
    client: GeaiClient,
    state: PublishState,
    cursor: Cursor,
    work_dir: Path,
    schema: str | None = None,
    timing: Timing = DEFAULT_TIMING,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> PublishResult:
    service = bundle.service
    limits = service.limits
    exports = {d.name: export_dataset(cursor, d, work_dir / d.name, limits, schema=schema) for d in service.datasets}
    total = sum(e.size_bytes for e in exports.values())
    if total > limits.max_total_bytes:
        raise PublishError(
            f"service {service.service}: the export is {total} bytes, above limits.max_total_bytes "
            f"({limits.max_total_bytes}); publish fewer or narrower datasets"
        )
    key = publish_key(bundle, exports)
    names = {
        name: [versioned_name(name, key, i, len(e.parts)) for i in range(len(e.parts))] for name, e in exports.items()
    }
    result = PublishResult(
        service=service.service,
        assistant_id=assistant_id,
        publish_key=key,
        outcome="unchanged",
        files=names,
        rows={name: e.rows for name, e in exports.items()},
        size_bytes=total,
    )
    record = {
        "publish_key": key,
        "service": service.service,
        "assistant_id": assistant_id,
        "bundle_sha256": bundle.content_sha256(),
        "datasets": {n: {"files": names[n], "rows": e.rows, "bytes": e.size_bytes} for n, e in exports.items()},
    }

    try:
        current = state.is_current(service.service, key)
    except StateError as exc:
        raise PublishError(f"service {service.service}: {exc}; nothing was sent") from exc
    if current:
        log.info("%s: version %s is already current; nothing to publish", service.service, key[:12])
        return result
    if client.active_publish_key(assistant_id) == key:
        # Published before, but the marker write did not happen (the task died after the switch).
        log.info("%s: the assistant already serves %s; recording it", service.service, key[:12])
        _record(state, service.service, key, {**record, "published_at": now().isoformat(), "repaired": True})
        result.sweep = describe(sweep_quietly(client, state, service.service, assistant_id, keep_keys=[key]))
        return result

    problems = md.schema_errors(bundle.metadata)
    document = md.for_published_version(bundle.metadata, names) if not problems else {}
    problems = problems or md.schema_errors(document)
    if problems:
        raise PublishError(f"service {service.service}: metadata for this version is invalid: {'; '.join(problems)}")

    # Someone else's load in progress would mix with ours: start from a settled assistant.
    wait_until_ready(client, assistant_id, timing, what="waiting for a settled assistant", clock=clock, sleep=sleep)
    uploads = [
        (f"{names[d][i]}.csv", part.path, part.size_bytes) for d, e in exports.items() for i, part in enumerate(e.parts)
    ]
    try:
        state.record_uploads(service.service, key, [name for stems in names.values() for name in stems])
    except StateError as exc:
        raise PublishError(f"service {service.service}: {exc}; nothing was sent") from exc
    for batch in _batches(uploads, limits.max_request_bytes):
        log.info("%s: uploading %s", service.service, ", ".join(name for name, _ in batch))
        client.extend_datasets(assistant_id, batch)
    wait_until_ready(client, assistant_id, timing, what="loading the new datasets", clock=clock, sleep=sleep)

    client.publish_revision(assistant_id, metadata=document, glossary=bundle.glossary_text(), publish_key=key)
    wait_until_ready(client, assistant_id, timing, what="activating the new revision", clock=clock, sleep=sleep)

    try:
        previous = (state.current(service.service) or {}).get("publish_key")
    except StateError:
        previous = None  # only the sweep's rollback margin depends on it; the record matters more
    _record(
        state, service.service, key, {**record, "published_at": now().isoformat(), "previous_publish_key": previous}
    )
    result.outcome = "published"
    result.sweep = describe(sweep_quietly(client, state, service.service, assistant_id, keep_keys=[key, previous]))
    log.info("%s: published %s (%d files, %d bytes)", service.service, key[:12], len(uploads), total)
    return result
