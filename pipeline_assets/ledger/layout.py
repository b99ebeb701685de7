"""Where each ledger record lives in the evidence bucket, and what a record looks like on the outside.

Keys are built only from what identifies a fact (the pipeline execution, the stage or action, the
state, the attempt, the content hash), never from delivery ids or arrival times. A redelivered
EventBridge event, or a state change CodePipeline emits twice, therefore maps to the key that
already exists, and the writer leaves it alone.

Everything except review records sits under a day partition (`dt=YYYY-MM-DD`, UTC, the day the fact
happened): a report for a period lists one contiguous, sorted key range instead of the whole bucket.
Reviews are looked up by execution, whenever they were written, so they live outside the partitions.
"""

from __future__ import annotations

import re
from datetime import date, datetime

SCHEMA = "ledger/v1"
LEDGER_ROOT = "ledger/v1"
PARTITION_PREFIX = f"{LEDGER_ROOT}/dt="
REVIEWS_PREFIX = f"{LEDGER_ROOT}/reviews/"
PENDING_REVIEWS_PREFIX = f"{REVIEWS_PREFIX}pending/"
COMPLETED_REVIEWS_PREFIX = f"{REVIEWS_PREFIX}completed/"
# Build evidence the pipeline's synth step uploads; the ledger Lambda turns each file into a record.
INCOMING_PREFIX = "incoming/"
INCOMING_FILES = ("gate-report.json", "release.json", "templates.json", "commit.json", "change-identities.json")
# Evidence that decides a release, written only by trusted steps: the bucket policy denies every
# principal without the prefix's writer tag (docs/security.md, threat model). Who made the change, from
# the ChangeEvidence step that runs before any of the change's code; whether a build moves the trust
# boundary, from the deployed trust-boundary check.
TRUSTED_PREFIX = "trusted/"
CHANGE_EVIDENCE_PREFIX = f"{TRUSTED_PREFIX}change-evidence/"
TRUST_BOUNDARY_PREFIX = f"{TRUSTED_PREFIX}trust-boundary/"
CHANGE_EVIDENCE_FILE = "change-evidence.json"
WRITER_TAG = "evidence-writer"
CHANGE_EVIDENCE_WRITER = (WRITER_TAG, "change-evidence")
TRUST_BOUNDARY_WRITER = (WRITER_TAG, "trust-boundary-check")


class Kind:
    """Record kinds. The report reads records by kind; the names are part of the evidence format."""

    PIPELINE = "pipeline-execution"
    STAGE = "stage-execution"
    ACTION = "action-execution"
    GATE_REPORT = "gate-report"
    RELEASE = "release"
    TEMPLATES = "templates"
    COMMIT = "commit"
    CHANGE_IDENTITIES = "change-identities"
    APPROVAL_API_CALL = "approval-api-call"
    STACK_CHANGE = "stack-change"
    APPROVAL_GUARD = "approval-guard"
    BREAK_GLASS = "break-glass"
    REVIEW_PENDING = "review-pending"
    REVIEW_COMPLETED = "review-completed"


BUILD_KINDS = {
    "gate-report.json": Kind.GATE_REPORT,
    "release.json": Kind.RELEASE,
    "templates.json": Kind.TEMPLATES,
    "commit.json": Kind.COMMIT,
    "change-identities.json": Kind.CHANGE_IDENTITIES,
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._@=+-]")


def safe(part: object) -> str:
    """One key segment: CodePipeline names are already [A-Za-z0-9.@_-]; anything else is replaced."""
    text = _UNSAFE.sub("_", str(part)).strip(".")
    return text or "_"


def partition(day: date | datetime) -> str:
    if isinstance(day, datetime):
        day = day.date()
    return f"{PARTITION_PREFIX}{day.isoformat()}/"


