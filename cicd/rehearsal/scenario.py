"""The rehearsal: release A live, B deployed, the data-quality canary fires, one rollback command puts A back.

What runs for real here (docs/rehearsal.md has the whole list):
- Kafka: a broker on 127.0.0.1 (KRaft, locked jars); a steady producer of synthetic events throughout.
- Streaming: the release's Spark job on local Spark with Spark's own Kafka source, started, redeployed and
  rolled back through EMR Serverless's API (moto) by streaming_control; checkpoint and output in S3 (moto
  server, through S3A).
- Airflow: the DAG folder the release activator mirrors into the DAG bucket, synced as MWAA syncs it, run by
  Airflow from an environment of MWAA's requirements only; tasks execute (resolve_release,
  ensure_streaming_job, transform).
- dbt: write-audit-publish on the embedded warehouse (DuckDB) with the synthetic data.
- Release tooling: the release activator, the data-quality canary and the rollback command, on moto server.
Played, because they cannot run here: CodePipeline and CloudFormation (the rollback drill's stand-ins send the
activator the events they would send), and Snowflake (DuckDB runs the plan's statements, see dbt_wap/embedded).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cicd.engines.airflow import DagRunRecord, MwaaEnvironment
from cicd.engines.emr_serverless import substitutions
from cicd.engines.kafka import kafka_broker
from cicd.engines.moto_server import MotoServer, moto_server
from cicd.rehearsal import releases, warehouse
from cicd.rehearsal.stream import SteadyProducer, Tally, wait_until_landed
from cicd.rehearsal.streaming import (
    APPLICATION,
    CHECKPOINT_BUCKET,
    JOB,
    PIPELINE,
    RAW_BUCKET,
    StreamingStage,
    streaming_stage,
)
from cicd.rollback import drill
from cicd.rollback.rollback import (
    Clients,
    DataPlane,
    Environment,
    Planes,
    RollbackFailedError,
    RollbackResult,
    Steps,
    StreamingPlane,
    rollback,
)
from pipeline_assets.dbt_wap import embedded
from pipeline_assets.streaming_control import Controller, Timing

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = f"{PIPELINE}_supervisor"
SUPERVISOR_TASKS = ["resolve_release", "ensure_streaming_job"]
PIPELINE_TASKS = ["resolve_release", "load", "transform"]
# COPY INTO from the raw bucket needs Snowflake; the embedded warehouse holds the synthetic raw data instead.
NOT_EXECUTED = ("load",)
KEY_MODEL = "model.data_platform.orders"


class RehearsalError(RuntimeError):
    """A step of the scenario failed: the rehearsal fails, after counting what the stream landed."""


class RehearsalTimeoutError(Exception):
    """The whole rehearsal ran past its limit: everything stops at once (no draining, no verification)."""


@dataclass
class Options:
    workdir: Path
    rate_per_s: float = 20  # events per second, throughout
    stream_limit_s: float = 600  # longest wait for a streaming job's first micro-batches (the bake's limit)
    drain_timeout_s: float = 300  # after the producer stops, how long the job may take to land the rest
    echo: Callable[[str], None] = print


@dataclass
class Figures:
    """What the rehearsal prints and the verdict reads."""

    release_a: str = ""
    release_b: str = ""
    changes: list[str] = field(default_factory=list)
    canary: dict[str, Any] = field(default_factory=dict)
    live_after: dict[str, float] = field(default_factory=dict)  # plane -> seconds from the trigger
    planes_back: dict[str, bool] = field(default_factory=dict)  # plane -> runs A again
    plane_details: dict[str, str] = field(default_factory=dict)
    rollback_steps: list[dict[str, Any]] = field(default_factory=list)
    rollback_error: str | None = None
    tally: Tally | None = None
    dag_runs: list[dict[str, Any]] = field(default_factory=list)
    marts_a: dict[str, Any] = field(default_factory=dict)
    marts_b: dict[str, Any] = field(default_factory=dict)
    marts_after: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # measured seconds of each phase
    load: dict[str, float] = field(default_factory=dict)  # the machine's load average, start and end
    substitutions: list[str] = field(default_factory=list)
    aborted: str | None = None  # the step that failed, when the scenario could not finish

    @property
    def mixed_runs(self) -> list[dict[str, Any]]:
        return [run for run in self.dag_runs if run["mixed"]]

    @property
    def marts_equal(self) -> bool:
        return bool(self.marts_a) and self.marts_after == self.marts_a


def verdict(figures: Figures) -> list[str]:
    """Why the rehearsal failed; empty when everything is A again and nothing was lost or duplicated."""
    problems = []
    if figures.aborted:
        problems.append(f"the rehearsal stopped: {figures.aborted}")
    if not figures.canary.get("fired"):
        problems.append(f"the data-quality canary did not fire on B's data ({figures.canary.get('summary')})")
    for plane, back in sorted(figures.planes_back.items()):
        if not back:
            problems.append(f"{plane} is not back to A: {figures.plane_details.get(plane, 'no detail')}")
    if not figures.planes_back:
        problems.append("no plane was checked")
    if figures.rollback_error:
        problems.append(f"the rollback command failed: {figures.rollback_error}")
    tally = figures.tally
    if tally is None:
        problems.append("the stream was not tallied")
    elif not tally.ok:
        problems.append(
            f"stream: {tally.summary()}; e.g. lost {list(tally.lost[:3])}, dup {list(tally.duplicated[:3])}"
        )
    if figures.mixed_runs:
        problems.append(f"{len(figures.mixed_runs)} DAG run(s) mixed A's and B's code: {figures.mixed_runs[:2]}")
    if not figures.marts_equal:
        problems.append(f"the marts are not A's: A {figures.marts_a}, after the rollback {figures.marts_after}")
    failed_runs = [run for run in figures.dag_runs if not run["ok"]]
    if failed_runs:
        problems.append(f"{len(failed_runs)} DAG run(s) failed: {failed_runs[:2]}")
    return problems


def classify_run(record: DagRunRecord, digests: dict[str, str], resolved: str | None) -> dict[str, Any]:
    """Which release's code each task of a run parsed, and whether the run mixed releases.

    Mixed: its tasks parsed different releases' DAG folders, or the code differs from the release its
    resolve_release task chose (the artifacts every later task of the run uses).
    """
    code = [digests.get(task.folder_digest, "unknown") for task in record.tasks if task.executed and task.folder_digest]
    releases_seen = set(code)
    mixed = (
        len(releases_seen) > 1
        or "unknown" in releases_seen
        or (resolved is not None and releases_seen and releases_seen != {resolved})
    )
    return {
        "dag_id": record.dag_id,
        "run_id": record.run_id,
        "ok": record.ok,
        "code": sorted(releases_seen),
        "resolved": resolved,
        "mixed": bool(mixed),
        "seconds": record.seconds,
        "tasks": [(task.task, task.state, task.executed) for task in record.tasks],
    }


class Clock:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.started = time.monotonic()
        self.echo = echo

    def say(self, text: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:7.1f}s] {text}")


@dataclass
class World:
    """Every engine of the rehearsal, and the two releases."""

    aws: MotoServer
    stage: StreamingStage
    airflow: MwaaEnvironment
    warehouse: Path
    a: releases.Release
    b: releases.Release
    lane: drill.ReleaseLane
    pipeline: drill.DrillPipeline
    clock: Clock
    timing: Timing

    @property
    def s3(self) -> Any:
        return self.aws.client("s3")

    @property
    def ssm(self) -> Any:
        return self.aws.client("ssm")

    def by_id(self) -> dict[str, str]:
        return {self.a.release_id: "A", self.b.release_id: "B"}

    def controller(self, log: Callable[[str], None] | None = None) -> Controller:
        return self.stage.controller(self.timing, log=log or (lambda text: self.clock.say(f"  streaming: {text}")))


def platform_settings(aws: MotoServer, application: str) -> dict[str, str]:
    role = f"arn:aws:iam::{aws.account_id}:role/emr-job-role"
    return {
        "environment": "embedded",
        "release_bucket": drill.RELEASE_BUCKET,
        "raw_bucket": RAW_BUCKET,
        "checkpoint_bucket": CHECKPOINT_BUCKET,
        "emr_batch_application_id": application,
        "emr_streaming_application_id": application,
        "emr_job_role_arn": role,
        "active_release_parameter": drill.PARAMETER,
        "snowflake_conn_id": "snowflake_default",
        "data_services_secret_name": "data-platform/data-services",
    }


@contextmanager
def world(options: Options, clock: Clock) -> Iterator[World]:
    from concurrent.futures import ThreadPoolExecutor

    options.workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=3) as pool:
        built = pool.submit(releases.build_pair, ROOT, options.workdir / "releases")
        database = options.workdir / "warehouse.duckdb"
        loaded = pool.submit(warehouse.prepare, database)
        aws = stack.enter_context(moto_server())
        clock.say(f"moto server on {aws.endpoint}")
        broker = stack.enter_context(kafka_broker(workdir=options.workdir / "kafka"))
        clock.say(f"Kafka broker on {broker.bootstrap}")
        stage = stack.enter_context(streaming_stage(broker=broker, aws=aws, workdir=options.workdir / "spark"))
        for bucket in (drill.DAG_BUCKET, drill.ARTIFACT_BUCKET, drill.EVIDENCE_BUCKET):
            aws.create_bucket(bucket, versioned=True)
        environment = MwaaEnvironment(
            home=options.workdir / "airflow",
            aws=aws,
            dag_bucket=drill.DAG_BUCKET,
            dag_prefix=drill.DAG_PREFIX,
            settings=platform_settings(aws, stage.application_id),
            extra_env={
                # The startup script's dbt environment (pipeline_assets/mwaa/startup.sh exports DBT_EXECUTABLE).
                "DBT_EXECUTABLE": str(ROOT / ".venv" / "bin" / "dbt"),
                "EMBEDDED_WAREHOUSE_PATH": str(database),
            },
        )
        environment.check_interpreter()
        migrated = pool.submit(environment.migrate)
        a, b = built.result()
        clock.say(f"releases built: A {a.release_id}, B {b.release_id}")
        loaded.result()
        migrated.result()
        clock.say("Airflow metadata DB migrated; warehouse loaded with the synthetic data")
        s3, ssm = aws.client("s3"), aws.client("ssm")
        for release in (a, b):
            uploaded = drill.upload(s3, release.files)
            if uploaded != release.release_id:
                raise RehearsalError(f"release {release.name} uploaded as {uploaded}, built as {release.release_id}")
        lane = drill.ReleaseLane(s3, ssm)
        timing = Timing(
            shutdown_grace_s=60,
            cancel_timeout_s=240,
            start_timeout_s=300,
            bake_s=options.stream_limit_s,
            poll_s=2,
            min_new_batches=2,
            pass_on_progress=True,
        )
        yield World(aws, stage, environment, database, a, b, lane, drill.DrillPipeline(lane, s3), clock, timing)


def _canary_settings() -> dict[str, str]:
    """What the data-quality canary's Lambda gets as environment (constructs: the canary function)."""
    return {
        "ENVIRONMENT": "prod",
        "RESULTS_BUCKET": drill.RELEASE_BUCKET,
        "RESULTS_PREFIX": "dbt-results/",
        "ACTIVE_RELEASE_PARAMETER": drill.PARAMETER,
    }


