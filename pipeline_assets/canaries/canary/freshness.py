"""Freshness: minutes since each pipeline's last successful load, against the registry's SLA.

The scheduled event carries the pipelines to check (the monitoring stack splits the registry into
chunks that fit an EventBridge input), each with the age it may reach: its schedule's longest gap
plus its freshness SLA, computed at synth from the pipeline spec. Three ways to measure:

- `s3`: the raw layer's latest partition under `landing/<pipeline_id>/` in the raw bucket: descend
  the Hive-style `key=value/` folders taking the greatest value, then the newest object there.
  Folders starting with `_` or `.` (Spark's `_spark_metadata/`, temporary output) are not data.
- `dbt`: the newest successful dbt `run_results.json` the DAG runs wrote for the pipeline under
  `dbt-results/<release_id>/<pipeline_id>/` (active release first, then the ones before it).
- `snowflake`: `max(<column>)` of a table, through an injected DB-API connection (the Lambda
  package has no Snowflake connector unless a layer adds one; without it the check fails loudly).

Per pipeline: `FreshnessMinutes`, `FreshnessBudgetUsed` (minutes / allowed; above 1 is stale) and
`FreshnessCheckFailed` (1 when it could not be measured, with the reason logged). Totals:
`StalePipelines` and `UnmeasuredPipelines`, which the release-health alarm watches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .core import (
    CanaryError,
    Deadline,
    Metrics,
    aws_clients,
    classify,
    client_config,
    describe,
    env,
    list_keys,
    log_event,
    parse_time,
    previous_releases,
    read_json,
    release_history,
    report_problem,
    run_scheduled,
    scheduled_pipelines,
)

NAME = "freshness"
NAMESPACE = "DataPlatform/Freshness"
KINDS = ("s3", "dbt", "snowflake")
MAX_DEPTH = 6
MAX_RELEASES_BACK = 20
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
SUCCESS = {"success", "pass", "skipped", "warn"}


@dataclass(frozen=True)
class Pipeline:
    id: str
    max_age_minutes: float
    source: str
    prefix: str = ""
    table: str = ""
    column: str = "LOADED_AT"
    streaming: bool = False

    @classmethod
    def parse(cls, item: Any) -> Pipeline:
        if not isinstance(item, dict):
            raise CanaryError("Misconfigured", f"pipeline entry {item!r} is not an object")
        pipeline_id = str(item.get("id") or "")
        source = item.get("source")
        try:
            max_age = float(item.get("max_age_minutes", 0))
        except (TypeError, ValueError):
            max_age = 0.0
        if not pipeline_id or source not in KINDS or max_age <= 0:
            raise CanaryError(
                "Misconfigured",
                f"pipeline entry {item!r} needs id, source ({', '.join(KINDS)}) and max_age_minutes > 0",
            )
        table = str(item.get("table") or "")
        column = str(item.get("column") or "LOADED_AT")
        if source == "snowflake" and not (
            table and all(_IDENT.match(part) for part in table.split(".")) and _IDENT.match(column)
        ):
            raise CanaryError("Misconfigured", f"pipeline {pipeline_id}: table/column must be plain identifiers")
        return cls(
            id=pipeline_id,
            max_age_minutes=max_age,
            source=source,
            prefix=str(item.get("prefix") or f"landing/{pipeline_id}/"),
            table=table,
            column=column,
            streaming=bool(item.get("streaming", False)),
        )


@dataclass(frozen=True)
class Settings:
    environment: str
    raw_bucket: str
    results_bucket: str
    results_prefix: str
    parameter: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            environment=env("ENVIRONMENT"),
            raw_bucket=env("RAW_BUCKET"),
            results_bucket=env("RESULTS_BUCKET"),
            results_prefix=env("RESULTS_PREFIX", "dbt-results/"),
            parameter=env("ACTIVE_RELEASE_PARAMETER"),
        )


def _partition_key(prefix: str) -> tuple[int, Any]:
    value = prefix.rstrip("/").rsplit("/", 1)[-1].split("=", 1)[1]
    return (1, int(value)) if value.isdigit() else (0, value)


def _hidden(prefix: str) -> bool:
    return prefix.rstrip("/").rsplit("/", 1)[-1].startswith(("_", "."))


def latest_landing(s3: Any, bucket: str, prefix: str, deadline: Deadline) -> tuple[datetime, str]:
    """(LastModified, key) of the newest object in the latest partition under prefix."""
    current = prefix
    for _ in range(MAX_DEPTH):
        deadline.check(f"listing s3://{bucket}/{current}")
        folders, objects = [], []
        for item in list_keys(s3, bucket, current, delimiter="/"):
            if "Prefix" in item:
                if not _hidden(item["Prefix"]):
                    folders.append(item["Prefix"])
            else:
                objects.append(item)
        partitions = [f for f in folders if "=" in f.rstrip("/").rsplit("/", 1)[-1]]
        if partitions:
            current = max(partitions, key=_partition_key)
            continue
        if folders:  # plain sub-folders: the newest object anywhere below
            objects += [o for f in folders for o in list_keys(s3, bucket, f) if not _hidden(o["Key"].rsplit("/", 1)[0])]
        if objects:
            newest = max(objects, key=lambda o: o["LastModified"])
            return _aware(newest["LastModified"]), newest["Key"]
        break
    raise CanaryError("MissingData", f"no landed objects under s3://{bucket}/{current}")


def latest_dbt_success(
    s3: Any, settings: Settings, pipeline_id: str, releases: Iterable[str], deadline: Deadline
) -> tuple[datetime, str]:
    for release_id in releases:
        prefix = f"{settings.results_prefix}{release_id}/{pipeline_id}/"
        deadline.check(f"listing s3://{settings.results_bucket}/{prefix}")
        runs = [o for o in list_keys(s3, settings.results_bucket, prefix) if o["Key"].endswith("run_results.json")]
        for run in sorted(runs, key=lambda o: o["LastModified"], reverse=True):
            results = read_json(s3, settings.results_bucket, run["Key"]) or {}
            statuses = {str(r.get("status")) for r in results.get("results", []) if isinstance(r, dict)}
            generated = (results.get("metadata") or {}).get("generated_at")
            if statuses and statuses <= SUCCESS and generated:
                return parse_time(str(generated)), run["Key"]
    raise CanaryError("MissingData", f"no successful dbt run_results.json for {pipeline_id} in recent releases")


def snowflake_latest(connect: Callable[[], Any], table: str, column: str) -> tuple[datetime, str]:
    connection = connect()
    try:
        cursor = connection.cursor()
        # Identifiers are checked against a plain-identifier pattern in Pipeline.parse: no injection.
        cursor.execute(f"select max({column}) from {table}")  # noqa: S608
        row = cursor.fetchone()
    finally:
        connection.close()
    if not row or row[0] is None:
        raise CanaryError("MissingData", f"{table} has no rows with {column}")
    value = row[0]
    if not isinstance(value, datetime):
        raise CanaryError("MalformedData", f"max({column}) of {table} is {type(value).__name__}, not a timestamp")
    return _aware(value), f"{table}.{column}"


def _aware(value: datetime) -> datetime:
    # Snowflake TIMESTAMP_NTZ comes back naive; the platform's <event>_at columns are UTC.
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def default_snowflake_connect() -> Any:
    """The Lambda's Snowflake connection: the connector (a layer) and a key-pair secret."""
    try:
        import snowflake.connector
    except ImportError as exc:
        raise CanaryError(
            "SnowflakeUnavailable",
            "snowflake-connector-python is not in this Lambda package: attach the connector layer "
            "(docs/runbook.md, 'Freshness from Snowflake') or measure this pipeline from its raw landing",
        ) from exc
    import json

    import boto3

    secret = json.loads(
        boto3.client("secretsmanager", config=client_config()).get_secret_value(SecretId=env("SNOWFLAKE_SECRET_NAME"))[
            "SecretString"
        ]
    )
    return snowflake.connector.connect(login_timeout=20, network_timeout=30, **secret)


