"""Deployment metrics of one environment, recomputed from the records that are already authoritative.

- Activations: the active-release SSM parameter's history (the activator writes it on every change;
  SSM keeps the last 100 versions, about three weeks at 35 releases a week). An activation of a
  release that was active before is a rollback; any other is a deployment.
- Lead time: activation time minus the release's commit time (`build_time` in release.json, which
  the release build sets to the commit's time).
- Failed deployments: stack-level rollback/failed statuses in the CloudFormation events of the
  environment's stacks.

Published as rolling gauges over `WINDOW_DAYS` (default 7): a re-run publishes the same numbers
again, so a duplicate or retried schedule event cannot double count anything.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .core import (
    RELEASE_NAMESPACE,
    CanaryError,
    Deadline,
    Metrics,
    aws_clients,
    classify,
    describe,
    env,
    log_event,
    parse_time,
    read_json,
    release_history,
    report_problem,
    run_scheduled,
)

NAME = "deployments"
FAILED_STACK_STATUSES = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
    "IMPORT_ROLLBACK_FAILED",
}


def stack_names(raw: str) -> list[str]:
    try:
        names = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CanaryError("Misconfigured", f"STACK_NAMES must be a JSON list of stack names: {exc}") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise CanaryError("Misconfigured", "STACK_NAMES must be a JSON list of stack names")
    return names


@dataclass(frozen=True)
class Settings:
    environment: str
    parameter: str
    release_bucket: str
    stacks: tuple[str, ...]
    window: timedelta = timedelta(days=7)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            environment=env("ENVIRONMENT"),
            parameter=env("ACTIVE_RELEASE_PARAMETER"),
            release_bucket=env("RELEASE_BUCKET"),
            stacks=tuple(stack_names(env("STACK_NAMES"))),
            window=timedelta(days=int(env("WINDOW_DAYS", "7"))),
        )


def failed_deployments(cloudformation: Any, stack: str, since: datetime, deadline: Deadline) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack):
        deadline.check(f"reading the events of {stack}")
        for event in page.get("StackEvents", []):  # newest first
            if event["Timestamp"] < since:
                return failures
            if (
                event.get("ResourceType") == "AWS::CloudFormation::Stack"
                and event.get("ResourceStatus") in FAILED_STACK_STATUSES
            ):
                failures.append(
                    {"stack": stack, "status": event["ResourceStatus"], "at": event["Timestamp"].isoformat()}
                )
    return failures


def check(
    settings: Settings, *, ssm: Any, s3: Any, cloudformation: Any, metrics: Metrics, deadline: Deadline, now: datetime
) -> dict[str, Any]:
    since = now - settings.window
    history = release_history(ssm, settings.parameter)
    deployments, rollbacks, lead_times = [], [], []
    problems: dict[str, int] = {}
    for index, activation in enumerate(history):
        if activation.activated_at < since:
            continue
        earlier = {a.release_id for a in history[:index]}
        if activation.release_id in earlier:
            rollbacks.append(activation)
            continue
        deployments.append(activation)
        deadline.check(f"reading release {activation.release_id}")
        manifest = read_json(s3, settings.release_bucket, f"releases/{activation.release_id}/release.json")
        committed = (manifest or {}).get("build_time")
        if not committed:
            report_problem(
                problems, "MissingData", release_id=activation.release_id, error="no build_time in release.json"
            )
            continue
        lead_times.append((activation.activated_at - parse_time(str(committed))).total_seconds() / 60)

    failures: list[dict[str, Any]] = []
    for stack in settings.stacks:
        try:
            failures += failed_deployments(cloudformation, stack, since, deadline)
        except Exception as exc:
            if classify(exc) == "Timeout":
                raise
            report_problem(problems, classify(exc), stack=stack, error=describe(exc))

    attempts = len(deployments) + len(failures)
    failure_rate = 100.0 * (len(rollbacks) + len(failures)) / attempts if attempts else 0.0
    days = settings.window.days
    for metric, value, unit in (
        (f"Deployments{days}d", len(deployments), "Count"),
        (f"Rollbacks{days}d", len(rollbacks), "Count"),
        (f"FailedDeployments{days}d", len(failures), "Count"),
        (f"ChangeFailureRate{days}d", failure_rate, "Percent"),
        ("ActiveReleaseVersion", history[-1].version, "None"),
        ("MinutesSinceLastActivation", (now - history[-1].activated_at).total_seconds() / 60, "None"),
    ):
        metrics.add(RELEASE_NAMESPACE, metric, value, unit=unit)
    if lead_times:
        metrics.add(RELEASE_NAMESPACE, f"LeadTimeMinutes{days}d", statistics.median(lead_times), unit="None")
    for failure in failures:
        log_event(logging.WARNING, "deployment_failed", **failure)
    for activation in rollbacks:
        log_event(logging.WARNING, "release_rolled_back", release_id=activation.release_id, at=activation.activated_at)
    return {
        "deployments": len(deployments),
        "rollbacks": len(rollbacks),
        "failed_deployments": len(failures),
        "change_failure_rate": round(failure_rate, 1),
        "lead_time_minutes": round(statistics.median(lead_times), 1) if lead_times else None,
        "problems": problems,
    }


def handler(
    event: dict[str, Any],
    context: Any = None,
    *,
    ssm: Any = None,
    s3: Any = None,
    cloudformation: Any = None,
    cloudwatch: Any = None,
) -> dict[str, Any]:
    ssm, s3, cloudformation, cloudwatch = aws_clients(
        ssm=ssm, s3=s3, cloudformation=cloudformation, cloudwatch=cloudwatch
    )

    def body(metrics: Metrics, deadline: Deadline, now: datetime) -> dict[str, Any]:
        return check(
            Settings.from_env(),
            ssm=ssm,
            s3=s3,
            cloudformation=cloudformation,
            metrics=metrics,
            deadline=deadline,
            now=now,
        )

    return run_scheduled(NAME, event, context, body, cloudwatch=cloudwatch)