def run_data_quality_canary(w: World) -> dict[str, Any]:
    from pipeline_assets.canaries.canary import data_quality

    saved = {key: os.environ.get(key) for key in _canary_settings()}
    os.environ.update(_canary_settings())
    try:
        event = {
            "time": datetime.now(UTC).isoformat(),
            "pipelines": [{"id": PIPELINE, "max_age_minutes": 120, "key_models": [KEY_MODEL]}],
        }
        summary = data_quality.handler(event, s3=w.s3, ssm=w.ssm, cloudwatch=w.aws.client("cloudwatch"))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {
        "fired": summary.get("regressions", 0) > 0,
        "summary": {k: summary.get(k) for k in ("release_id", "failures", "regressions", "missing")},
        "details": summary.get("details", {}),
    }


def wait_for_first_batch(w: World, run_id: str, since: int, timeout_s: float) -> float:
    from pipeline_assets.streaming_control import store

    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        state = w.stage.runs.runs[run_id].job_run.state
        if state not in ("SUBMITTED", "PENDING", "RUNNING"):
            raise RehearsalError(
                f"streaming run {run_id} is {state}: {w.stage.runs.runs[run_id].job_run.state_details}"
            )
        if store.last_committed_batch(w.s3, w.stage.checkpoint_uri) > since:
            return time.monotonic() - began
        time.sleep(2)
    raise RehearsalError(f"streaming run {run_id} committed no micro-batch in {timeout_s:.0f} s")


