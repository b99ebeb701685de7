"""EMR Serverless job runs of a streaming job, through an injected boto3 `emr-serverless` client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ACTIVE_STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "QUEUED", "RUNNING")
ENDED_STATES = ("SUCCESS", "FAILED", "CANCELLING", "CANCELLED")
# A CANCELLING run has stopped taking new work but may still commit its last micro-batch: until it
# has ended it holds the checkpoint, and a second run started beside it would share that checkpoint.
HOLDING_STATES = (*ACTIVE_STATES, "CANCELLING")
FINAL_STATES = ("SUCCESS", "FAILED", "CANCELLED")
RELEASE_IN_PATH = re.compile(r"/releases/(r-[0-9a-f]+)/")

# A streaming job that fails is restarted by EMR Serverless itself this many times an hour
# before the run fails for good (and the supervisor takes over).
RETRY_POLICY = {"maxFailedAttemptsPerHour": 5}


class RunError(RuntimeError):
    pass


def runs_of(
    emr: Any, application_id: str, job_name: str, states: tuple[str, ...] = HOLDING_STATES
) -> list[dict[str, Any]]:
    """The job's runs in `states` (list summaries: id, state; no job driver or tags)."""
    found = []
    for page in emr.get_paginator("list_job_runs").paginate(applicationId=application_id, states=list(states)):
        found += [run for run in page.get("jobRuns", []) if run.get("name") == job_name]
    return found


def active_run(emr: Any, application_id: str, job_name: str) -> dict[str, Any] | None:
    """The run holding the job's checkpoint (full description; CANCELLING counts), or None.

    More than one is an error a human must look at."""
    found = runs_of(emr, application_id, job_name)
    if len(found) > 1:
        ids = ", ".join(run["id"] for run in found)
        raise RunError(f"{len(found)} active runs of {job_name} on {application_id} ({ids}); cancel all but one")
    return describe(emr, application_id, found[0]["id"]) if found else None


def describe(emr: Any, application_id: str, job_run_id: str) -> dict[str, Any]:
    return dict(emr.get_job_run(applicationId=application_id, jobRunId=job_run_id)["jobRun"])


def release_of(run: dict[str, Any]) -> str | None:
    """The release a run executes: its release_id tag, else the releases/<id>/ in its entry point."""
    tagged = (run.get("tags") or {}).get("release_id")
    if tagged:
        return str(tagged)
    match = RELEASE_IN_PATH.search(run.get("jobDriver", {}).get("sparkSubmit", {}).get("entryPoint", ""))
    return match.group(1) if match else None


def argument(job_driver: dict[str, Any], name: str) -> str | None:
    """The value following `name` in the job driver's entryPointArguments."""
    args = list(job_driver.get("sparkSubmit", {}).get("entryPointArguments", []))
    for index, value in enumerate(args[:-1]):
        if value == name:
            return str(args[index + 1])
    return None


def start(
    emr: Any,
    *,
    application_id: str,
    job_name: str,
    execution_role_arn: str,
    job_driver: dict[str, Any],
    tags: dict[str, str],
) -> str:
    response = emr.start_job_run(
        applicationId=application_id,
        name=job_name,
        executionRoleArn=execution_role_arn,
        jobDriver=job_driver,
        tags=tags,
        mode="STREAMING",
        retryPolicy=RETRY_POLICY,
    )
    return str(response["jobRunId"])


def wait_for(
    emr: Any,
    application_id: str,
    job_run_id: str,
    *,
    states: tuple[str, ...],
    timeout_s: float,
    poll_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    fail_on: tuple[str, ...] = (),
) -> dict[str, Any]:
    deadline = clock() + timeout_s
    while True:
        run = describe(emr, application_id, job_run_id)
        if run["state"] in states:
            return run
        if run["state"] in fail_on:
            raise RunError(f"run {job_run_id} is {run['state']}: {run.get('stateDetails') or 'no details'}")
        if clock() >= deadline:
            raise RunError(f"run {job_run_id} still {run['state']} after {timeout_s:.0f} s (waiting for {states})")
        sleep(poll_s)


def cancel(
    emr: Any,
    application_id: str,
    job_run_id: str,
    *,
    grace_s: int,
    timeout_s: float,
    poll_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Cancel with a shutdown grace period (SIGTERM first: the job stops between micro-batches) and wait."""
    emr.cancel_job_run(applicationId=application_id, jobRunId=job_run_id, shutdownGracePeriodInSeconds=grace_s)
    return wait_for(
        emr,
        application_id,
        job_run_id,
        states=FINAL_STATES,
        timeout_s=timeout_s,
        poll_s=poll_s,
        clock=clock,
        sleep=sleep,
    )
