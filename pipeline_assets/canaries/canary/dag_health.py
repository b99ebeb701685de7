"""DAG health: are the active release's DAGs parsed by MWAA, without import errors, since activation?

Reads through the MWAA `InvokeRestApi` action (Airflow REST API, no web login token to manage):

- `GET /importErrors`: any import error is a broken DAG file.
- `GET /dags`: every pipeline of the active release (one spec per pipeline in
  `releases/<id>/dags/pipelines/<pipeline_id>.yaml`, the DAG factory names the DAG after the file)
  must be listed, and its `last_parsed_time` must be after the activation (the SSM parameter's
  LastModifiedDate: the activator writes it last). Within `PARSE_GRACE_SECONDS` of an activation a
  DAG not yet re-parsed is *pending*; after it, it is *stale* and counts as a failure.
- `GET /dags/~/dagRuns`: scheduled runs that ended in the last window, succeeded or failed, for
  the orchestration SLO (99.9 % of scheduled runs succeed). The window is the EventBridge
  schedule's own time, floored to the rate, so a retried event counts the same runs again
  rather than new ones.

It also reads the DAG folder itself (the MWAA DAG bucket): it must hold exactly the active
release's `dags/` files, with the bytes the activator recorded in its state file. An activation
interrupted by a Lambda timeout leaves a *mixed* folder (files of two releases) until
CloudFormation retries or rolls back; a folder that is still mixed on a second look
`MIXED_RECHECK_SECONDS` later is named in the log (`dag_folder_mixed`) and counted as a failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .core import (
    RELEASE_NAMESPACE,
    CanaryError,
    Deadline,
    Metrics,
    aws_clients,
    env,
    error_code,
    is_missing,
    list_keys,
    log_event,
    parse_time,
    read_json,
    run_scheduled,
)

NAME = "dag-health"
PAGE = 100  # Airflow's default [api] maximum_page_limit
MAX_PAGES = 100  # 10,000 DAGs or errors: far beyond 180 pipelines, and a bound on a looping API


@dataclass(frozen=True)
class Settings:
    environment: str
    mwaa_environment: str
    parameter: str
    release_bucket: str
    dag_bucket: str
    spec_prefix: str = "dags/pipelines/"
    dag_prefix: str = "dags/"
    state_key: str = "active-release.json"
    parse_grace: timedelta = timedelta(minutes=10)
    run_window: timedelta = timedelta(minutes=5)
    # An activation copies for a few seconds: a mix seen once may be one in progress, a mix seen twice is not.
    mixed_recheck: timedelta = timedelta(seconds=30)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            environment=env("ENVIRONMENT"),
            mwaa_environment=env("MWAA_ENVIRONMENT_NAME"),
            parameter=env("ACTIVE_RELEASE_PARAMETER"),
            release_bucket=env("RELEASE_BUCKET"),
            dag_bucket=env("DAG_BUCKET"),
            spec_prefix=env("SPEC_PREFIX", "dags/pipelines/"),
            dag_prefix=env("DAG_PREFIX", "dags/"),
            state_key=env("STATE_KEY", "active-release.json"),
            mixed_recheck=timedelta(seconds=int(env("MIXED_RECHECK_SECONDS", "30"))),
            parse_grace=timedelta(seconds=int(env("PARSE_GRACE_SECONDS", "600"))),
            run_window=timedelta(minutes=int(env("RUN_WINDOW_MINUTES", "5"))),
        )


def rest(mwaa: Any, environment: str, path: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Airflow REST call through InvokeRestApi; any non-200 or odd body is a CanaryError."""
    try:
        response = mwaa.invoke_rest_api(Name=environment, Path=path, Method="GET", QueryParameters=query or {})
    except Exception as exc:
        if error_code(exc) in ("RestApiClientException", "RestApiServerException"):
            status = exc.response.get("RestApiStatusCode", "?")  # type: ignore[attr-defined]
            detail = exc.response.get("RestApiResponse") or exc.response.get("Error", {}).get("Message")  # type: ignore[attr-defined]
            raise CanaryError("AirflowApiError", f"GET {path} on {environment}: HTTP {status}: {detail}") from exc
        raise
    status = response.get("RestApiStatusCode")
    body = response.get("RestApiResponse")
    if status != 200:
        raise CanaryError("AirflowApiError", f"GET {path} on {environment}: HTTP {status}: {body}")
    if not isinstance(body, dict):
        raise CanaryError(
            "MalformedResponse", f"GET {path} on {environment} returned {type(body).__name__}, not an object"
        )
    return body


