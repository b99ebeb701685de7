"""Fault injection on streaming control: at every API step of a redeploy, and of the rollback after a bad release.

moto's EMR Serverless and S3 play the service; `Runtime` plays the job (a started run becomes
RUNNING, and on every tick of the fake clock a healthy run commits a micro-batch). The controller's
own clients take the faults; the runtime and the checks use clients of their own. Each fault gets a
fresh application and checkpoint bucket. Invariants, whatever the supervisor's call did:
  - a failure is a StreamingControlError that names the job;
  - never two runs on the checkpoint, and a success means exactly the new release runs, baked;
  - up to three later supervisor runs without faults converge: exactly one run, of the new release
    (or of the old one with the new one marked failed), the journal gone, the checkpoint whole.
"""

from __future__ import annotations

import datetime as dt
import json
from itertools import count
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends

from cicd.release.parts.spark import spark as spark_part
from pipeline_assets.streaming_control import (
    ReleaseMarkedFailedError,
    StreamingControlError,
    Timing,
    ensure_streaming_job,
)
from tests.fault_injection import Fault, Step, faults, inject, is_read, pick, record_steps

REGION = "eu-west-1"
JOB = "operations_events_stream"
RELEASE_BUCKET = "faults-release-bucket"
RAW_BUCKET = "faults-raw-bucket"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/emr-job-role"
OLD, NEW = "r-00000000000000a1", "r-00000000000000b2"
TIMING = Timing(shutdown_grace_s=30, bake_s=20, poll_s=10, min_new_batches=1, start_timeout_s=20, cancel_timeout_s=20)
START = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
NUMBERS = count()
ROOT = Path(__file__).resolve().parents[3]


class Runtime:
    """The job as EMR Serverless would run it, per application: behaviour per release, a fake clock."""

    def __init__(self, emr, s3, app: str, checkpoint_bucket: str) -> None:
        self.s3, self.app, self.bucket = s3, app, checkpoint_bucket
        self.now = 0.0
        self.behaviour: dict[str, str] = {}
        self._hook = self._on_start
        emr.meta.events.register("after-call.emr-serverless.StartJobRun", self._hook)
        self.emr = emr

    def close(self) -> None:
        self.emr.meta.events.unregister("after-call.emr-serverless.StartJobRun", self._hook)

    def runs(self):
        return emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(self.app, [])

    def _on_start(self, parsed, **_):
        for run in self.runs():
            if run.id == parsed.get("jobRunId") and not hasattr(run, "ticks"):
                run.state, run.ticks = "RUNNING", 0

    def commits(self) -> list[int]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{JOB}/commits/").get("Contents", [])
        return sorted(int(o["Key"].rsplit("/", 1)[1]) for o in listed)

    def commit_batch(self) -> None:
        batch = max(self.commits(), default=-1) + 1
        self.s3.put_object(Bucket=self.bucket, Key=f"{JOB}/offsets/{batch}", Body=b"{}")
        self.s3.put_object(Bucket=self.bucket, Key=f"{JOB}/commits/{batch}", Body=b"{}")

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for run in self.runs():
            if run.state != "RUNNING":
                continue
            run.ticks = getattr(run, "ticks", 0) + 1
            if self.behaviour.get(run.tags["release_id"]) == "crash":
                run.state, run.state_details = "FAILED", "Job failed: state schema mismatch"
            else:
                self.commit_batch()

    def occupying(self):
        return [r for r in self.runs() if r.state in ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "CANCELLING")]

    def checkpoint_is_whole(self) -> bool:
        commits = self.commits()
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{JOB}/offsets/").get("Contents", [])
        offsets = {o["Key"] for o in listed}
        return commits == list(range(len(commits))) and all(f"{JOB}/offsets/{c}" in offsets for c in commits)

    def control(self, name: str) -> bool:
        return bool(self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"_control/{JOB}/{name}").get("Contents"))


def job_driver(release_id: str, checkpoint_bucket: str) -> dict:
    prefix = f"s3://{RELEASE_BUCKET}/releases/{release_id}/spark/{JOB}"
    arguments = ["--pipeline-id", "operations_events", "--output", f"s3://{RAW_BUCKET}/landing/operations_events/"]
    return {
        "sparkSubmit": {
            "entryPoint": f"{prefix}/main.py",
            "entryPointArguments": [*arguments, "--checkpoint", f"s3://{checkpoint_bucket}/{JOB}/"],
            "sparkSubmitParameters": f"--conf spark.submit.pyFiles={prefix}/deps.zip",
        }
    }


