"""Is this stored template the one the target release was built with? The ledger says.

The synth step of every pipeline execution uploads `templates.json` (the SHA-256 of every stack
template it synthesized) and `release.json` beside it; the ledger keeps both, write-once, under
`ledger/v1/dt=<day>/build/<pipeline>/<execution>/`. Before a rollback deploys a template taken from
an artifact, its digest must equal the digest a build of the target release recorded for that
stack: an artifact path typed by hand, an overwritten artifact or a zip built elsewhere is refused
before anything is deployed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cicd.audit.source import LedgerError, S3LedgerSource
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.layout import Kind

# A release is built before it is first activated; builds wait for approval a few days at most.
LOOKBACK_DAYS = 30


class ProvenanceError(Exception):
    """The template cannot be shown to be the one the release was built with: do not deploy it."""


@dataclass(frozen=True)
class RecordedTemplate:
    execution_id: str
    sha256: str
    key: str  # the ledger key of the templates record


def _build_executions(source: S3LedgerSource, first: date, last: date) -> dict[str, list[str]]:
    """Build-evidence keys of each pipeline execution with evidence between the two days, by execution folder."""
    folders: dict[str, list[str]] = defaultdict(list)
    stop = layout.partition(last + timedelta(days=1))
    for key in source.list_keys(layout.PARTITION_PREFIX, start_after=layout.partition(first)):
        if key >= stop:
            break
        if "/build/" in key:
            folders[key.rsplit("/", 1)[0]].append(key)
    return folders


def _content(source: S3LedgerSource, key: str) -> dict[str, Any]:
    record = json.loads(source.read(key))
    content = record.get("content") if isinstance(record, dict) else None
    return content if isinstance(content, dict) else {}


def recorded_templates(
    source: S3LedgerSource, *, release_id: str, stack_name: str, built_by: date
) -> list[RecordedTemplate]:
    """The digests every recorded build of `release_id` gave `stack_name` (a retried build records again)."""
    found = []
    for folder, keys in _build_executions(source, built_by - timedelta(days=LOOKBACK_DAYS), built_by).items():
        names = {key.rsplit("/", 1)[1]: key for key in keys}
        releases = [k for n, k in names.items() if n.startswith(f"{Kind.RELEASE}-")]
        if not any(_content(source, key).get("release_id") == release_id for key in releases):
            continue
        for name, key in names.items():
            if name.startswith(f"{Kind.TEMPLATES}-"):
                stack = (_content(source, key).get("stacks") or {}).get(stack_name) or {}
                if stack.get("sha256"):
                    found.append(RecordedTemplate(folder.rsplit("/", 1)[1], str(stack["sha256"]), key))
    return found


def verify(
    s3: Any, bucket: str, *, release_id: str, stack_name: str, sha256: str, source: str, built_by: date
) -> RecordedTemplate:
    """The ledger record that vouches for the template; ProvenanceError when none does."""
    ledger = S3LedgerSource(s3, bucket)
    try:
        recorded = recorded_templates(ledger, release_id=release_id, stack_name=stack_name, built_by=built_by)
    except (LedgerError, ValueError) as exc:
        raise ProvenanceError(f"cannot read the ledger {ledger.describe()} to verify {source}: {exc}") from exc
    window = f"{built_by - timedelta(days=LOOKBACK_DAYS)} .. {built_by}"
    if not recorded:
        raise ProvenanceError(
            f"the ledger {ledger.describe()} records no template of stack {stack_name} for release {release_id} "
            f"(build evidence {window}): {source} cannot be verified, so it is not deployed. Use the synth artifact "
            "of the execution that built the release, or roll back through the pipeline"
        )
    for record in recorded:
        if record.sha256 == sha256:
            return record
    expected = ", ".join(sorted({f"{r.sha256[:12]} (execution {r.execution_id})" for r in recorded}))
    raise ProvenanceError(
        f"{source} has sha256 {sha256[:12]}, but the ledger recorded {expected} for stack {stack_name} of release "
        f"{release_id}: this is not the template that release was built with, so it is not deployed. Use the "
        "synth artifact of the execution named here"
    )
