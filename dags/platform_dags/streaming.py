"""The streaming supervisor's one call: make sure a streaming job runs from the active release.

The decision (is the job running, from which release, start or restart it) belongs to the
streaming control module built with the streaming job (pipeline_assets/streaming_control, issue 7);
the supervisor DAG stays thin and calls it through this function. Its contract:

    ensure_streaming_job(
        *, emr_client, s3_client, pipeline_id: str, job_name: str, application_id: str,
        execution_role_arn: str, release: {"release_id", "release_bucket", "release_prefix"},
        job_driver: dict (StartJobRun jobDriver, rendered), tags: dict[str, str],
    ) -> {"action": "running" | "started" | "restarted", "job_run_id": str, "release_id": str}

It must be idempotent (the supervisor runs every few minutes and retries) and raise when the job
cannot be brought to a running state.
"""

from __future__ import annotations

import importlib
from typing import Any

from platform_dags.runtime import Release

# Where the control module is importable: beside the DAGs on MWAA, from the repository in tests.
CONTROL_MODULES = ("streaming_control", "pipeline_assets.streaming_control")


class StreamingControlMissingError(NotImplementedError):
    pass


def _control() -> Any:
    for name in CONTROL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name):
                raise  # the module exists but one of its own imports is missing: show that, not this
            continue
        if hasattr(module, "ensure_streaming_job"):
            return module
    raise StreamingControlMissingError(
        f"none of {', '.join(CONTROL_MODULES)} provides ensure_streaming_job on this worker; the streaming "
        "control module (pipeline_assets/streaming_control, issue 7) must ship where Airflow workers import it"
    )


def ensure_streaming_job(
    *,
    emr_client: Any,
    s3_client: Any,
    pipeline_id: str,
    job_name: str,
    application_id: str,
    execution_role_arn: str,
    release: Release,
    job_driver: dict[str, Any],
    tags: dict[str, str],
) -> dict[str, str]:
    result: dict[str, str] = _control().ensure_streaming_job(
        emr_client=emr_client,
        s3_client=s3_client,
        pipeline_id=pipeline_id,
        job_name=job_name,
        application_id=application_id,
        execution_role_arn=execution_role_arn,
        release=release,
        job_driver=job_driver,
        tags=tags,
    )
    if result.get("action") not in ("running", "started", "restarted") or not result.get("job_run_id"):
        raise RuntimeError(f"streaming control returned {result!r}; expected an action and a job_run_id")
    return result