class World:
    """One application, one checkpoint bucket, OLD running with one committed batch."""

    def __init__(self, clients, checks) -> None:
        self.clients, self.checks = clients, checks
        number = next(NUMBERS)
        self.bucket = f"faults-checkpoint-{number}"
        checks["s3"].create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.app = checks["emr"].create_application(name=f"streaming-{number}", releaseLabel="emr-7.9.0", type="SPARK")[
            "applicationId"
        ]
        emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs[self.app] = []  # AWS lists [] for a new app
        self.runtime = Runtime(clients["emr"], checks["s3"], self.app, self.bucket)
        # OLD runs, as the supervisor started it (cheaper than starting it through the controller).
        started = checks["emr"].start_job_run(
            applicationId=self.app,
            name=JOB,
            executionRoleArn=ROLE,
            jobDriver=job_driver(OLD, self.bucket),
            tags={"pipeline": "operations_events", "release_id": OLD},
            mode="STREAMING",
        )
        next(r for r in self.runtime.runs() if r.id == started["jobRunId"]).state = "RUNNING"
        self.runtime.commit_batch()

    def ensure(self, release_id: str) -> dict:
        return ensure_streaming_job(
            emr_client=self.clients["emr"],
            s3_client=self.clients["s3"],
            pipeline_id="operations_events",
            job_name=JOB,
            application_id=self.app,
            execution_role_arn=ROLE,
            release={"release_id": release_id, "release_bucket": RELEASE_BUCKET},
            job_driver=job_driver(release_id, self.bucket),
            tags={"pipeline": "operations_events", "release_id": release_id},
            timing=TIMING,
            clock=lambda: self.runtime.now,
            sleep=self.runtime.sleep,
            now=lambda: START + dt.timedelta(seconds=self.runtime.now),
            log=lambda _: None,
        )


@pytest.fixture(scope="module")
def aws():
    with mock_aws():
        checks = {
            "s3": boto3.client("s3", region_name=REGION),
            "emr": boto3.client("emr-serverless", region_name=REGION),
        }
        for bucket in (RELEASE_BUCKET, RAW_BUCKET):
            checks["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for release in (OLD, NEW):
            for name, data in spark_part(ROOT):
                checks["s3"].put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release}/spark/{name}", Body=data)
        clients = {
            "s3": boto3.client("s3", region_name=REGION),
            "emr": boto3.client("emr-serverless", region_name=REGION),
        }
        yield clients, checks


def redeploy_under_fault(world: World, tally, fault: Fault, *, bad_release: bool = False) -> None:
    """The supervisor's call with the fault in place, the checks, then later supervisor calls without it."""
    tally.fault(fault)
    runtime = world.runtime
    with inject(fault, world.clients) as injector:
        try:
            outcome: object = world.ensure(NEW)
        except Exception as exc:
            outcome = exc
    tally.check("the fault was reached", injector.fired)
    named = not isinstance(outcome, Exception) or (isinstance(outcome, StreamingControlError) and JOB in str(outcome))
    tally.check("a failure is a StreamingControlError naming the job", named, repr(outcome))
    tally.check("never two runs on the checkpoint", len(runtime.occupying()) <= 1, str(len(runtime.occupying())))
    if isinstance(outcome, dict):
        running = [r.tags["release_id"] for r in runtime.occupying() if r.state == "RUNNING"]
        tally.check(
            "a success means the new release runs, baked", outcome["action"] == "restarted" and running == [NEW]
        )
    for _ in range(3):  # later supervisor runs, without the fault
        try:
            settled: object = world.ensure(NEW)
        except Exception as exc:
            settled = exc
        if isinstance(settled, dict | ReleaseMarkedFailedError):
            break
    running = [r.tags["release_id"] for r in runtime.occupying() if r.state == "RUNNING"]
    marked = runtime.control(f"failed-releases/{NEW}")
    expected = [OLD] if marked or bad_release else [NEW]
    tally.check("later runs converge on one run", running == expected, f"{running}, marked {marked}, {settled!r}")
    tally.check("a started release is never unbaked", not isinstance(settled, dict) or settled["action"] != "started")
    tally.check("the journal is gone", not runtime.control("redeploy.json"))
    tally.check("the checkpoint is whole", runtime.checkpoint_is_whole())


def test_every_fault_at_every_step_of_a_redeploy_converges(aws, fault_tally, no_retry_waits):
    clients, checks = aws
    tally = fault_tally("streaming control")
    clean = World(clients, checks)
    with record_steps(clients) as steps:
        assert clean.ensure(NEW)["action"] == "restarted"
    clean.runtime.close()
    chosen = pick(steps, every_write=True)
    assert {s.operation for s in chosen} >= {"CancelJobRun", "CopyObject", "StartJobRun", "GetJobRun"}
    for fault in faults(chosen):
        world = World(clients, checks)
        try:
            redeploy_under_fault(world, tally, fault)
        finally:
            world.runtime.close()
    tally.assert_all_held()