def run_dag(w: World, figures: Figures, dag_id: str, tasks: list[str]) -> DagRunRecord:
    record = w.airflow.run_dag(dag_id, tasks, mark_success=tuple(t for t in NOT_EXECUTED if t in tasks))
    resolved_value = w.airflow.xcom(dag_id, record.run_id, "resolve_release") or {}
    resolved = w.by_id().get(resolved_value.get("release_id", ""), resolved_value.get("release_id"))
    digests = {w.a.dags_digest: "A", w.b.dags_digest: "B"}
    summary = classify_run(record, digests, resolved)
    figures.dag_runs.append(summary)
    states = ", ".join(
        f"{task}={state}{'' if executed else ' (not executed)'}" for task, state, executed in summary["tasks"]
    )
    w.clock.say(f"Airflow {dag_id} ({record.seconds:.0f}s): code {summary['code']}, resolved {resolved}: {states}")
    if not record.ok:
        w.clock.say(f"  worker output: {record.output[-1500:]}")
        raise RehearsalError(f"DAG run {dag_id} {record.run_id} failed: {summary['tasks']}")
    return record


def activate(w: World, release: releases.Release) -> None:
    w.pipeline.run(release.release_id)  # the release lane deploys: the activator mirrors the DAG folder
    digest = w.airflow.sync()
    if digest != release.dags_digest:
        raise RehearsalError(f"after activating {release.name} the synced DAG folder is not {release.name}'s")
    w.clock.say(f"release {release.name} active: DAG folder mirrored and synced, parameter {release.release_id}")


