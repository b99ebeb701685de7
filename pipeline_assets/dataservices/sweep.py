"""Remove the dataset files of a service that nothing uses any more.

A publish that stops half-way (a failed upload, a load that never becomes ready, the task killed)
leaves parts on the assistant that no revision names; every publish leaves the previous version's
files behind. The publisher records each version's file names in S3 before it sends them
(state.py, uploads/), so after a successful publish the sweep can remove every file it uploaded
except those of the active revision and of the version before it (what a rollback would switch
back to). The active revision is read from the assistant itself, never from our own records, so a
stale record cannot make the sweep remove what users query.

Best effort: a sweep that fails leaves orphans for the next one, never a failed publish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline_assets.dataservices.client import GeaiClient, GeaiError
from pipeline_assets.dataservices.state import PublishState

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file -> why it could not be removed
    listed_only: bool = False  # no removal endpoint configured: the orphans are recorded for a person


def orphaned(uploads: dict[str, list[str]], keep_keys: Iterable[str], in_use: set[str]) -> dict[str, list[str]]:
    """publish key -> its files that neither a kept version nor the active revision names."""
    kept_keys = set(keep_keys)
    kept = set(in_use)
    for key in kept_keys:
        kept |= {f"{name}.csv" for name in uploads.get(key, [])}
    result = {}
    for key, names in uploads.items():
        stale = [f"{name}.csv" for name in names if f"{name}.csv" not in kept]
        if key not in kept_keys and stale:
            result[key] = stale
    return result


def sweep(
    client: GeaiClient, state: PublishState, service: str, assistant_id: str, *, keep_keys: Iterable[str | None]
) -> SweepResult:
    keep = [k for k in keep_keys if k]
    in_use = client.active_file_names(assistant_id)
    uploads = state.uploads(service)
    doomed = orphaned(uploads, keep, in_use)
    result = SweepResult(orphans=sorted(name for names in doomed.values() for name in names))
    if not result.orphans:
        for key in set(uploads) - set(keep):  # versions whose files are all in use elsewhere
            state.forget_uploads(service, key)
        return result
    if not client.remove_path:
        result.listed_only = True
        state.record_orphans(service, {"assistant_id": assistant_id, "files": result.orphans})
        log.warning(
            "%s: %d dataset file(s) on assistant %s are used by no kept revision (%s); no dataset_remove_path is "
            "configured, so remove them in the backoffice",
            service,
            len(result.orphans),
            assistant_id,
            ", ".join(result.orphans[:10]),
        )
        return result
    for key, names in sorted(doomed.items()):
        for name in names:
            try:
                client.remove_dataset(assistant_id, name)
                result.removed.append(name)
            except GeaiError as exc:
                # 404: already gone (a retried removal, removed by hand, or a part that was never sent).
                if exc.status != 404:
                    result.failed[name] = str(exc)
        if not any(name in result.failed for name in names):
            state.forget_uploads(service, key)
    if result.failed:
        log.warning("%s: could not remove %s", service, result.failed)
    return result


def sweep_quietly(
    client: GeaiClient, state: PublishState, service: str, assistant_id: str, *, keep_keys: Iterable[str | None]
) -> SweepResult | None:
    """The publisher's call: a sweep that fails is logged, never raised."""
    try:
        return sweep(client, state, service, assistant_id, keep_keys=keep_keys)
    except Exception as exc:  # the publish already succeeded; the next sweep tries again
        log.warning(
            "%s: the orphan sweep failed (%s: %s); the next publish sweeps again", service, type(exc).__name__, exc
        )
        return None


def describe(result: SweepResult | None) -> dict[str, Any]:
    if result is None:
        return {"sweep": "failed"}
    return {
        "orphans": len(result.orphans),
        "removed": len(result.removed),
        "failed": len(result.failed),
        "listed_only": result.listed_only,
    }