def paged(
    mwaa: Any, environment: str, path: str, key: str, deadline: Deadline, query: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        deadline.check(f"GET {path} page {page + 1}")
        body = rest(mwaa, environment, path, {**(query or {}), "limit": PAGE, "offset": page * PAGE})
        chunk = body.get(key)
        total = body.get("total_entries")
        if not isinstance(chunk, list) or not isinstance(total, int):
            raise CanaryError("MalformedResponse", f"GET {path}: expected '{key}' (list) and 'total_entries' (int)")
        items.extend(chunk)
        if not chunk or len(items) >= total:
            return items
    raise CanaryError("MalformedResponse", f"GET {path}: more than {MAX_PAGES * PAGE} entries, stopping")


def active_release(ssm: Any, parameter: str) -> tuple[str, datetime]:
    try:
        item = ssm.get_parameter(Name=parameter)["Parameter"]
    except Exception as exc:
        if is_missing(exc):
            raise CanaryError("MissingData", f"SSM parameter {parameter} does not exist: no release is active") from exc
        raise
    modified = item["LastModifiedDate"]
    activated = modified.astimezone(UTC) if isinstance(modified, datetime) else parse_time(str(modified))
    return str(item["Value"]).strip(), activated


def release_manifest(s3: Any, settings: Settings, release_id: str) -> dict[str, Any]:
    base = f"releases/{release_id}/"
    manifest = read_json(s3, settings.release_bucket, f"{base}release.json")
    if manifest is None:
        raise CanaryError(
            "MissingData",
            f"active release {release_id} has no s3://{settings.release_bucket}/{base}release.json: "
            "the parameter names a release that was never uploaded",
        )
    return manifest


def expected_dag_ids(s3: Any, settings: Settings, release_id: str) -> list[str]:
    """The DAG ids of the release's pipeline specs (the release must have been uploaded: release_manifest)."""
    prefix = f"releases/{release_id}/{settings.spec_prefix}"
    names = []
    for item in list_keys(s3, settings.release_bucket, prefix):
        rel = item.get("Key", "")[len(prefix) :]
        if rel.endswith((".yaml", ".yml")) and "/" not in rel:
            names.append(rel.rsplit(".", 1)[0])
    return sorted(names)


def folder_mix(s3: Any, settings: Settings, release_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """How the DAG folder differs from exactly the active release's dags/ files; empty when it does not."""
    wanted = {path.removeprefix("dags/") for path in manifest.get("files") or {} if path.startswith("dags/")}
    present = {
        item["Key"][len(settings.dag_prefix) :]: str(item.get("ETag", "")).strip('"')
        for item in list_keys(s3, settings.dag_bucket, settings.dag_prefix)
        if item.get("Key") and item["Key"] != settings.dag_prefix  # a console "folder" marker is not a file
    }
    state = read_json(s3, settings.dag_bucket, settings.state_key) or {}
    mix: dict[str, Any] = {}
    if state.get("release_id") != release_id:
        mix["recorded_release"] = state.get("release_id")
    recorded = state.get("files") or {} if state.get("release_id") == release_id else {}
    extra, missing = sorted(set(present) - wanted), sorted(wanted - set(present))
    changed = sorted(
        rel for rel in set(present) & wanted if rel in recorded and recorded[rel].get("etag") != present[rel]
    )
    for name, files in (("not_in_release", extra), ("missing", missing), ("changed", changed)):
        if files:
            mix[name] = files[:20]
    return mix


def checked_folder_mix(
    s3: Any,
    settings: Settings,
    release_id: str,
    manifest: dict[str, Any],
    deadline: Deadline,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """The folder's mix, when it is seen twice (an activation copying right now is not a mixed folder)."""
    mix = folder_mix(s3, settings, release_id, manifest)
    wait = settings.mixed_recheck.total_seconds()
    if mix and wait > 0 and deadline.left() - wait > 30:
        sleep(wait)
        mix = folder_mix(s3, settings, release_id, manifest)
    return mix


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError as exc:
        raise CanaryError("MalformedResponse", f"unreadable timestamp {value!r} in the Airflow API response") from exc


def check(
    settings: Settings,
    *,
    mwaa: Any,
    ssm: Any,
    s3: Any,
    metrics: Metrics,
    deadline: Deadline,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    release_id, activated_at = active_release(ssm, settings.parameter)
    manifest = release_manifest(s3, settings, release_id)
    expected = expected_dag_ids(s3, settings, release_id)
    name = settings.mwaa_environment
    mix = checked_folder_mix(s3, settings, release_id, manifest, deadline, sleep)

    import_errors = paged(mwaa, name, "/importErrors", "import_errors", deadline)
    dags: dict[str, dict[str, Any]] = {}
    for dag in paged(mwaa, name, "/dags", "dags", deadline):
        if not isinstance(dag, dict) or "dag_id" not in dag:
            raise CanaryError("MalformedResponse", "GET /dags returned an entry without dag_id")
        dags[dag["dag_id"]] = dag

    missing = sorted(set(expected) - set(dags))
    not_reparsed = []
    for dag_id in sorted(set(expected) & set(dags)):
        parsed = _time(dags[dag_id].get("last_parsed_time"))
        if parsed is None or parsed < activated_at:
            not_reparsed.append(dag_id)
    since_activation = now - activated_at
    within_grace = since_activation <= settings.parse_grace
    stale = [] if within_grace else not_reparsed
    pending = not_reparsed if within_grace else []

    window_end = _floor(now, settings.run_window)
    window_start = window_end - settings.run_window
    runs = paged(
        mwaa,
        name,
        "/dags/~/dagRuns",
        "dag_runs",
        deadline,
        {"end_date_gte": _iso(window_start), "end_date_lte": _iso(window_end)},
    )
    succeeded = failed = 0
    failed_runs = []
    for run in runs:
        ended = _time(run.get("end_date"))
        # end_date_lte is inclusive: a run ending exactly on the boundary belongs to the next window.
        if run.get("run_type") != "scheduled" or ended is None or not window_start <= ended < window_end:
            continue
        if run.get("state") == "success":
            succeeded += 1
        elif run.get("state") == "failed":
            failed += 1
            failed_runs.append(f"{run.get('dag_id')}/{run.get('dag_run_id')}")

    for error in import_errors:
        trace = str(error.get("stack_trace") or "").strip().splitlines()
        log_event(logging.ERROR, "dag_import_error", file=error.get("filename"), error=trace[-1] if trace else "")
    if missing:
        log_event(logging.ERROR, "dags_missing", release_id=release_id, dag_ids=missing)
    if stale:
        log_event(logging.ERROR, "dags_not_reparsed", release_id=release_id, dag_ids=stale, since=str(since_activation))
    if failed_runs:
        log_event(logging.WARNING, "scheduled_runs_failed", runs=failed_runs)
    if mix:
        log_event(
            logging.ERROR,
            "dag_folder_mixed",
            folder=f"s3://{settings.dag_bucket}/{settings.dag_prefix}",
            release_id=release_id,
            **mix,
        )

    failures = len(import_errors) + len(missing) + len(stale) + (1 if mix else 0)
    for metric, value in (
        ("ImportErrors", len(import_errors)),
        ("ExpectedDags", len(expected)),
        ("MissingDags", len(missing)),
        ("StaleDags", len(stale)),
        ("DagsPendingParse", len(pending)),
        ("MixedDagFolder", 1 if mix else 0),
        ("DagHealthFailures", failures),
    ):
        metrics.add(RELEASE_NAMESPACE, metric, value)
    metrics.add(RELEASE_NAMESPACE, "MinutesSinceActivation", since_activation.total_seconds() / 60, unit="None")
    # Timestamped at the window's start so that each run lands in the period it belongs to.
    metrics.add(RELEASE_NAMESPACE, "ScheduledRunsSucceeded", succeeded, timestamp=window_start)
    metrics.add(RELEASE_NAMESPACE, "ScheduledRunsFailed", failed, timestamp=window_start)
    return {
        "release_id": release_id,
        "healthy": failures == 0,
        "import_errors": len(import_errors),
        "missing": missing,
        "stale": stale,
        "pending": pending,
        "mixed_folder": mix,
        "scheduled_runs": {"succeeded": succeeded, "failed": failed, "window_start": _iso(window_start)},
        "problems": {},
    }


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def handler(
    event: dict[str, Any],
    context: Any = None,
    *,
    mwaa: Any = None,
    ssm: Any = None,
    s3: Any = None,
    cloudwatch: Any = None,
) -> dict[str, Any]:
    mwaa, ssm, s3, cloudwatch = aws_clients(mwaa=mwaa, ssm=ssm, s3=s3, cloudwatch=cloudwatch)

    def body(metrics: Metrics, deadline: Deadline, now: datetime) -> dict[str, Any]:
        return check(Settings.from_env(), mwaa=mwaa, ssm=ssm, s3=s3, metrics=metrics, deadline=deadline, now=now)

    return run_scheduled(NAME, event, context, body, cloudwatch=cloudwatch)