def phase_a(w: World, figures: Figures, producer: SteadyProducer) -> None:
    activate(w, w.a)
    run_dag(w, figures, SUPERVISOR, SUPERVISOR_TASKS)  # the supervisor starts the stream from A
    started = time.monotonic()
    [run] = [r for r in w.stage.runs.runs.values() if r.job_run.state in ("SUBMITTED", "PENDING", "RUNNING")]
    producer.start()
    # The pipeline's scheduled run does not wait for the stream (the warehouse holds the synthetic raw data).
    run_dag(w, figures, PIPELINE, PIPELINE_TASKS)  # transform: write-audit-publish of A's marts
    figures.marts_a = {name: vars(table) for name, table in warehouse.marts(w.warehouse).items()}
    w.clock.say(f"A's marts published: {figures.marts_a}")
    wait_for_first_batch(w, run.job_run.id, -1, max(w.timing.bake_s - (time.monotonic() - started), 60))
    w.clock.say(f"stream A committed its first micro-batch within {time.monotonic() - started:.0f}s of its start")


def phase_b(w: World, figures: Figures) -> None:
    from concurrent.futures import ThreadPoolExecutor

    activate(w, w.b)
    # Both follow the activation on their own, as on MWAA: the supervisor's next run redeploys the stream
    # (ensure_streaming_job -> redeploy, with the rehearsal's bake) while the pipeline's run publishes B's marts.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="supervisor") as pool:
        redeploy = pool.submit(w.controller().redeploy_running, drill.RELEASE_BUCKET, w.b.release_id)
        try:
            run_dag(w, figures, PIPELINE, PIPELINE_TASKS)  # B's transform publishes the wrong orders
        finally:
            try:
                outcome = redeploy.result()
            except Exception as exc:  # a redeploy that failed or rolled itself back stops the scenario
                raise RehearsalError(f"the stream's redeploy to B failed: {exc}") from exc
    figures.marts_b = {name: vars(table) for name, table in warehouse.marts(w.warehouse).items()}
    w.clock.say(f"B's marts published: {figures.marts_b}")
    w.clock.say(f"stream redeployed to B: run {outcome.job_run_id}")


