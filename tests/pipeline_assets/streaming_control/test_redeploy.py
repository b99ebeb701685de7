"""End to end on moto's EMR Serverless and S3: start, redeploy, failure and rollback, guards.

moto records job runs but never runs them (a new run is immediately SUCCESS). `EmrRuntime`
plays the service's part through botocore's event hooks: a started run becomes RUNNING (or
fails, or stalls) according to the release it runs, and while RUNNING it commits a micro-batch
to the checkpoint and writes that batch's sink folder on every tick of the fake clock, as the real
job would. The control code under test sees only the real boto3 API surface.
"""

import copy
import datetime as dt
import hashlib
import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends

from cicd.release.parts.spark import spark as spark_part
from pipeline_assets.streaming_control import (
    CheckpointIncompatibleError,
    Controller,
    RedeployFailedError,
    ReleaseArtifactError,
    ReleaseMarkedFailedError,
    StreamingControlError,
    Timing,
    ensure_streaming_job,
)
from tests.fault_injection import Fault, Step, inject

REGION = "eu-west-1"
RELEASE_BUCKET = "release-bucket"
CHECKPOINT_BUCKET = "checkpoint-bucket"
RAW_BUCKET = "raw-bucket"
JOB = "operations_events_stream"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/emr-job-role"
CHECKPOINT = f"s3://{CHECKPOINT_BUCKET}/{JOB}/"
OUTPUT = f"s3://{RAW_BUCKET}/landing/operations_events/"
QUARANTINE = f"s3://{RAW_BUCKET}/quarantine/operations_events/"


def job_driver(release_id):
    """What the DAG factory renders for the streaming pipeline."""
    prefix = f"s3://{RELEASE_BUCKET}/releases/{release_id}/spark/{JOB}"
    return {
        "sparkSubmit": {
            "entryPoint": f"{prefix}/main.py",
            "entryPointArguments": [
                "--pipeline-id",
                "operations_events",
                "--topic",
                "operations.events.v1",
                "--output",
                OUTPUT,
                "--checkpoint",
                CHECKPOINT,
            ],
            "sparkSubmitParameters": f"--conf spark.submit.pyFiles={prefix}/deps.zip --conf spark.executor.cores=4",
        }
    }


def tags(release_id):
    return {"pipeline": "operations_events", "release_id": release_id}


class Clock:
    def __init__(self):
        self.now = 0.0


class EmrRuntime:
    """Behaviours per release: healthy, crash (fails at once), crash_after_batch, stall, never_starts."""

    def __init__(self, emr, s3, clock):
        self.emr, self.s3, self.clock = emr, s3, clock
        self.behaviour = {}
        self.cancel_calls = []
        self.started = []
        emr.meta.events.register("after-call.emr-serverless.StartJobRun", self._on_start)
        emr.meta.events.register("before-parameter-build.emr-serverless.CancelJobRun", self._on_cancel)

    @property
    def backend(self):
        return emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION]

    def runs(self):
        return [run for runs in self.backend.job_runs.values() for run in runs]

    def run(self, run_id):
        return next(run for run in self.runs() if run.id == run_id)

    def _on_start(self, parsed, **_):
        run = self.run(parsed["jobRunId"])
        release = run.tags["release_id"]
        self.started.append((run.id, release))
        behaviour = self.behaviour.get(release, "healthy")
        run.state = "SUBMITTED" if behaviour == "never_starts" else "RUNNING"
        run.ticks = 0

    def _on_cancel(self, params, **_):
        self.cancel_calls.append((params["jobRunId"], params.get("shutdownGracePeriodInSeconds")))

    def commits(self):
        listed = self.s3.list_objects_v2(Bucket=CHECKPOINT_BUCKET, Prefix=f"{JOB}/commits/").get("Contents", [])
        return sorted(int(o["Key"].rsplit("/", 1)[1]) for o in listed)

    def commit_batch(self, writer="seed"):
        """One micro-batch as Spark would leave it: offsets, the sink's folder, then the commit.

        Sink file names differ per run, as Spark's part-<uuid> names do: leftovers stay visible.
        """
        batch = max(self.commits(), default=-1) + 1
        self.s3.put_object(Bucket=CHECKPOINT_BUCKET, Key=f"{JOB}/offsets/{batch}", Body=b'{"operations.events.v1":{}}')
        self.s3.put_object(Bucket=CHECKPOINT_BUCKET, Key=f"{JOB}/state/0/0/{batch + 1}.delta", Body=b"state")
        self.s3.put_object(
            Bucket=RAW_BUCKET, Key=f"landing/operations_events/batch_id={batch:010d}/part-{writer}.parquet", Body=b"x"
        )
        self.s3.put_object(Bucket=CHECKPOINT_BUCKET, Key=f"{JOB}/commits/{batch}", Body=b'{"nextBatchWatermarkMs":0}')
        return batch

    def sleep(self, seconds):
        self.clock.now += seconds
        for run in self.runs():
            if run.state != "RUNNING":
                continue
            behaviour = self.behaviour.get(run.tags["release_id"], "healthy")
            run.ticks += 1
            if behaviour == "crash" or (behaviour == "crash_after_batch" and run.ticks > 1):
                run.state, run.state_details = "FAILED", "Job failed: state schema mismatch"
            elif behaviour in ("healthy", "crash_after_batch"):
                self.commit_batch(run.id)