def check(
    settings: Settings,
    pipelines: list[Pipeline],
    *,
    s3: Any,
    ssm: Any,
    metrics: Metrics,
    deadline: Deadline,
    now: datetime,
    snowflake_connect: Callable[[], Any],
) -> dict[str, Any]:
    problems: dict[str, int] = {}
    details: dict[str, dict[str, Any]] = {}
    releases: list[str] | None = None
    stale = unmeasured = 0
    for index, pipeline in enumerate(pipelines):
        try:
            deadline.check(f"measuring {pipeline.id}")
            if pipeline.source == "s3":
                loaded_at, where = latest_landing(s3, settings.raw_bucket, pipeline.prefix, deadline)
            elif pipeline.source == "dbt":
                if releases is None:
                    history = release_history(ssm, settings.parameter)
                    releases = [history[-1].release_id, *previous_releases(history)][:MAX_RELEASES_BACK]
                loaded_at, where = latest_dbt_success(s3, settings, pipeline.id, releases, deadline)
            else:
                loaded_at, where = snowflake_latest(snowflake_connect, pipeline.table, pipeline.column)
        except Exception as exc:
            reason = classify(exc)
            unmeasured += 1
            report_problem(problems, reason, pipeline=pipeline.id, source=pipeline.source, error=describe(exc))
            metrics.add(NAMESPACE, "FreshnessCheckFailed", 1, Pipeline=pipeline.id)
            details[pipeline.id] = {"error": reason}
            if reason == "Timeout":  # the rest cannot be measured either: say so for each of them
                for rest in pipelines[index + 1 :]:
                    unmeasured += 1
                    report_problem(problems, "Timeout", pipeline=rest.id, source=rest.source, error="not reached")
                    metrics.add(NAMESPACE, "FreshnessCheckFailed", 1, Pipeline=rest.id)
                    details[rest.id] = {"error": "Timeout"}
                break
            continue
        minutes = max(0.0, (now - loaded_at).total_seconds() / 60)
        used = minutes / pipeline.max_age_minutes
        stale += used > 1
        metrics.add(NAMESPACE, "FreshnessMinutes", minutes, unit="None", Pipeline=pipeline.id)
        metrics.add(NAMESPACE, "FreshnessBudgetUsed", used, unit="None", Pipeline=pipeline.id)
        metrics.add(NAMESPACE, "FreshnessCheckFailed", 0, Pipeline=pipeline.id)
        if pipeline.streaming:
            metrics.add(NAMESPACE, "StreamingLagSeconds", minutes * 60, unit="Seconds", Pipeline=pipeline.id)
        details[pipeline.id] = {"minutes": round(minutes, 1), "allowed": pipeline.max_age_minutes, "where": where}
        if used > 1:
            log_event(logging.WARNING, "pipeline_stale", pipeline=pipeline.id, minutes=round(minutes, 1), where=where)
    metrics.add(NAMESPACE, "StalePipelines", stale)
    metrics.add(NAMESPACE, "UnmeasuredPipelines", unmeasured)
    return {
        "checked": len(pipelines),
        "stale": stale,
        "unmeasured": unmeasured,
        "problems": problems,
        "details": details,
    }


def handler(
    event: dict[str, Any],
    context: Any = None,
    *,
    s3: Any = None,
    ssm: Any = None,
    cloudwatch: Any = None,
    snowflake_connect: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    s3, ssm, cloudwatch = aws_clients(s3=s3, ssm=ssm, cloudwatch=cloudwatch)

    def body(metrics: Metrics, deadline: Deadline, now: datetime) -> dict[str, Any]:
        pipelines = [Pipeline.parse(item) for item in scheduled_pipelines(event)]
        return check(
            Settings.from_env(),
            pipelines,
            s3=s3,
            ssm=ssm,
            metrics=metrics,
            deadline=deadline,
            now=now,
            snowflake_connect=snowflake_connect or default_snowflake_connect,
        )

    return run_scheduled(NAME, event, context, body, cloudwatch=cloudwatch)