class DagSync:
    """MWAA's periodic S3 sync, every second here (30 s on MWAA: modelled, not measured)."""

    def __init__(self, w: World, target: str) -> None:
        self.w, self.target = w, target
        self.synced_at: float | None = None
        self._stop = threading.Event()
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="mwaa-sync", daemon=True)

    def __enter__(self) -> DagSync:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.w.airflow.sync() == self.target:
                self.synced_at = time.monotonic() - self.started
                return
            self._stop.wait(1.0)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def roll_back(w: World, figures: Figures) -> RollbackResult | None:
    clients = Clients(codepipeline=w.pipeline, cloudformation=drill.DrillCloudFormation(w.lane), s3=w.s3, ssm=w.ssm)
    env = drill_environment()
    planes = Planes(
        streaming=StreamingPlane(w.controller(), drill.RELEASE_BUCKET),
        data=DataPlane(embedded.duckdb_executor(w.warehouse), embedded.database_of(w.warehouse), warehouse.SCHEMA),
    )
    steps = Steps(echo=lambda line: w.clock.say(f"  rollback {line}"))
    result: RollbackResult | None
    with DagSync(w, w.a.dags_digest) as sync:
        try:
            result = rollback(env, clients, steps=steps, poll_s=0, sleep=lambda _: None, planes=planes)
        except RollbackFailedError as exc:
            figures.rollback_error = str(exc)
            result = exc.result
        deadline = time.monotonic() + 60
        while sync.synced_at is None and time.monotonic() < deadline:
            time.sleep(0.5)
    figures.rollback_steps = [dict(step) for step in steps.records]
    if result is not None:
        figures.live_after.update(result.live_after)
    if sync.synced_at is not None:
        figures.live_after["dags"] = round(max(figures.live_after.get("dags", 0.0), sync.synced_at), 3)
    return result


def drill_environment() -> Environment:
    return Environment("prod", drill.STAGE, drill.PIPELINE, drill.PARAMETER, drill.RELEASE_BUCKET,
                       evidence_bucket=drill.EVIDENCE_BUCKET)  # fmt: skip