def publish(s3, bundle, release_id, *, query=None, tamper=False):
    """Upload a release's spark/ part as the release lane does (optionally with a changed query contract)."""
    files = dict(bundle)
    if query is not None:
        files[f"{JOB}/query.json"] = json.dumps(query).encode()
        manifest = json.loads(files["manifest.json"])
        manifest["jobs"][JOB]["sha256"]["query.json"] = hashlib.sha256(files[f"{JOB}/query.json"]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()
    for name, data in files.items():
        if tamper and name == f"{JOB}/deps.zip":
            data = data + b"tampered"
        s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/spark/{name}", Body=data)


@pytest.fixture(scope="session")
def spark_bundle(repo_root):
    return dict(spark_part(repo_root))


@pytest.fixture
def aws(spark_bundle):
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (RELEASE_BUCKET, CHECKPOINT_BUCKET, RAW_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        emr = boto3.client("emr-serverless", region_name=REGION)
        app = emr.create_application(name="streaming", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
        # moto answers ListJobRuns on an application without runs with "does not exist"; AWS returns [].
        emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs[app] = []
        clock = Clock()
        runtime = EmrRuntime(emr, s3, clock)
        for release in ("r-00000000000000a1", "r-00000000000000b2"):
            publish(s3, spark_bundle, release)

        class Env:
            pass

        env = Env()
        env.s3, env.emr, env.app, env.clock, env.runtime, env.bundle = s3, emr, app, clock, runtime, spark_bundle
        yield env


OLD, NEW = "r-00000000000000a1", "r-00000000000000b2"
TIMING = Timing(shutdown_grace_s=90, bake_s=60, poll_s=10, min_new_batches=2, start_timeout_s=60, cancel_timeout_s=60)
START = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def ensure(aws, release_id, **overrides):
    return ensure_streaming_job(
        emr_client=aws.emr,
        pipeline_id="operations_events",
        job_name=JOB,
        application_id=aws.app,
        execution_role_arn=ROLE,
        release={
            "release_id": release_id,
            "release_bucket": RELEASE_BUCKET,
            "release_prefix": f"s3://{RELEASE_BUCKET}/releases/{release_id}",
        },
        job_driver=job_driver(release_id),
        tags=tags(release_id),
        s3_client=aws.s3,
        timing=overrides.pop("timing", TIMING),
        clock=lambda: aws.clock.now,
        sleep=aws.runtime.sleep,
        now=lambda: START + dt.timedelta(seconds=aws.clock.now),
        **overrides,
    )


def active(aws):
    return [run for run in aws.runtime.runs() if run.state in ("SUBMITTED", "RUNNING")]


def keys(aws, bucket, prefix):
    return sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def checkpoint_keys(aws):
    return keys(aws, CHECKPOINT_BUCKET, f"{JOB}/")


def running_old_with_batches(aws, batches=6):
    result = ensure(aws, OLD)
    assert result["action"] == "started"
    for _ in range(batches):
        aws.runtime.commit_batch()
    return result


def test_first_start_runs_the_release_in_streaming_mode(aws):
    result = running_old_with_batches(aws, batches=0)
    [run] = active(aws)
    assert result == {"action": "started", "job_run_id": run.id, "release_id": OLD}
    assert run.state == "RUNNING" and run.tags["release_id"] == OLD
    assert run.job_driver == job_driver(OLD)
    recorded = json.loads(
        aws.s3.get_object(Bucket=CHECKPOINT_BUCKET, Key=f"_control/{JOB}/contract.json")["Body"].read()
    )
    assert recorded["release_id"] == OLD and recorded["contract"]["job_id"] == JOB


def test_same_release_running_is_left_alone(aws):
    first = running_old_with_batches(aws)
    assert ensure(aws, OLD) == {"action": "running", "job_run_id": first["job_run_id"], "release_id": OLD}
    assert len(aws.runtime.started) == 1


def test_redeploy_cancels_gracefully_snapshots_starts_new_and_bakes(aws):
    old = running_old_with_batches(aws)
    before = checkpoint_keys(aws)
    result = ensure(aws, NEW)
    assert result["action"] == "restarted" and result["release_id"] == NEW
    assert aws.runtime.run(old["job_run_id"]).state == "CANCELLED"
    assert aws.runtime.cancel_calls == [(old["job_run_id"], 90)]
    [run] = active(aws)
    assert run.id == result["job_run_id"] and run.tags["release_id"] == NEW and run.state == "RUNNING"
    # The snapshot is the checkpoint exactly as the old version left it.
    [snapshot_manifest] = [
        k for k in keys(aws, CHECKPOINT_BUCKET, f"_snapshots/{JOB}/") if k.endswith("_snapshot.json")
    ]
    snapshot_id = snapshot_manifest.split("/")[2]
    assert snapshot_id == f"20250301T120000Z-{OLD}"
    copied = keys(aws, CHECKPOINT_BUCKET, f"_snapshots/{JOB}/{snapshot_id}/")
    assert [k.split(f"{snapshot_id}/")[1] for k in copied if not k.endswith("_snapshot.json")] == [
        k.split(f"{JOB}/", 1)[1] for k in before
    ]
    manifest = json.loads(aws.s3.get_object(Bucket=CHECKPOINT_BUCKET, Key=snapshot_manifest)["Body"].read())
    assert (manifest["release_id"], manifest["last_committed_batch"]) == (OLD, 5)
    assert max(aws.runtime.commits()) >= 5 + TIMING.min_new_batches  # the new run made progress on the same checkpoint


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("crash_after_batch", "ended FAILED during the bake: Job failed: state schema mismatch"),
        ("stall", "committed 0 micro-batch(es)"),
        ("never_starts", "still SUBMITTED"),
    ],
)
def test_failed_bake_restores_the_snapshot_and_restarts_the_previous_release(aws, behaviour, reason):
    old = running_old_with_batches(aws)
    checkpoint_before = checkpoint_keys(aws)
    sink_before = keys(aws, RAW_BUCKET, "landing/")
    aws.runtime.behaviour[NEW] = behaviour
    with pytest.raises(RedeployFailedError) as failed:
        ensure(aws, NEW)
    outcome = failed.value.outcome
    assert (outcome.action, outcome.release_id, outcome.previous_release_id) == ("rolled_back", OLD, NEW)
    assert reason in outcome.reason
    [run] = active(aws)
    assert run.id == outcome.job_run_id != old["job_run_id"]
    assert run.tags["release_id"] == OLD and run.job_driver == job_driver(OLD)  # the previous run's exact driver
    new_run = next(r for r in aws.runtime.runs() if r.tags["release_id"] == NEW)
    assert new_run.state in ("FAILED", "CANCELLED")
    # Checkpoint back to the snapshot; sink batches the failed version wrote are gone (they will be replanned).
    assert checkpoint_keys(aws) == checkpoint_before
    assert keys(aws, RAW_BUCKET, "landing/") == sink_before
    mark = json.loads(
        aws.s3.get_object(Bucket=CHECKPOINT_BUCKET, Key=f"_control/{JOB}/failed-releases/{NEW}.json")["Body"].read()
    )
    assert reason in mark["reason"]


def test_a_failed_release_is_not_retried_by_the_supervisor(aws):
    running_old_with_batches(aws)
    aws.runtime.behaviour[NEW] = "crash"
    with pytest.raises(RedeployFailedError):
        ensure(aws, NEW)
    started = len(aws.runtime.started)
    with pytest.raises(ReleaseMarkedFailedError, match="failed its bake"):
        ensure(aws, NEW)
    assert len(aws.runtime.started) == started
    assert [r.tags["release_id"] for r in active(aws)] == [OLD]


def test_incompatible_query_is_refused_before_anything_stops(aws):
    old = running_old_with_batches(aws)
    changed = json.loads(aws.bundle[f"{JOB}/query.json"])
    changed["stateful_operators"][0]["keys"] = [{"name": "event_id", "type": "string"}]
    publish(aws.s3, aws.bundle, NEW, query=changed)
    with pytest.raises(CheckpointIncompatibleError, match="keys changed"):
        ensure(aws, NEW)
    assert aws.runtime.run(old["job_run_id"]).state == "RUNNING"
    assert keys(aws, CHECKPOINT_BUCKET, "_snapshots/") == []


def test_changed_topics_are_refused_even_for_a_fresh_start(aws):
    running_old_with_batches(aws)
    aws.emr.cancel_job_run(applicationId=aws.app, jobRunId=active(aws)[0].id)  # the job died
    changed = copy.deepcopy(json.loads(aws.bundle[f"{JOB}/query.json"]))
    changed["sources"][0]["topics"] = ["operations.events.v2"]
    publish(aws.s3, aws.bundle, NEW, query=changed)
    with pytest.raises(CheckpointIncompatibleError, match="sources changed"):
        ensure(aws, NEW)
    assert active(aws) == []


def test_tampered_artifact_is_refused(aws):
    old = running_old_with_batches(aws)
    publish(aws.s3, aws.bundle, NEW, tamper=True)
    with pytest.raises(ReleaseArtifactError, match=r"deps\.zip has sha256"):
        ensure(aws, NEW)
    assert aws.runtime.run(old["job_run_id"]).state == "RUNNING"


def test_missing_release_is_refused(aws):
    running_old_with_batches(aws)
    with pytest.raises(ReleaseArtifactError, match="r-00000000000000c3"):
        ensure(aws, "r-00000000000000c3")


def test_a_second_controller_waits_for_the_lock_and_a_stale_lock_is_broken(aws):
    lock = f"_control/{JOB}/lock.json"
    held = {"owner": "mwaa-worker:17", "acquired_at": START.isoformat()}
    aws.s3.put_object(Bucket=CHECKPOINT_BUCKET, Key=lock, Body=json.dumps(held).encode())
    with pytest.raises(StreamingControlError, match="mwaa-worker:17 has been changing"):
        ensure(aws, OLD)
    aws.clock.now = TIMING.lock_ttl_s + 1
    assert ensure(aws, OLD)["action"] == "started"
    assert keys(aws, CHECKPOINT_BUCKET, lock) == []  # released


def controller(aws):
    return Controller(
        aws.emr,
        aws.s3,
        aws.app,
        JOB,
        timing=TIMING,
        clock=lambda: aws.clock.now,
        sleep=aws.runtime.sleep,
        now=lambda: START + dt.timedelta(seconds=aws.clock.now),
    )


def test_manual_rollback_to_the_latest_snapshot(aws):
    running_old_with_batches(aws)
    checkpoint_at_deploy = checkpoint_keys(aws)
    sink_at_deploy = keys(aws, RAW_BUCKET, "landing/")
    ensure(aws, NEW)  # healthy: it runs and writes more batches
    assert len(keys(aws, RAW_BUCKET, "landing/")) > len(sink_at_deploy)
    status = controller(aws).status()
    assert status["running"]["release_id"] == NEW and status["snapshots"] == [f"20250301T120000Z-{OLD}"]

    outcome = controller(aws).rollback(CHECKPOINT_BUCKET)
    assert (outcome.action, outcome.release_id, outcome.previous_release_id) == ("rolled_back", OLD, NEW)
    [run] = active(aws)
    assert run.tags["release_id"] == OLD
    # Restored to the snapshot, then the old version made progress of its own during the bake.
    restored_batches = [k for k in checkpoint_keys(aws) if k in checkpoint_at_deploy]
    assert restored_batches == checkpoint_at_deploy
    sink = keys(aws, RAW_BUCKET, "landing/")
    assert all(k in sink for k in sink_at_deploy)
    folders = [k.rsplit("/", 1)[0] for k in sink]
    assert len(folders) == len(set(folders))  # no batch holds output of both versions


def test_rollback_without_a_snapshot_says_so(aws):
    with pytest.raises(StreamingControlError, match=r"no snapshot 20250101T000000Z-r-0 of"):
        controller(aws).rollback(CHECKPOINT_BUCKET, "20250101T000000Z-r-0")


def test_cli_redeploy_keeps_the_configuration_and_retries_a_failed_release_only_when_asked(aws):
    running_old_with_batches(aws)
    aws.runtime.behaviour[NEW] = "crash"
    with pytest.raises(RedeployFailedError):
        controller(aws).redeploy_running(RELEASE_BUCKET, NEW)
    with pytest.raises(ReleaseMarkedFailedError, match="retry_failed"):
        controller(aws).redeploy_running(RELEASE_BUCKET, NEW)
    aws.runtime.behaviour[NEW] = "healthy"  # fixed forward (e.g. a data problem was cleaned up)
    outcome = controller(aws).redeploy_running(RELEASE_BUCKET, NEW, retry_failed=True)
    assert outcome.action == "restarted"
    [run] = active(aws)
    assert run.job_driver == job_driver(NEW) and run.tags == tags(NEW)  # same config, new artifacts


def test_when_the_rollback_fails_too_the_error_names_the_snapshot_to_restore(aws):
    running_old_with_batches(aws)
    aws.runtime.behaviour[NEW] = "crash"
    aws.runtime.behaviour[OLD] = "never_starts"  # e.g. capacity exhausted on the application
    with pytest.raises(StreamingControlError, match=r"rollback failed too .*streaming rollback --snapshot 2025"):
        ensure(aws, NEW)


# --- faults on the way (issue 24: S1-S5, S7) ------------------------------------------------------


def occupying(aws):
    """Runs that hold the checkpoint: active or still CANCELLING."""
    return [run for run in aws.runtime.runs() if run.state in ("SUBMITTED", "RUNNING", "CANCELLING")]


def on_run(aws, operation, handler):
    """`handler(run_id, context)` before each `operation` call; what it returns answers the call instead."""
    event = f"emr-serverless.{operation}"

    def note(params, context, **_):
        context["job_run_id"] = params.get("jobRunId")

    def call(context, **_):
        return handler(context.get("job_run_id"), context)

    aws.emr.meta.events.register(f"before-parameter-build.{event}", note)
    aws.emr.meta.events.register_first(f"before-call.{event}", call)
    return lambda: (
        aws.emr.meta.events.unregister(f"before-parameter-build.{event}", note),
        aws.emr.meta.events.unregister(f"before-call.{event}", call),
    )


def ignore_cancel_of(aws, run_id):
    """CancelJobRun of this run is accepted and does nothing (the run keeps RUNNING, as a stuck job does)."""

    def answer(called_for, _):
        if called_for == run_id:
            return AWSResponse(None, 200, {}, None), {"applicationId": aws.app, "jobRunId": run_id}
        return None

    return on_run(aws, "CancelJobRun", answer)


def marked_failed(aws, release_id):
    listed = aws.s3.list_objects_v2(Bucket=CHECKPOINT_BUCKET, Prefix=f"_control/{JOB}/failed-releases/{release_id}")
    return bool(listed.get("Contents"))


def checkpoint_is_whole(aws):
    """Every committed batch has its offsets: a checkpoint restored half-way has commits without them."""
    commits = aws.runtime.commits()
    offsets = keys(aws, CHECKPOINT_BUCKET, f"{JOB}/offsets/")
    return commits == list(range(len(commits))) and all(f"{JOB}/offsets/{c}" in offsets for c in commits)


def test_a_refused_start_of_the_new_release_restarts_the_previous_one_and_marks_the_release(aws):
    # S1: StartJobRun refused (ValidationException, quota, 500) after the old run was cancelled.
    old = running_old_with_batches(aws)
    with (
        inject(Fault("error", Step("emr", "StartJobRun", 1)), {"emr": aws.emr}),
        pytest.raises(RedeployFailedError, match="AccessDenied"),
    ):
        ensure(aws, NEW)
    [run] = occupying(aws)
    assert run.id != old["job_run_id"] and run.tags["release_id"] == OLD
    assert marked_failed(aws, NEW)
    with pytest.raises(ReleaseMarkedFailedError):  # the next supervisor run does not start it unbaked
        ensure(aws, NEW)
    assert [r.tags["release_id"] for r in occupying(aws)] == [OLD]


def test_an_unreadable_run_during_the_bake_is_looked_at_again_not_abandoned(aws):
    # S1: a GetJobRun 500 in the middle of the bake said nothing about the run.
    running_old_with_batches(aws)
    failed = []

    def once(run_id, _):
        started = [run for run, release in aws.runtime.started if release == NEW]
        if started and run_id == started[-1] and aws.runtime.run(run_id).ticks == 2 and not failed:
            failed.append(run_id)
            raise ClientError({"Error": {"Code": "InternalServerException", "Message": "boom"}}, "GetJobRun")

    on_run(aws, "GetJobRun", once)
    result = ensure(aws, NEW)
    assert failed and result["action"] == "restarted"
    [run] = occupying(aws)
    assert run.tags["release_id"] == NEW


@pytest.mark.parametrize("copied", [0, 5])
def test_a_snapshot_that_fails_puts_the_previous_release_back_and_the_next_run_redeploys(aws, copied):
    # S2: the snapshot copy failed after 0 or 5 objects, with the old run already stopped.
    running_old_with_batches(aws)
    with (
        inject(Fault("error", Step("s3", "CopyObject", copied + 1)), {"s3": aws.s3}),
        pytest.raises(StreamingControlError, match=r"abandoned: the checkpoint snapshot could not be taken"),
    ):
        ensure(aws, NEW)
    [run] = occupying(aws)
    assert run.tags["release_id"] == OLD and not marked_failed(aws, NEW)
    assert ensure(aws, NEW)["action"] == "restarted"  # baked, not started cold
    assert [r.tags["release_id"] for r in occupying(aws)] == [NEW]


def test_a_rollback_cut_short_in_the_restore_is_finished_by_the_next_run(aws):
    # S3: the restore copy failed after 6 of 18 objects; the failed release must not run again.
    running_old_with_batches(aws)
    aws.runtime.behaviour[NEW] = "crash"
    snapshot_copies = len(checkpoint_keys(aws))
    with (
        inject(Fault("error", Step("s3", "CopyObject", snapshot_copies + 7)), {"s3": aws.s3}),
        pytest.raises(StreamingControlError, match=r"rollback failed too .*--snapshot 2025"),
    ):
        ensure(aws, NEW)
    assert occupying(aws) == [] and marked_failed(aws, NEW)
    with pytest.raises(RedeployFailedError):  # the next supervisor run finishes the rollback
        ensure(aws, NEW)
    [run] = occupying(aws)
    assert run.tags["release_id"] == OLD and checkpoint_is_whole(aws)
    with pytest.raises(ReleaseMarkedFailedError):
        ensure(aws, NEW)
    assert all(release != NEW for _, release in aws.runtime.started[-1:])


def test_a_new_run_that_will_not_cancel_is_named_with_the_snapshot_and_the_next_run_finishes(aws):
    # S4: during the rollback the new run does not stop; the old release must not start beside it.
    running_old_with_batches(aws)
    aws.runtime.behaviour[NEW] = "stall"
    stuck = []

    def remember(parsed, **_):
        stuck.append(parsed["jobRunId"])
        ignore_cancel_of(aws, parsed["jobRunId"])

    aws.emr.meta.events.register("after-call.emr-serverless.StartJobRun", remember)
    with pytest.raises(StreamingControlError, match=r"did not stop.*two runs.*--snapshot 2025") as raised:
        ensure(aws, NEW)
    assert stuck[0] in str(raised.value)
    assert [r.id for r in occupying(aws)] == [stuck[0]]  # one run, never two on the checkpoint
    aws.emr.meta.events.unregister("after-call.emr-serverless.StartJobRun", remember)
    aws.runtime.run(stuck[0]).state = "CANCELLED"  # it ends at last
    with pytest.raises(RedeployFailedError):
        ensure(aws, NEW)
    [run] = occupying(aws)
    assert run.tags["release_id"] == OLD and marked_failed(aws, NEW)


def test_a_run_still_cancelling_holds_the_checkpoint_and_nothing_starts_beside_it(aws):
    # S5: CANCELLING is not over; a second run must not start on the same checkpoint.
    old = running_old_with_batches(aws)
    aws.runtime.run(old["job_run_id"]).state = "CANCELLING"
    started = len(aws.runtime.started)
    with pytest.raises(StreamingControlError, match="still CANCELLING"):
        ensure(aws, OLD)
    assert len(aws.runtime.started) == started


def test_an_old_run_that_will_not_stop_abandons_the_redeploy_and_says_so(aws):
    # S7: "still RUNNING after 60 s" did not say that nothing else was changed.
    old = running_old_with_batches(aws)
    ignore_cancel_of(aws, old["job_run_id"])
    with pytest.raises(StreamingControlError, match=r"redeploy of r-00000000000000b2 was abandoned") as raised:
        ensure(aws, NEW)
    assert f"run {old['job_run_id']} of {OLD} did not stop" in str(raised.value)
    assert [r.id for r in occupying(aws)] == [old["job_run_id"]]
    aws.runtime.run(old["job_run_id"]).state = "CANCELLED"  # the cancel request stood: it stopped later
    assert ensure(aws, NEW)["action"] == "restarted"  # the previous release came back first, then the bake
    assert [r.tags["release_id"] for r in occupying(aws)] == [NEW]