def pipeline_transition_key(
    day: date | datetime,
    *,
    pipeline: str,
    execution_id: str,
    level: str,
    state: str,
    attempt: int,
    stage: str | None = None,
    action: str | None = None,
    discriminator: str | None = None,
) -> str:
    """A CodePipeline state change. `discriminator` separates repeated runs that share a state
    (the action execution id for actions, the retry time for retried stages)."""
    base = f"{partition(day)}pipeline/{safe(pipeline)}/{safe(execution_id)}"
    name = f"{safe(state)}-attempt{attempt}" + (f"-{safe(discriminator)}" if discriminator else "")
    if level == "pipeline":
        return f"{base}/execution/{name}.json"
    if level == "stage":
        return f"{base}/stage/{safe(stage)}/{name}.json"
    return f"{base}/action/{safe(stage)}/{safe(action)}/{name}.json"


def build_evidence_key(day: date | datetime, *, pipeline: str, execution_id: str, kind: str, sha256: str) -> str:
    # The content hash is part of the key: a retried build uploads a new report, which is new
    # evidence beside the first one; a redelivered upload event finds its record already there.
    return f"{partition(day)}build/{safe(pipeline)}/{safe(execution_id)}/{kind}-{sha256[:16]}.json"


def approval_api_key(day: date | datetime, *, pipeline: str, event_id: str) -> str:
    return f"{partition(day)}approval-api/{safe(pipeline)}/{safe(event_id)}.json"


def stack_change_key(day: date | datetime, *, account: str, stack_name: str, change_id: str) -> str:
    return f"{partition(day)}stack/{safe(account)}/{safe(stack_name)}/{safe(change_id)}.json"


def guard_key(day: date | datetime, *, pipeline: str, execution_id: str, job_id: str) -> str:
    return f"{partition(day)}approval-guard/{safe(pipeline)}/{safe(execution_id)}/{safe(job_id)}.json"


def break_glass_key(day: date | datetime, *, pipeline: str, execution_id: str, job_id: str) -> str:
    return f"{partition(day)}break-glass/{safe(pipeline)}/{safe(execution_id)}/{safe(job_id)}.json"


def pending_review_key(*, pipeline: str, execution_id: str) -> str:
    return f"{PENDING_REVIEWS_PREFIX}{safe(pipeline)}/{safe(execution_id)}.json"


def completed_review_key(*, pipeline: str, execution_id: str, review_id: str) -> str:
    return f"{COMPLETED_REVIEWS_PREFIX}{safe(pipeline)}/{safe(execution_id)}/{safe(review_id)}.json"


def change_evidence_folder(*, pipeline: str, execution_id: str) -> str:
    return f"{CHANGE_EVIDENCE_PREFIX}{safe(pipeline)}/{safe(execution_id)}/"


def change_evidence_key(*, pipeline: str, execution_id: str, build_id: str) -> str:
    """Where the ChangeEvidence build `build_id` records its execution (collect.py builds the same key)."""
    return (
        f"{change_evidence_folder(pipeline=pipeline, execution_id=execution_id)}{safe(build_id)}/{CHANGE_EVIDENCE_FILE}"
    )


def trust_boundary_key(*, pipeline: str, execution_id: str, job_id: str) -> str:
    return f"{TRUST_BOUNDARY_PREFIX}{safe(pipeline)}/{safe(execution_id)}/{safe(job_id)}.json"


def incoming_key(*, pipeline: str, execution_id: str, upload_id: str, name: str) -> str:
    return f"{INCOMING_PREFIX}{safe(pipeline)}/{safe(execution_id)}/{safe(upload_id)}/{name}"


def parse_incoming_key(key: str) -> tuple[str, str, str] | None:
    """(pipeline, execution id, file name) of an uploaded build evidence file, or None if the key
    is not one (so unrelated objects in the bucket are ignored, not misfiled)."""
    parts = key.split("/")
    if len(parts) != 5 or f"{parts[0]}/" != INCOMING_PREFIX or parts[4] not in INCOMING_FILES:
        return None
    if not all(parts[1:4]):
        return None
    return parts[1], parts[2], parts[4]


def partition_day(key: str) -> date | None:
    if not key.startswith(PARTITION_PREFIX):
        return None
    try:
        return date.fromisoformat(key[len(PARTITION_PREFIX) : len(PARTITION_PREFIX) + 10])
    except ValueError:
        return None
