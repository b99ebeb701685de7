"""Is this stored template the one the target release was built with? The ledger says.

The synth step of every pipeline execution uploads `templates.json` (the SHA-256 of every stack
template it synthesized) and `release.json` beside it; the ledger keeps both, write-once, under
`ledger/v1/dt=<day>/build/<pipeline>/<execution>/`. Before a rollback deploys a template taken from
an artifact, its digest must equal the digest a build of the target release recorded for that
stack: an artifact path typed by hand, an overwritten artifact or a zip built elsewhere is refused
before anything is deployed.

Any build can upload under `incoming/` for any execution, made-up ones included, so a recorded digest
counts only when it was uploaded by the Validate build that CodePipeline itself reported for that
execution: the ledger's record of the Build/Validate action's SUCCEEDED state change (an AWS event,
never a build's upload) names the build id, and the upload folder of the templates and release
records must be that build's.
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
VALIDATE_STAGE, VALIDATE_ACTION = "Build", "Validate"


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


def _record(source: S3LedgerSource, key: str) -> dict[str, Any]:
    record = json.loads(source.read(key))
    return record if isinstance(record, dict) else {}


def reported_validate_builds(source: S3LedgerSource, first: date, last: date, *, pipeline: str) -> dict[str, set[str]]:
    """{execution folder: upload folders of the Validate builds CodePipeline reported as succeeded}."""
    reported: dict[str, set[str]] = defaultdict(set)
    stop = layout.partition(last + timedelta(days=1))
    marker = f"/action/{VALIDATE_STAGE}/{VALIDATE_ACTION}/SUCCEEDED-"
    for key in source.list_keys(layout.PARTITION_PREFIX, start_after=layout.partition(first)):
        if key >= stop:
            break
        if marker not in key or f"/pipeline/{layout.safe(pipeline)}/" not in key:
            continue
        result = (_record(source, key).get("transition") or {}).get("execution_result") or {}
        if result.get("external_id"):
            execution = key.split("/")[5]
            reported[execution].add(layout.safe(result["external_id"]))
    return reported


def _uploaded_by(record: dict[str, Any]) -> str | None:
    """The upload folder (incoming/<pipeline>/<execution>/<build>/<file>) a build evidence record came from."""
    parts = str((record.get("artifact") or {}).get("key") or "").split("/")
    return parts[3] if len(parts) == 5 and f"{parts[0]}/" == layout.INCOMING_PREFIX else None


def recorded_templates(
    source: S3LedgerSource, *, release_id: str, stack_name: str, built_by: date, pipeline: str | None = None
) -> list[RecordedTemplate]:
    """The digests that CodePipeline-reported Validate builds of `release_id` gave `stack_name` (a retried
    build records again). Records from any other upload folder, or of an execution CodePipeline never
    reported a Validate build for, are not evidence."""
    first = built_by - timedelta(days=LOOKBACK_DAYS)
    found = []
    executions = _build_executions(source, first, built_by)
    pipelines = {folder.split("/")[4] for folder in executions}
    reported: dict[str, set[str]] = {}
    for name in sorted(pipelines if pipeline is None else {layout.safe(pipeline)}):
        reported |= reported_validate_builds(source, first, built_by + timedelta(days=1), pipeline=name)
    for folder, keys in executions.items():
        builds = reported.get(folder.rsplit("/", 1)[1], set())
        records = {key: _record(source, key) for key in keys}
        vouched = {k: r for k, r in records.items() if _uploaded_by(r) in builds}
        if not any(
            k.rsplit("/", 1)[1].startswith(f"{Kind.RELEASE}-")
            and (r.get("content") or {}).get("release_id") == release_id
            for k, r in vouched.items()
        ):
            continue
        for key, record in vouched.items():
            if key.rsplit("/", 1)[1].startswith(f"{Kind.TEMPLATES}-"):
                stack = ((record.get("content") or {}).get("stacks") or {}).get(stack_name) or {}
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
            f"from a Validate build CodePipeline reported (build evidence {window}): {source} cannot be verified, "
            "so it is not deployed. Use the synth artifact of the execution that built the release, or roll back "
            "through the pipeline"
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
