"""The guard's ledger records: its decision, and for break-glass the entry and the pending review.

Each record names what was checked (approver, the person behind them, every identity of the change)
and the evidence used, so an auditor can re-check the decision without the pipeline.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline_assets.approval_guard.identity import Principal
from pipeline_assets.approval_guard.policy import Approval, Author, Change, Decision
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.layout import Kind
from pipeline_assets.ledger.store import EvidenceStore

if TYPE_CHECKING:
    from pipeline_assets.approval_guard.handler import GuardSettings, JobContext


def _principal_dict(principal: Principal | None) -> dict[str, Any] | None:
    return asdict(principal) | {"person": principal.person} if principal else None


def record_decision(
    store: EvidenceStore,
    ctx: JobContext,
    *,
    decision: Decision,
    approval: Approval | None,
    author: Author,
    change: Change,
    change_evidence: dict[str, Any],
    settings: GuardSettings,
    now: datetime,
) -> list[str]:
    common = {
        "schema": layout.SCHEMA,
        "occurred_at": now.isoformat(),
        "recorded_at": now.isoformat(),
        "pipeline": ctx.pipeline,
        "execution_id": ctx.execution_id,
    }
    guard = {
        **common,
        "kind": Kind.APPROVAL_GUARD,
        "job_id": ctx.job_id,
        "guard_stage": ctx.stage,
        "guard_action": ctx.action,
        "approval_stage": ctx.approval_stage,
        "approval_action": ctx.approval_action,
        "release_id": ctx.release_id,
        "decision": "allowed" if decision.allowed else "rejected",
        "reasons": list(decision.reasons),
        "notes": list(decision.notes),
        "approval": asdict(approval) if approval else None,
        "approver": _principal_dict(decision.approver),
        "approver_person": asdict(decision.person) if decision.person else None,
        "author": asdict(author),
        # Every identity the approver was compared with, and the evidence they came from.
        "change": {"identities": list(change.identities), "problem": change.problem, "evidence": change_evidence},
        "approvers_principals": list(settings.approvers),
        "break_glass": asdict(decision.break_glass) if decision.break_glass else None,
    }
    keys = [
        store.put_record(
            layout.guard_key(now, pipeline=ctx.pipeline, execution_id=ctx.execution_id, job_id=ctx.job_id), guard
        ).key
    ]
    if decision.allowed and decision.break_glass is not None:
        entry = {
            **common,
            "kind": Kind.BREAK_GLASS,
            "job_id": ctx.job_id,
            "incident": decision.break_glass.incident,
            "reason": decision.break_glass.reason,
            "approver": _principal_dict(decision.approver),
            "approver_person": asdict(decision.person) if decision.person else None,
            "author": asdict(author),
            "change_identities": list(change.identities),
            "approval": asdict(approval) if approval else None,
            "break_glass_principals": list(settings.break_glass),
        }
        keys.append(
            store.put_record(
                layout.break_glass_key(now, pipeline=ctx.pipeline, execution_id=ctx.execution_id, job_id=ctx.job_id),
                entry,
            ).key
        )
        pending = {
            **common,
            "kind": Kind.REVIEW_PENDING,
            "break_glass_key": keys[-1],
            "incident": decision.break_glass.incident,
            "required": "a retroactive review by someone who is neither the author nor the break-glass approver "
            "(python -m cicd audit review)",
        }
        keys.append(
            store.put_record(
                layout.pending_review_key(pipeline=ctx.pipeline, execution_id=ctx.execution_id), pending
            ).key
        )
    return keys
