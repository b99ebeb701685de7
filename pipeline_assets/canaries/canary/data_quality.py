"""Data quality: the active release's dbt test results against the previous release's, per pipeline.

DAG runs upload dbt's `target/run_results.json` after every build to
`s3://<results bucket>/dbt-results/<release_id>/<pipeline_id>/<run>/run_results.json`.
For each pipeline with a dbt step the canary compares the newest results of the active release
with the newest results of the release before it (walking back the activation history until one
has results):

- failures: tests with status fail/error and models that errored, now;
- regressions: failures that the baseline did not have, plus models whose `rows_affected` dropped
  by more than `ROW_DROP_THRESHOLD` (default 0.5) of the baseline's ("key row counts": the
  pipeline's `key_models` when the event names them, every model with a count otherwise).
  dbt-snowflake reports real `rows_affected` for incremental models (MERGE/INSERT); a table rebuild
  reports the CREATE statement's single status row, so key models should be incremental ones.

No results yet for the active release is *pending* until the pipeline's allowed age has passed
since activation, then *missing* (a failure). No baseline is reported as such, and every current
failure then counts as a regression: nothing to compare with is not a pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
    list_keys,
    log_event,
    previous_releases,
    read_json,
    release_history,
    report_problem,
    run_scheduled,
    scheduled_pipelines,
)

NAME = "data-quality"
NAMESPACE = "DataPlatform/DataQuality"
MAX_RELEASES_BACK = 20
FAILED = {"fail", "error", "runtime error"}


@dataclass(frozen=True)
class Settings:
    environment: str
    results_bucket: str
    results_prefix: str
    parameter: str
    row_drop_threshold: float = 0.5

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            environment=env("ENVIRONMENT"),
            results_bucket=env("RESULTS_BUCKET"),
            results_prefix=env("RESULTS_PREFIX", "dbt-results/"),
            parameter=env("ACTIVE_RELEASE_PARAMETER"),
            row_drop_threshold=float(env("ROW_DROP_THRESHOLD", "0.5")),
        )


@dataclass(frozen=True)
class RunResults:
    key: str
    failing: frozenset[str]
    rows: dict[str, int]


def parse_run_results(data: dict[str, Any], key: str) -> RunResults:
    schema = str((data.get("metadata") or {}).get("dbt_schema_version", ""))
    results = data.get("results")
    if "run-results" not in schema or not isinstance(results, list):
        raise CanaryError("MalformedData", f"{key} is not a dbt run_results.json (dbt_schema_version {schema!r})")
    failing, rows = set(), {}
    for result in results:
        unique_id = str(result.get("unique_id", ""))
        status = str(result.get("status", "")).lower()
        if status in FAILED:
            failing.add(unique_id)
        affected = (result.get("adapter_response") or {}).get("rows_affected")
        if unique_id.startswith("model.") and isinstance(affected, int) and status == "success":
            rows[unique_id] = affected
    return RunResults(key, frozenset(failing), rows)


def newest_results(s3: Any, settings: Settings, release_id: str, pipeline_id: str) -> RunResults | None:
    prefix = f"{settings.results_prefix}{release_id}/{pipeline_id}/"
    runs = [o for o in list_keys(s3, settings.results_bucket, prefix) if o["Key"].endswith("run_results.json")]
    if not runs:
        return None
    newest = max(runs, key=lambda o: o["LastModified"])
    data = read_json(s3, settings.results_bucket, newest["Key"])
    if data is None:  # listed a moment ago, gone now: a lifecycle rule or a concurrent delete
        raise CanaryError("MissingData", f"s3://{settings.results_bucket}/{newest['Key']} vanished while reading")
    return parse_run_results(data, newest["Key"])


def compare(
    current: RunResults, baseline: RunResults | None, *, threshold: float, key_models: list[str]
) -> dict[str, Any]:
    new_failures = sorted(current.failing - (baseline.failing if baseline else frozenset()))
    drops = []
    if baseline is not None:
        models = key_models or sorted(baseline.rows)
        for model in models:
            before, now = baseline.rows.get(model), current.rows.get(model)
            if before and now is not None and now < before * (1 - threshold):
                drops.append({"model": model, "baseline": before, "current": now})
    return {"failures": len(current.failing), "new_failures": new_failures, "row_drops": drops}


def check(
    settings: Settings,
    entries: list[dict[str, Any]],
    *,
    s3: Any,
    ssm: Any,
    metrics: Metrics,
    deadline: Deadline,
    now: datetime,
) -> dict[str, Any]:
    history = release_history(ssm, settings.parameter)
    active = history[-1]
    earlier = previous_releases(history)[:MAX_RELEASES_BACK]
    minutes_active = (now - active.activated_at).total_seconds() / 60
    problems: dict[str, int] = {}
    details: dict[str, Any] = {}
    totals = {"failures": 0, "regressions": 0, "missing": 0}
    for entry in entries:
        pipeline_id = str(entry.get("id") or "")
        if not pipeline_id:
            raise CanaryError("Misconfigured", f"pipeline entry {entry!r} has no id")
        allowed = float(entry.get("max_age_minutes") or 0)
        key_models = [str(m) for m in entry.get("key_models", [])]
        try:
            deadline.check(f"reading results of {pipeline_id}")
            current = newest_results(s3, settings, active.release_id, pipeline_id)
            if current is None:
                waited_out = allowed > 0 and minutes_active > allowed
                metrics.add(NAMESPACE, "DataQualityResultsPending", 0 if waited_out else 1, Pipeline=pipeline_id)
                metrics.add(NAMESPACE, "DataQualityResultsMissing", 1 if waited_out else 0, Pipeline=pipeline_id)
                if waited_out:
                    totals["missing"] += 1
                    report_problem(
                        problems,
                        "MissingData",
                        pipeline=pipeline_id,
                        error=f"no dbt results for {active.release_id} {minutes_active:.0f} min after activation",
                    )
                details[pipeline_id] = {"results": "missing" if waited_out else "pending"}
                continue
            baseline = None
            baseline_release = None
            for release_id in earlier:
                deadline.check(f"reading the baseline of {pipeline_id}")
                baseline = newest_results(s3, settings, release_id, pipeline_id)
                if baseline is not None:
                    baseline_release = release_id
                    break
        except Exception as exc:
            reason = classify(exc)
            report_problem(problems, reason, pipeline=pipeline_id, error=describe(exc))
            metrics.add(NAMESPACE, "DataQualityCheckFailed", 1, Pipeline=pipeline_id)
            details[pipeline_id] = {"error": reason}
            if reason == "Timeout":
                break
            continue
        outcome = compare(current, baseline, threshold=settings.row_drop_threshold, key_models=key_models)
        regressions = len(outcome["new_failures"]) + len(outcome["row_drops"])
        totals["failures"] += outcome["failures"]
        totals["regressions"] += regressions
        for metric, value in (
            ("DataQualityFailures", outcome["failures"]),
            ("DataQualityRegressions", regressions),
            ("RowCountDrops", len(outcome["row_drops"])),
            ("DataQualityNoBaseline", 1 if baseline is None else 0),
            ("DataQualityResultsPending", 0),
            ("DataQualityResultsMissing", 0),
            ("DataQualityCheckFailed", 0),
        ):
            metrics.add(NAMESPACE, metric, value, Pipeline=pipeline_id)
        if regressions or baseline is None:
            log_event(
                logging.WARNING if baseline is None and not regressions else logging.ERROR,
                "data_quality_regression" if regressions else "data_quality_no_baseline",
                pipeline=pipeline_id,
                release_id=active.release_id,
                baseline_release_id=baseline_release,
                results=current.key,
                **outcome,
            )
        details[pipeline_id] = {**outcome, "baseline_release_id": baseline_release}
    metrics.add(NAMESPACE, "DataQualityFailures", totals["failures"])
    metrics.add(NAMESPACE, "DataQualityRegressions", totals["regressions"])
    metrics.add(NAMESPACE, "DataQualityResultsMissing", totals["missing"])
    return {"release_id": active.release_id, **totals, "problems": problems, "details": details}


def handler(
    event: dict[str, Any], context: Any = None, *, s3: Any = None, ssm: Any = None, cloudwatch: Any = None
) -> dict[str, Any]:
    s3, ssm, cloudwatch = aws_clients(s3=s3, ssm=ssm, cloudwatch=cloudwatch)

    def body(metrics: Metrics, deadline: Deadline, now: datetime) -> dict[str, Any]:
        entries = scheduled_pipelines(event)
        return check(Settings.from_env(), entries, s3=s3, ssm=ssm, metrics=metrics, deadline=deadline, now=now)

    return run_scheduled(NAME, event, context, body, cloudwatch=cloudwatch)