def check_planes(w: World, figures: Figures) -> None:
    """Is every plane A's again? Read from the systems themselves, not from what the command reported."""
    a = w.a
    parameter = w.ssm.get_parameter(Name=drill.PARAMETER)["Parameter"]["Value"]
    folder_s3 = drill.dag_folder(w.s3)
    expected_s3 = {f"{drill.DAG_PREFIX}{rel}": data for rel, data in a.dags.items()}
    local = w.airflow.sync()
    figures.planes_back["dags"] = parameter == a.release_id and folder_s3 == expected_s3 and local == a.dags_digest
    figures.plane_details["dags"] = (
        f"parameter {w.by_id().get(parameter, parameter)}, DAG bucket {'= A' if folder_s3 == expected_s3 else '!= A'}, "
        f"synced folder {'= A' if local == a.dags_digest else '!= A'}"
    )
    active = [r for r in w.stage.runs.runs.values() if r.job_run.state == "RUNNING"]
    if len(active) != 1:
        figures.planes_back["streaming"] = False
        figures.plane_details["streaming"] = f"{len(active)} runs RUNNING"
    else:
        run = active[0]
        release = (run.job_run.tags or {}).get("release_id")
        artifacts = {uri.rsplit("/", 1)[1]: digest for uri, digest in run.artifacts.items() if f"/{JOB}/" in uri}
        same_code = artifacts.get("main.py") == a.spark_sha256("main.py") and artifacts.get(
            "deps.zip"
        ) == a.spark_sha256("deps.zip")
        figures.planes_back["streaming"] = release == a.release_id and same_code
        figures.plane_details["streaming"] = (
            f"run {run.job_run.id} of {w.by_id().get(str(release), release)}, main.py and deps.zip "
            f"{'are' if same_code else 'are not'} A's bytes"
        )
    now = {name: vars(table) for name, table in warehouse.marts(w.warehouse).items()}
    figures.marts_after = now
    figures.planes_back["data"] = now == figures.marts_a
    figures.plane_details["data"] = f"published marts {'equal' if now == figures.marts_a else 'differ from'} A's"


def after_rollback(w: World, figures: Figures) -> None:
    """The next scheduled runs find A everywhere: the supervisor has nothing to do, the pipeline republishes A."""
    record = run_dag(w, figures, SUPERVISOR, SUPERVISOR_TASKS)
    ensured = w.airflow.xcom(SUPERVISOR, record.run_id, "ensure_streaming_job") or {}
    figures.plane_details["supervisor"] = f"ensure_streaming_job: {ensured}"
    if ensured.get("action") != "running" or ensured.get("release_id") != w.a.release_id:
        figures.planes_back["supervisor"] = False
    else:
        figures.planes_back["supervisor"] = True


def rehearse(options: Options) -> Figures:
    figures = Figures()
    clock = Clock(options.echo)
    figures.load["start"] = os.getloadavg()[0]
    with world(options, clock) as w:
        figures.release_a, figures.release_b = w.a.release_id, w.b.release_id
        figures.changes = [change.what for change in releases.B_CHANGES]
        figures.substitutions = substitutions(w.stage.runs.spark)
        producer = SteadyProducer(w.stage.broker.bootstrap, rate_per_s=options.rate_per_s)
        try:
            scenario(w, figures, producer, clock)
        except RehearsalError as exc:
            figures.aborted = str(exc)
            clock.say(f"FAILED: {exc}")
        except BaseException:
            producer.halt()  # a timeout or an interrupt: no draining, the engines stop now
            raise
        produced = producer.stop() if producer.started else []
        if produced:
            clock.say(f"producer stopped after {len(produced)} events; waiting for the job to land them")
            figures.tally = wait_until_landed(w.s3, w.stage.output_uri, produced, timeout_s=options.drain_timeout_s)
            clock.say(figures.tally.summary())
    figures.load["end"] = os.getloadavg()[0]
    return figures


def scenario(w: World, figures: Figures, producer: SteadyProducer, clock: Clock) -> None:
    """A live, B deployed, the canary, the rollback, the checks: each phase's measured seconds recorded."""
    began = time.monotonic()
    phase_a(w, figures, producer)
    figures.phases["A live"] = round(time.monotonic() - began, 1)
    began = time.monotonic()
    phase_b(w, figures)
    figures.phases["B deployed"] = round(time.monotonic() - began, 1)
    figures.canary = run_data_quality_canary(w)
    clock.say(f"data-quality canary: {'FIRED' if figures.canary['fired'] else 'quiet'} {figures.canary['summary']}")
    if not figures.canary["fired"]:
        return
    began = time.monotonic()
    roll_back(w, figures)
    figures.phases["rollback command"] = round(time.monotonic() - began, 1)
    check_planes(w, figures)
    after_rollback(w, figures)


__all__ = ["APPLICATION", "Figures", "Options", "RehearsalError", "RehearsalTimeoutError", "rehearse", "verdict"]
