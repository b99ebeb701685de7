"""What every canary shares: metric publishing, failure classification, deadlines, release history."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger("canary")
LOG.setLevel(logging.INFO)

RELEASE_NAMESPACE = "DataPlatform/Release"
# CloudWatch accepts up to 1,000 metrics (1 MB) per PutMetricData call; 150 keeps far below the size cap.
PUT_BATCH = 150
# Stop starting new work this long before Lambda would kill us, so that the failure is still published.
SAFETY_MARGIN_S = 15.0


class CanaryError(Exception):
    """The canary could not measure what it is for. `reason` becomes the metric's Reason dimension."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def classify(exc: BaseException) -> str:
    """A short, stable reason for an exception (a metric dimension value, so no free text)."""
    if isinstance(exc, CanaryError):
        return exc.reason
    name = type(exc).__name__
    if name in ("ReadTimeoutError", "ConnectTimeoutError", "TimeoutError"):
        return "Timeout"
    if name in ("EndpointConnectionError", "ConnectionClosedError"):
        return "ApiUnreachable"
    if hasattr(exc, "response") and isinstance(getattr(exc, "response", None), dict):
        return "ApiError"
    return "Unexpected"


def describe(exc: BaseException) -> str:
    if hasattr(exc, "response") and isinstance(getattr(exc, "response", None), dict):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"


def log_event(level: int, event: str, **fields: Any) -> None:
    """One JSON line per event: CloudWatch Logs Insights can filter on any field."""
    LOG.log(level, json.dumps({"event": event, **fields}, default=str, sort_keys=True))


@dataclass
class Metrics:
    """Collects datums and publishes them in batches; every datum carries the Environment dimension."""

    cloudwatch: Any
    environment: str
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    published: int = 0

    def add(
        self,
        namespace: str,
        name: str,
        value: float,
        *,
        unit: str = "Count",
        timestamp: datetime | None = None,
        **dimensions: str,
    ) -> None:
        dims = [{"Name": "Environment", "Value": self.environment}]
        dims += [{"Name": key, "Value": str(val)} for key, val in sorted(dimensions.items())]
        self._pending.setdefault(namespace, []).append(
            {
                "MetricName": name,
                "Dimensions": dims,
                "Value": float(value),
                "Unit": unit,
                "Timestamp": timestamp or self.timestamp,
            }
        )

    def discard(self) -> None:
        self._pending.clear()

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for namespace, data in pending.items():
            for start in range(0, len(data), PUT_BATCH):
                batch = data[start : start + PUT_BATCH]
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
                self.published += len(batch)


class Deadline:
    """Lambda's remaining time, so that a slow API turns into a published Timeout, not a silent kill."""

    def __init__(self, context: Any = None, *, budget_s: float | None = None) -> None:
        started = time.monotonic()
        if budget_s is not None:
            self._left = lambda: budget_s - (time.monotonic() - started)
        elif context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._left = lambda: context.get_remaining_time_in_millis() / 1000.0
        else:
            self._left = lambda: 600.0 - (time.monotonic() - started)

    def left(self) -> float:
        return float(self._left())

    def check(self, doing: str) -> None:
        if self.left() < SAFETY_MARGIN_S:
            raise CanaryError("Timeout", f"ran out of time before {doing} ({self.left():.0f} s left)")


