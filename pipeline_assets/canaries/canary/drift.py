"""Scheduled drift detection of every stack of the environment: a metric per stack, alarmed per stack.

Starts `DetectStackDrift` for all stacks at once (each detection runs asynchronously in
CloudFormation), then polls until each finishes or the Lambda's time runs low. Per stack:
`StackDrifted` (1/0), `DriftedResources`, and `DriftDetectionFailed` (1 when CloudFormation could
not finish, or we could not ask it). Drifted resources are logged with their property differences
so that the alarm's reader knows what was changed by hand. Custom resources are not drift-checked
by CloudFormation; the release activator's own state file records what it wrote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .core import (
    CanaryError,
    Deadline,
    Metrics,
    aws_clients,
    classify,
    describe,
    env,
    log_event,
    report_problem,
    run_scheduled,
)
from .deployments import stack_names

NAME = "drift"
NAMESPACE = "DataPlatform/Drift"
POLL_S = 5.0


def check(
    stacks: list[str],
    *,
    cloudformation: Any,
    metrics: Metrics,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    problems: dict[str, int] = {}
    running: dict[str, str] = {}
    results: dict[str, dict[str, Any]] = {}

    def failed(stack: str, reason: str, error: str) -> None:
        report_problem(problems, reason, stack=stack, error=error)
        metrics.add(NAMESPACE, "DriftDetectionFailed", 1, Stack=stack)
        results[stack] = {"error": reason}

    for stack in stacks:
        try:
            running[stack] = cloudformation.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
        except Exception as exc:
            failed(stack, classify(exc), describe(exc))
    while running:
        if deadline.left() < 20:
            for stack in running:
                failed(stack, "Timeout", "drift detection still running when the function's time ran out")
            break
        for stack, detection_id in list(running.items()):
            try:
                status = cloudformation.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
            except Exception as exc:
                failed(stack, classify(exc), describe(exc))
                del running[stack]
                continue
            if status["DetectionStatus"] == "DETECTION_IN_PROGRESS":
                continue
            del running[stack]
            drifted = status.get("StackDriftStatus") == "DRIFTED"
            count = int(status.get("DriftedStackResourceCount", 0))
            metrics.add(NAMESPACE, "StackDrifted", 1 if drifted else 0, Stack=stack)
            metrics.add(NAMESPACE, "DriftedResources", count, Stack=stack)
            # DETECTION_FAILED can still carry a drift status for the resources it could check.
            detection_failed = status["DetectionStatus"] == "DETECTION_FAILED"
            if detection_failed:
                failed(stack, "DetectionFailed", str(status.get("DetectionStatusReason", "")))
            else:
                metrics.add(NAMESPACE, "DriftDetectionFailed", 0, Stack=stack)
            results[stack] = {"drifted": drifted, "resources": count, "detection_failed": detection_failed}
            if drifted:
                _log_drifts(cloudformation, stack)
        if running:
            sleep(POLL_S)
    drifted_stacks = sorted(s for s, r in results.items() if r.get("drifted"))
    metrics.add(NAMESPACE, "DriftedStacks", len(drifted_stacks))
    return {"stacks": len(stacks), "drifted": drifted_stacks, "problems": problems, "details": results}


def _log_drifts(cloudformation: Any, stack: str) -> None:
    try:
        drifts = cloudformation.describe_stack_resource_drifts(
            StackName=stack, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
        )["StackResourceDrifts"]
    except Exception as exc:  # the metric is out already; the details are a courtesy
        log_event(logging.WARNING, "drift_details_unavailable", stack=stack, error=describe(exc))
        return
    for drift in drifts:
        log_event(
            logging.ERROR,
            "stack_drifted",
            stack=stack,
            resource=drift.get("LogicalResourceId"),
            type=drift.get("ResourceType"),
            status=drift.get("StackResourceDriftStatus"),
            differences=[
                {"path": d.get("PropertyPath"), "expected": d.get("ExpectedValue"), "actual": d.get("ActualValue")}
                for d in drift.get("PropertyDifferences", [])
            ],
        )


def handler(
    event: dict[str, Any],
    context: Any = None,
    *,
    cloudformation: Any = None,
    cloudwatch: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    cloudformation, cloudwatch = aws_clients(cloudformation=cloudformation, cloudwatch=cloudwatch)

    def body(metrics: Metrics, deadline: Deadline, now: datetime) -> dict[str, Any]:
        stacks = stack_names(env("STACK_NAMES"))
        if not stacks:
            raise CanaryError("Misconfigured", "STACK_NAMES is empty: there is nothing to check for drift")
        return check(stacks, cloudformation=cloudformation, metrics=metrics, deadline=deadline, sleep=sleep)

    return run_scheduled(NAME, event, context, body, cloudwatch=cloudwatch)
