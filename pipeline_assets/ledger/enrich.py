"""Facts the state-change events do not carry, fetched from CodePipeline while they still exist.

CodePipeline keeps execution history for 12 months; the ledger keeps what matters for years:
- on a pipeline STARTED event: the execution type (STANDARD or ROLLBACK), the execution a
  rollback returns to, the trigger and the source revisions (commit ids);
- on a finished approval or source action: who acted (`updatedBy`, the approver's ARN for a
  manual approval), when, the approval comment and the source action's output variables.

Enrichment never blocks the record: if the API call fails, the record is written with the error,
because the event itself is the primary evidence and a redelivery would not be recorded again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

LOG = logging.getLogger("ledger.enrich")

ENRICHED_ACTION_CATEGORIES = ("Approval", "Source")
FINISHED_ACTION_STATES = ("SUCCEEDED", "FAILED")


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _pipeline_execution(codepipeline: Any, pipeline: str, execution_id: str) -> dict[str, Any]:
    execution = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)[
        "pipelineExecution"
    ]
    trigger = execution.get("trigger") or {}
    return {
        "execution_type": execution.get("executionType", "STANDARD"),
        "rollback_target_execution_id": (execution.get("rollbackMetadata") or {}).get(
            "rollbackTargetPipelineExecutionId"
        ),
        "trigger": {"type": trigger.get("triggerType"), "detail": trigger.get("triggerDetail")},
        "artifact_revisions": [
            {
                "name": revision.get("name"),
                "revision_id": revision.get("revisionId"),
                "summary": revision.get("revisionSummary"),
                "url": revision.get("revisionUrl"),
                "created": _iso(revision.get("created")),
            }
            for revision in execution.get("artifactRevisions", [])
        ],
        "variables": {v.get("name"): v.get("resolvedValue") for v in execution.get("variables", [])},
    }


def find_action_execution(
    codepipeline: Any,
    *,
    pipeline: str,
    execution_id: str,
    stage: str,
    action: str,
    action_execution_id: str | None = None,
) -> dict[str, Any] | None:
    """The action's execution detail; the latest one when the action ran more than once (retries)."""
    paginator = codepipeline.get_paginator("list_action_executions")
    matches: list[dict[str, Any]] = []
    for page in paginator.paginate(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}):
        details: list[dict[str, Any]] = page.get("actionExecutionDetails", [])
        for detail in details:
            if action_execution_id and detail.get("actionExecutionId") == action_execution_id:
                return detail
            if detail.get("stageName") == stage and detail.get("actionName") == action:
                matches.append(detail)
    if not matches:
        return None
    return max(matches, key=lambda d: str(_iso(d.get("lastUpdateTime") or d.get("startTime") or "")))


def summarise_action_execution(detail: dict[str, Any]) -> dict[str, Any]:
    output = detail.get("output") or {}
    result = output.get("executionResult") or {}
    return {
        "action_execution_id": detail.get("actionExecutionId"),
        "status": detail.get("status"),
        "updated_by": detail.get("updatedBy"),
        "start_time": _iso(detail.get("startTime")),
        "last_update_time": _iso(detail.get("lastUpdateTime")),
        "summary": result.get("externalExecutionSummary"),
        "external_execution_id": result.get("externalExecutionId"),
        "output_variables": output.get("outputVariables") or {},
    }


def enrich(transition: dict[str, Any], codepipeline: Any) -> dict[str, Any] | None:
    level, state = transition["level"], transition["state"]
    pipeline, execution_id = transition["pipeline"], transition["execution_id"]
    try:
        if level == "pipeline" and state == "STARTED":
            return {"pipeline_execution": _pipeline_execution(codepipeline, pipeline, execution_id)}
        if (
            level == "action"
            and transition.get("category") in ENRICHED_ACTION_CATEGORIES
            and state in FINISHED_ACTION_STATES
        ):
            detail = find_action_execution(
                codepipeline,
                pipeline=pipeline,
                execution_id=execution_id,
                stage=transition["stage"],
                action=transition["action"],
                action_execution_id=transition.get("action_execution_id"),
            )
            return {"action_execution": summarise_action_execution(detail) if detail else None}
    except Exception as exc:  # any API failure: keep the event, say what is missing
        LOG.warning("enrichment failed for %s %s: %s", pipeline, execution_id, exc)
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return None