def run_canary(
    name: str,
    body: Callable[[Metrics, Deadline], dict[str, Any]],
    *,
    cloudwatch: Any,
    environment: str,
    deadline: Deadline,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run one canary: its metrics on success, CanaryError{Reason} plus an error log on any failure.

    Partial problems (one pipeline out of many) are reported by the body through `report_problem`
    and counted into CanaryError without failing the whole run; anything raised fails the run and
    is re-raised after the failure metric is out, so Lambda's own Errors metric counts it too.
    """
    metrics = Metrics(cloudwatch, environment, now) if now else Metrics(cloudwatch, environment)
    try:
        summary = body(metrics, deadline)
    except Exception as exc:
        reason = classify(exc)
        log_event(logging.ERROR, "canary_failed", canary=name, reason=reason, error=describe(exc))
        metrics.discard()  # half-measured values would read as health
        _error_metrics(metrics, name, {reason: 1})
        metrics.add(RELEASE_NAMESPACE, "CanaryFailed", 1, Canary=name)
        metrics.add(RELEASE_NAMESPACE, "CanaryRun", 1, Canary=name)
        metrics.flush()
        raise
    problems: dict[str, int] = summary.get("problems", {})
    _error_metrics(metrics, name, problems)
    # CanaryFailed: the run as a whole could not observe; CanaryError also counts partial problems.
    metrics.add(RELEASE_NAMESPACE, "CanaryFailed", 0, Canary=name)
    metrics.add(RELEASE_NAMESPACE, "CanaryRun", 1, Canary=name)
    metrics.flush()
    summary["metrics_published"] = metrics.published
    log_event(logging.INFO, "canary_done", canary=name, **{k: v for k, v in summary.items() if k != "details"})
    return summary


def run_scheduled(
    name: str,
    event: Mapping[str, Any],
    context: Any,
    body: Callable[[Metrics, Deadline, datetime], dict[str, Any]],
    *,
    cloudwatch: Any,
) -> dict[str, Any]:
    """What every canary's Lambda handler does around its check: the event's scheduled time (so a
    retried event measures the same window again), the function's remaining time, the environment label."""
    now = event_time(event)
    return run_canary(
        name,
        lambda metrics, deadline: body(metrics, deadline, now),
        cloudwatch=cloudwatch,
        environment=environment_label(),
        deadline=Deadline(context),
        now=now,
    )


def scheduled_pipelines(event: Mapping[str, Any]) -> list[Any]:
    """The pipelines listed in the schedule rule's input (one rule per chunk of pipelines)."""
    entries = event.get("pipelines") if isinstance(event, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CanaryError("Misconfigured", "the scheduled event carries no 'pipelines' list to check")
    return entries


def _error_metrics(metrics: Metrics, name: str, problems: Mapping[str, int]) -> None:
    # An explicit zero keeps the error alarm fed with data when all is well.
    metrics.add(RELEASE_NAMESPACE, "CanaryError", float(sum(problems.values())), Canary=name)
    for reason, count in sorted(problems.items()):
        metrics.add(RELEASE_NAMESPACE, "CanaryError", float(count), Canary=name, Reason=reason)


def report_problem(problems: dict[str, int], reason: str, **fields: Any) -> None:
    problems[reason] = problems.get(reason, 0) + 1
    log_event(logging.ERROR, "canary_problem", reason=reason, **fields)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise CanaryError("Misconfigured", f"environment variable {name} is not set on the function")
    return value


def environment_label() -> str:
    # Only a metric dimension: a missing variable must not stop the failure metric from going out.
    return os.environ.get("ENVIRONMENT") or "unknown"


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)  # botocore's transport errors carry response=None
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_missing(exc: BaseException) -> bool:
    code = error_code(exc)
    return code in ("NoSuchKey", "404", "NotFound", "ParameterNotFound") or type(exc).__name__ == "ParameterNotFound"


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """An S3 JSON object, None when it does not exist; unreadable JSON is a CanaryError, never 'absent'."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if is_missing(exc):
            return None
        raise
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise CanaryError("MalformedData", f"s3://{bucket}/{key} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CanaryError("MalformedData", f"s3://{bucket}/{key} must hold a JSON object")
    return data


def list_keys(s3: Any, bucket: str, prefix: str, *, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from page.get("Contents", [])
        for common in page.get("CommonPrefixes", []):
            yield {"Prefix": common["Prefix"]}


@dataclass(frozen=True)
class Activation:
    release_id: str
    activated_at: datetime
    version: int


def release_history(ssm: Any, parameter: str) -> list[Activation]:
    """Every activation recorded in the active-release parameter, oldest first (SSM keeps 100 versions)."""
    history: list[Activation] = []
    try:
        for page in ssm.get_paginator("get_parameter_history").paginate(Name=parameter):
            for item in page.get("Parameters", []):
                history.append(
                    Activation(str(item["Value"]).strip(), _utc(item["LastModifiedDate"]), int(item["Version"]))
                )
    except Exception as exc:
        if is_missing(exc):
            raise CanaryError(
                "MissingData", f"SSM parameter {parameter} does not exist: no release was activated"
            ) from exc
        raise
    if not history:
        raise CanaryError("MissingData", f"SSM parameter {parameter} has no history: no release was activated")
    return sorted(history, key=lambda a: a.version)


def previous_releases(history: list[Activation]) -> list[str]:
    """Releases active before the current one, most recent first, each once."""
    current = history[-1].release_id
    seen: list[str] = []
    for activation in reversed(history[:-1]):
        if activation.release_id != current and activation.release_id not in seen:
            seen.append(activation.release_id)
    return seen


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(str(value))


def parse_time(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_time(event: Mapping[str, Any], fallback: datetime | None = None) -> datetime:
    """EventBridge's scheduled time: a retried event measures the same window again, not a new one."""
    raw = event.get("time") if isinstance(event, Mapping) else None
    if raw:
        try:
            return parse_time(str(raw))
        except ValueError:
            pass
    return fallback or datetime.now(UTC)


def aws_clients(**given: Any) -> list[Any]:
    """The handler's clients, in the order given: injected ones (moto, Stubbers) as they are, the
    missing ones made here with the canary's client config (the Lambda runtime provides boto3)."""
    if any(client is None for client in given.values()):
        import boto3

        config = client_config()
        given = {name: boto3.client(name, config=config) if c is None else c for name, c in given.items()}
    return list(given.values())


def client_config() -> Any:
    """Short timeouts and bounded retries: a hung endpoint must end as a published Timeout."""
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