def test_every_fault_in_the_rollback_of_a_bad_release_converges_on_the_old_one(aws, fault_tally, no_retry_waits):
    clients, checks = aws
    tally = fault_tally("streaming control")
    clean = World(clients, checks)
    clean.runtime.behaviour[NEW] = "crash"
    with record_steps(clients) as steps, pytest.raises(StreamingControlError):
        clean.ensure(NEW)
    clean.runtime.close()
    # The rollback's steps: from the mark (the first write after the failed bake) on.
    started = next(i for i, s in enumerate(steps) if s.operation == "StartJobRun")
    marked_at = next(i for i, s in enumerate(steps) if i > started and s.operation == "PutObject")
    rollback = pick(steps[marked_at:], skip=is_read)  # the rollback's reads are the redeploy's reads again
    assert {s.operation for s in rollback} >= {"DeleteObjects", "CopyObject", "StartJobRun"}
    # Throttling and a lost answer that botocore retries behave here as in the redeploy above: the faults
    # that leave the rollback half-done are the ones it cannot retry.
    for fault in faults(rollback, ("error", "lost-final", "timeout")):
        world = World(clients, checks)
        world.runtime.behaviour[NEW] = "crash"
        try:
            redeploy_under_fault(world, tally, fault, bad_release=True)
        finally:
            world.runtime.close()
    tally.assert_all_held()


def test_the_journal_records_what_a_later_run_needs(aws):
    """A redeploy interrupted after the cancel leaves a journal naming both releases and the old run's driver."""
    clients, checks = aws
    world = World(clients, checks)
    # The snapshot fails, and the restart of OLD after it is refused too: the journal must stay.
    with (
        inject(Fault("error", Step("s3", "CopyObject", 1)), clients),
        inject(Fault("error", Step("emr", "StartJobRun", 1)), clients),
        pytest.raises(StreamingControlError, match="nothing runs"),
    ):
        world.ensure(NEW)
    journal = json.loads(
        checks["s3"].get_object(Bucket=world.bucket, Key=f"_control/{JOB}/redeploy.json")["Body"].read()
    )
    assert (journal["phase"], journal["from_release"], journal["to_release"]) == ("stopping", OLD, NEW)
    assert journal["previous"]["job_driver"] == job_driver(OLD, world.bucket)
    assert world.runtime.occupying() == []
    assert world.ensure(NEW)["action"] == "restarted"  # the next run restarts OLD, then redeploys with a bake
    world.runtime.close()


class Killed(BaseException):
    """The supervisor's worker dying mid-bake (an out-of-memory kill): no `except Exception` runs."""


def test_the_rollback_planes_redeploy_finishes_an_interrupted_one_and_both_bakes_pass_on_progress(aws):
    """The rollback command's streaming plane (pass_on_progress) meets the journal of a redeploy to NEW that died
    while NEW was baking: recover() bakes NEW to the end of the journal, then the job goes back to OLD; each bake
    ends at the first committed micro-batch instead of lasting the whole period."""
    from pipeline_assets.streaming_control import Controller

    clients, checks = aws
    world = World(clients, checks)
    runtime = world.runtime
    tick = runtime.sleep

    def dying(seconds: float) -> None:
        tick(seconds)
        if any(r.tags["release_id"] == NEW and r.state == "RUNNING" for r in runtime.runs()):
            raise Killed

    runtime.sleep = dying
    with pytest.raises(Killed):
        world.ensure(NEW)
    runtime.sleep = tick
    journal = json.loads(
        checks["s3"].get_object(Bucket=world.bucket, Key=f"_control/{JOB}/redeploy.json")["Body"].read()
    )
    assert journal["phase"] == "starting"

    timing = Timing(shutdown_grace_s=30, bake_s=600, poll_s=10, min_new_batches=1, pass_on_progress=True)
    controller = Controller(
        clients["emr"], clients["s3"], world.app, JOB, timing=timing, clock=lambda: runtime.now, sleep=tick,
        now=lambda: START + dt.timedelta(seconds=runtime.now), log=lambda _: None,
    )  # fmt: skip
    began = runtime.now
    outcome = controller.redeploy_running(RELEASE_BUCKET, OLD)
    assert (outcome.action, outcome.release_id, outcome.previous_release_id) == ("restarted", OLD, NEW)
    assert [r.tags["release_id"] for r in runtime.occupying()] == [OLD]
    assert not runtime.control("redeploy.json") and not runtime.control(f"failed-releases/{NEW}")
    assert runtime.now - began < timing.bake_s  # two bakes, neither waited out its 600 s
    assert runtime.checkpoint_is_whole()
    runtime.close()
