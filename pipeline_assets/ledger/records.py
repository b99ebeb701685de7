"""Turn one incoming event (or one uploaded build file) into one ledger record.

Pure functions: no AWS calls, no clock. The handler adds enrichment fetched from CodePipeline and
the time of recording. Each record keeps the original event verbatim under "event" (the evidence),
beside a normalised summary the report reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline_assets.ledger import layout
from pipeline_assets.ledger.layout import Kind
from pipeline_assets.ledger.store import dumps

CODEPIPELINE_DETAIL_TYPES = {
    "CodePipeline Pipeline Execution State Change": "pipeline",
    "CodePipeline Stage Execution State Change": "stage",
    "CodePipeline Action Execution State Change": "action",
}
CLOUDFORMATION_DETAIL_TYPES = ("CloudFormation Stack Status Change", "CloudFormation Drift Detection Status Change")
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
S3_OBJECT_CREATED = "Object Created"
# CloudFormation API calls that change a stack; read-only calls are not changes.
STACK_CHANGING_CALLS = ("CreateStack", "UpdateStack", "DeleteStack", "ExecuteChangeSet", "ContinueUpdateRollback")


class EventError(ValueError):
    """The event is not one the ledger understands, or lacks a field it needs."""


@dataclass(frozen=True)
class LedgerRecord:
    key: str
    body: dict[str, Any]

    def payload(self) -> bytes:
        return dumps(self.body)


def parse_time(value: object, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise EventError(f"{field} is missing or not a timestamp (got {value!r})")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EventError(f"{field} is not an ISO-8601 timestamp: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _require(mapping: dict[str, Any], field: str, where: str) -> Any:
    value = mapping.get(field)
    if value in (None, ""):
        raise EventError(f"{where}.{field} is missing")
    return value


def _int(value: object, default: int = 1) -> int:
    # EventBridge renders CodePipeline's integers as floats ("pipeline-execution-attempt": 1.0).
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return default


def _compact_time(value: str) -> str:
    return re.sub(r"\D", "", value)[:17]


def classify(event: dict[str, Any]) -> str:
    detail_type = event.get("detail-type")
    source = event.get("source")
    if source == "aws.codepipeline" and detail_type in CODEPIPELINE_DETAIL_TYPES:
        return "codepipeline"
    if source == "aws.cloudformation" and detail_type in CLOUDFORMATION_DETAIL_TYPES:
        return "cloudformation"
    if detail_type == CLOUDTRAIL_DETAIL_TYPE:
        detail = event.get("detail") or {}
        name, service = detail.get("eventName"), detail.get("eventSource")
        if service == "codepipeline.amazonaws.com" and name == "PutApprovalResult":
            return "approval-api"
        if service == "cloudformation.amazonaws.com" and name in STACK_CHANGING_CALLS:
            return "cloudformation-api"
    if source == "aws.s3" and detail_type == S3_OBJECT_CREATED:
        return "s3-object-created"
    raise EventError(
        f"unsupported event: source={source!r} detail-type={detail_type!r}; the ledger rule should only "
        "route CodePipeline state changes, CloudFormation stack/drift changes, PutApprovalResult and "
        "CloudFormation API calls from CloudTrail, and S3 Object Created events for incoming/"
    )


def _envelope(
    kind: str, *, occurred_at: datetime, recorded_at: datetime, event: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema": layout.SCHEMA,
        "kind": kind,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "recorded_at": recorded_at.astimezone(UTC).isoformat(),
    }
    if event is not None:
        body["source"] = {
            "event_id": event.get("id"),
            "detail_type": event.get("detail-type"),
            "account": event.get("account"),
            "region": event.get("region"),
        }
        body["event"] = event
    return body


def transition(event: dict[str, Any]) -> dict[str, Any]:
    """The normalised CodePipeline state change: what the report reads."""
    level = CODEPIPELINE_DETAIL_TYPES[str(event.get("detail-type"))]
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise EventError("detail is missing")
    result: dict[str, Any] = {
        "level": level,
        "pipeline": _require(detail, "pipeline", "detail"),
        "execution_id": _require(detail, "execution-id", "detail"),
        "state": _require(detail, "state", "detail"),
        "attempt": _int(detail.get("pipeline-execution-attempt")),
        "pipeline_version": _int(detail.get("version"), 0),
    }
    if detail.get("start-time"):
        result["start_time"] = detail["start-time"]
    if level in ("stage", "action"):
        result["stage"] = _require(detail, "stage", "detail")
    if level == "action":
        result["action"] = _require(detail, "action", "detail")
        result["action_execution_id"] = detail.get("action-execution-id")
        action_type = detail.get("type") or {}
        result["category"] = action_type.get("category")
        result["provider"] = action_type.get("provider")
        execution_result = detail.get("execution-result") or {}
        if execution_result:
            result["execution_result"] = {
                "summary": execution_result.get("external-execution-summary"),
                "url": execution_result.get("external-execution-url"),
                "external_id": execution_result.get("external-execution-id"),
                "error_code": execution_result.get("error-code"),
            }
        for field in ("input-artifacts", "output-artifacts"):
            if detail.get(field):
                result[field.replace("-", "_")] = detail[field]
    trigger = detail.get("execution-trigger")
    if isinstance(trigger, dict) and trigger:
        result["trigger"] = {
            "type": trigger.get("trigger-type"),
            "detail": trigger.get("trigger-detail"),
            "commit_id": trigger.get("commit-id"),
            "author_email": trigger.get("author-email"),
            "author_name": trigger.get("author-display-name") or trigger.get("author-id"),
            "branch": trigger.get("branch-name"),
            "tag": trigger.get("tag-name"),
            "repository": trigger.get("full-repository-name"),
        }
    retry = detail.get("stage-last-retry-attempt-time") or detail.get("last-retry-attempt-time")
    if retry:
        result["retry_time"] = retry
    if detail.get("stop-execution-comments"):
        result["stop_comments"] = detail["stop-execution-comments"]
    return result


def codepipeline_record(
    event: dict[str, Any], *, recorded_at: datetime, enrichment: dict[str, Any] | None = None
) -> LedgerRecord:
    occurred_at = parse_time(event.get("time"), "time")
    moved = transition(event)
    level = moved["level"]
    discriminator = None
    if level == "action":
        discriminator = moved.get("action_execution_id")
    elif moved.get("retry_time"):
        discriminator = "retry" + _compact_time(str(moved["retry_time"]))
    key = layout.pipeline_transition_key(
        occurred_at,
        pipeline=moved["pipeline"],
        execution_id=moved["execution_id"],
        level=level,
        stage=moved.get("stage"),
        action=moved.get("action"),
        state=moved["state"],
        attempt=moved["attempt"],
        discriminator=discriminator,
    )
    kind = {"pipeline": Kind.PIPELINE, "stage": Kind.STAGE, "action": Kind.ACTION}[level]
    body = _envelope(kind, occurred_at=occurred_at, recorded_at=recorded_at, event=event)
    body.update(pipeline=moved["pipeline"], execution_id=moved["execution_id"], transition=moved)
    if enrichment:
        body["enrichment"] = enrichment
    return LedgerRecord(key, body)


def approval_api_record(event: dict[str, Any], *, recorded_at: datetime) -> LedgerRecord:
    """PutApprovalResult from CloudTrail: who approved or rejected, independently of CodePipeline."""
    detail = event.get("detail") or {}
    occurred_at = parse_time(detail.get("eventTime") or event.get("time"), "detail.eventTime")
    request = detail.get("requestParameters") or {}
    identity = detail.get("userIdentity") or {}
    pipeline = _require(request, "pipelineName", "detail.requestParameters")
    event_id = detail.get("eventID") or event.get("id")
    if not event_id:
        raise EventError("detail.eventID is missing")
    result = request.get("result") or {}
    body = _envelope(Kind.APPROVAL_API_CALL, occurred_at=occurred_at, recorded_at=recorded_at, event=event)
    body.update(
        pipeline=pipeline,
        approval={
            "stage": request.get("stageName"),
            "action": request.get("actionName"),
            "status": result.get("status"),
            "summary": result.get("summary"),
            "principal_arn": identity.get("arn"),
            "principal_type": identity.get("type"),
            "source_ip": detail.get("sourceIPAddress"),
            "error_code": detail.get("errorCode"),
        },
    )
    return LedgerRecord(layout.approval_api_key(occurred_at, pipeline=pipeline, event_id=event_id), body)


def _stack_name(stack_id: str) -> str:
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>; a plain name passes through.
    if stack_id.startswith("arn:") and ":stack/" in stack_id:
        return stack_id.split(":stack/", 1)[1].split("/", 1)[0]
    return stack_id


def stack_change_record(event: dict[str, Any], *, recorded_at: datetime) -> LedgerRecord:
    """A CloudFormation stack change in a target account, from EventBridge or CloudTrail.

    These are what lets the report find changes that did not go through the pipeline."""
    detail = event.get("detail") or {}
    account = str(event.get("account") or detail.get("recipientAccountId") or "unknown")
    if event.get("detail-type") == CLOUDTRAIL_DETAIL_TYPE:
        occurred_at = parse_time(detail.get("eventTime") or event.get("time"), "detail.eventTime")
        request = detail.get("requestParameters") or {}
        stack_ref = request.get("stackName") or request.get("stackId") or ""
        if not stack_ref:
            raise EventError(f"detail.requestParameters.stackName is missing in {detail.get('eventName')}")
        identity = detail.get("userIdentity") or {}
        change = {
            "source": "cloudtrail",
            "operation": detail.get("eventName"),
            "stack_name": _stack_name(str(stack_ref)),
            "stack_id": stack_ref if str(stack_ref).startswith("arn:") else None,
            "principal_arn": identity.get("arn"),
            "principal_type": identity.get("type"),
            "invoked_by": identity.get("invokedBy"),
            "change_set": request.get("changeSetName"),
            "error_code": detail.get("errorCode"),
        }
        change_id = f"api-{detail.get('eventID') or event.get('id')}"
    else:
        occurred_at = parse_time(event.get("time"), "time")
        stack_id = str(_require(detail, "stack-id", "detail"))
        status = detail.get("status-details") or {}
        drift = event.get("detail-type") == "CloudFormation Drift Detection Status Change"
        change = {
            "source": "drift-detection" if drift else "stack-status",
            "stack_name": _stack_name(stack_id),
            "stack_id": stack_id,
            "status": status.get("stack-drift-status") if drift else status.get("status"),
            "detection_status": status.get("detection-status") if drift else None,
            "status_reason": status.get("status-reason"),
            "drifted_resources": (detail.get("drift-detection-details") or {}).get("drifted-stack-resource-count"),
            "client_request_token": detail.get("client-request-token"),
        }
        change_id = f"{_compact_time(occurred_at.isoformat())}-{change['status']}"
        if drift:
            change_id += f"-{detail.get('stack-drift-detection-id') or event.get('id')}"
    change["account"] = account
    change["region"] = event.get("region") or detail.get("awsRegion")
    body = _envelope(Kind.STACK_CHANGE, occurred_at=occurred_at, recorded_at=recorded_at, event=event)
    body["stack_change"] = change
    key = layout.stack_change_key(
        occurred_at, account=account, stack_name=str(change["stack_name"]), change_id=change_id
    )
    return LedgerRecord(key, body)


def summarise_gate_report(data: Any) -> dict[str, Any]:
    """What the report needs from `build/gate/report.json` (cicd/gate/report.py's as_dict)."""
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise EventError("the gate report has no 'checks' list (expected cicd/gate/report.py's JSON)")
    checks = []
    for item in data["checks"]:
        if not isinstance(item, dict) or not item.get("name") or not item.get("status"):
            raise EventError(f"a gate report check lacks a name or status: {item!r}"[:300])
        findings = item.get("findings") or []
        checks.append(
            {
                "name": item["name"],
                "status": item["status"],
                "duration_s": item.get("duration_s"),
                "report": item.get("report"),
                "errors": sum(1 for f in findings if isinstance(f, dict) and f.get("severity", "error") == "error"),
            }
        )
    counts: dict[str, int] = {}
    for check in checks:
        counts[check["status"]] = counts.get(check["status"], 0) + 1
    return {
        "passed": data.get("passed"),
        "scope": data.get("scope"),
        "finished_at": data.get("finished_at"),
        "duration_s": data.get("duration_s"),
        "counts": counts,
        "checks": checks,
    }


def build_evidence_record(
    *,
    pipeline: str,
    execution_id: str,
    name: str,
    raw: bytes,
    location: dict[str, Any],
    uploaded_at: datetime,
    recorded_at: datetime,
) -> LedgerRecord:
    """One file the synth step uploaded (gate report, release.json, template hashes, commit)."""
    kind = layout.BUILD_KINDS[name]
    digest = hashlib.sha256(raw).hexdigest()
    body = _envelope(kind, occurred_at=uploaded_at, recorded_at=recorded_at, event=None)
    body.update(
        pipeline=pipeline,
        execution_id=execution_id,
        artifact={**location, "sha256": digest, "size": len(raw)},
    )
    try:
        content = json.loads(raw)
        body["content"] = content
        if kind == Kind.GATE_REPORT:
            body["summary"] = summarise_gate_report(content)
    except (ValueError, EventError) as exc:
        # The upload is still evidence (and stays in incoming/); the report flags it as unreadable.
        body["parse_error"] = str(exc)[:500]
    key = layout.build_evidence_key(uploaded_at, pipeline=pipeline, execution_id=execution_id, kind=kind, sha256=digest)
    return LedgerRecord(key, body)
