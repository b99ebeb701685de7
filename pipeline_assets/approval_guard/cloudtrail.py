"""Which PutApprovalResult call approved this approval action, from CloudTrail.

CodePipeline's action execution names the approving principal (updatedBy), but not the person behind
a role session: that is the session's SourceIdentity, which only the CloudTrail event carries. The
event must be this action's own: its token (the approval request's id, unique per action execution),
its pipeline, stage and action, an eventTime no earlier than the action started, and, when
CodePipeline named the approver, that approver. Exactly one event may match: two are ambiguous and
reject; none means CloudTrail has not delivered it yet (it can take minutes), and the guard waits
(a CodePipeline continuation) instead of failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class AmbiguousApprovalError(Exception):
    """More than one PutApprovalResult matches this approval: nobody can say who approved."""


@dataclass(frozen=True)
class ApprovalCall:
    arn: str
    source_identity: str | None
    event_time: str
    event_id: str | None


def _at(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def approval_call(
    cloudtrail: Any,
    *,
    pipeline: str,
    stage: str,
    action: str,
    token: str,
    started: datetime,
    until: datetime,
    approver_arn: str | None,
) -> ApprovalCall | None:
    """The one approving PutApprovalResult of this action execution, or None when CloudTrail has none yet."""
    pages = cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutApprovalResult"}],
        StartTime=started,
        EndTime=until,
    )
    found: dict[str, ApprovalCall] = {}
    for page in pages:
        for item in page.get("Events", []):
            try:
                record = json.loads(item.get("CloudTrailEvent") or "{}")
            except ValueError:
                continue
            request = record.get("requestParameters") or {}
            identity = record.get("userIdentity") or {}
            at = _at(record.get("eventTime"))
            if (
                record.get("errorCode")
                or (request.get("result") or {}).get("status") != "Approved"
                or (request.get("pipelineName"), request.get("stageName"), request.get("actionName"))
                != (pipeline, stage, action)
                or request.get("token") != token
                or at is None
                or at < started
                or not identity.get("arn")
                or (approver_arn is not None and identity["arn"] != approver_arn)
            ):
                continue
            event_id = record.get("eventID") or item.get("EventId")
            found[str(event_id or len(found))] = ApprovalCall(
                identity["arn"],
                (identity.get("sessionContext") or {}).get("sourceIdentity"),
                str(record.get("eventTime")),
                event_id,
            )
    if len(found) > 1:
        listed = ", ".join(f"{c.arn} at {c.event_time}" for c in found.values())
        raise AmbiguousApprovalError(
            f"{len(found)} PutApprovalResult calls in CloudTrail carry this approval's token ({listed}), so who "
            "approved cannot be told apart. Fix: investigate the calls, then retry the stage for a new approval."
        )
    return next(iter(found.values()), None)
