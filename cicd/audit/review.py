"""Close a break-glass change with its retroactive review: a write-once record in the ledger.

The reviewer is whoever runs the command, as AWS knows them (STS GetCallerIdentity), not a name
typed on the command line; the review is refused when that person wrote the change or approved it
through break-glass, because then it would not be independent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline_assets.approval_guard.identity import parse_principal, same_person
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.layout import Kind
from pipeline_assets.ledger.store import EvidenceStore

DECISIONS = ("accepted", "remediation-required")


class ReviewError(Exception):
    pass


@dataclass(frozen=True)
class ReviewResult:
    key: str
    written: bool


def complete_review(
    store: EvidenceStore,
    *,
    pipeline: str,
    execution_id: str,
    reviewer_arn: str,
    decision: str,
    comment: str,
    now: datetime,
) -> ReviewResult:
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)} (got {decision!r})")
    if len(comment.strip()) < 20:
        raise ReviewError("say what was reviewed and what was found (a comment of at least 20 characters)")
    pending_key = layout.pending_review_key(pipeline=pipeline, execution_id=execution_id)
    if not store.exists(pending_key):
        raise ReviewError(
            f"no pending break-glass review for {pipeline}/{execution_id} "
            f"(expected s3://{store.bucket}/{pending_key}); check the execution id in the report's "
            "unreviewed-break-glass flag"
        )
    pending = store.get_json(pending_key)
    glass: dict[str, Any] = store.get_json(str(pending["break_glass_key"]))
    reviewer = parse_principal(reviewer_arn)
    approver = (glass.get("approver") or {}).get("person")
    author = (glass.get("author") or {}).get("email") or (glass.get("author") or {}).get("name")
    if same_person(reviewer, [author, approver]):
        raise ReviewError(
            f"{reviewer.person} wrote or break-glass-approved this change ({author}, {approver}); the retroactive "
            "review must come from someone else in the approvers group"
        )
    review_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{hashlib.sha256(reviewer_arn.encode()).hexdigest()[:8]}"
    body = {
        "schema": layout.SCHEMA,
        "kind": Kind.REVIEW_COMPLETED,
        "occurred_at": now.isoformat(),
        "recorded_at": now.isoformat(),
        "pipeline": pipeline,
        "execution_id": execution_id,
        "incident": glass.get("incident"),
        "break_glass_key": pending["break_glass_key"],
        "reviewer_arn": reviewer_arn,
        "reviewer": reviewer.person,
        "decision": decision,
        "comment": comment.strip(),
    }
    key = layout.completed_review_key(pipeline=pipeline, execution_id=execution_id, review_id=review_id)
    result = store.put_record(key, body)
    return ReviewResult(result.key, result.written)
