"""EMR Serverless job runs executed for real: moto answers the API, local Spark runs the job.

moto's EMR Serverless backend records job runs but runs nothing (a new run is SUCCESS at once). `LocalJobRuns`
attaches to that backend and makes each StartJobRun do what EMR Serverless does with it: fetch the entry point,
`spark.submit.pyFiles` and `spark.jars` from S3 (moto), spark-submit them (local mode), and report the process
as the run's state: PENDING while fetching, RUNNING while it runs, SUCCESS or FAILED when it exits. CancelJobRun
sends SIGTERM (the job stops between micro-batches), SIGKILL after the grace period, then CANCELLED. Every
client of the API (streaming_control, the supervisor DAG's task, the CLI) therefore drives real Spark through
the same HTTP calls as in AWS.

What differs from EMR, on purpose, and is listed by `substitutions()`:
- s3:// is S3A against moto (EMR uses EMRFS), with the jars of cicd/engines/spark-s3a.jars.lock.json;
- driver/executor sizes and dynamic allocation are dropped: local mode runs one JVM with `local_cores`;
- `argument_overrides` replace job arguments the local broker cannot honour (e.g. MSK IAM authentication).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cicd.engines.kafka import stop_process_group

# Settings of the cloud job that mean nothing in local mode (sizes, autoscaling, EMR's own keys).
DROPPED_CONF_PREFIXES = (
    "spark.driver.cores",
    "spark.driver.memory",
    "spark.executor.",
    "spark.dynamicAllocation.",
    "spark.emr-serverless.",
)
ACTIVE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "CANCELLING")


class LocalRunError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalSpark:
    """What the local 'EMR image' provides."""

    s3_endpoint: str
    s3a_jars: tuple[Path, ...]
    python: str = sys.executable
    spark_submit: str = str(Path(sys.executable).parent / "spark-submit")
    local_cores: int = 1
    driver_memory: str = "768m"
    region: str = "eu-west-1"
    access_key: str = "testing"
    argument_overrides: tuple[tuple[str, str | None], ...] = ()

    def s3a_conf(self) -> dict[str, str]:
        return {
            "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "spark.hadoop.fs.s3a.endpoint": self.s3_endpoint,
            "spark.hadoop.fs.s3a.endpoint.region": self.region,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
            "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "spark.hadoop.fs.s3a.access.key": self.access_key,
            "spark.hadoop.fs.s3a.secret.key": self.access_key,
            # S3A's FileContext binds to the s3a scheme only; the FileSystem-based manager works for s3:// too.
            "spark.sql.streaming.checkpointFileManagerClass": (
                "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager"
            ),
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(max(1, self.local_cores)),
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
        }


def substitutions(spark: LocalSpark) -> list[str]:
    """Where a local run differs from the EMR Serverless run of the same job driver (printed by the rehearsal)."""
    notes = [
        "s3:// through S3A against moto server (EMR: EMRFS)",
        f"local[{spark.local_cores}] with {spark.driver_memory} driver memory (EMR: the job driver's workers)",
    ]
    for name, value in spark.argument_overrides:
        notes.append(f"job argument {name}{' ' + value if value is not None else ''} added locally")
    return notes


def parse_submit_parameters(text: str) -> dict[str, str]:
    """`--conf k=v` pairs of sparkSubmitParameters (the only form the DAG factory writes)."""
    words, conf = shlex.split(text or ""), {}
    for index, word in enumerate(words):
        if word == "--conf" and index + 1 < len(words):
            key, _, value = words[index + 1].partition("=")
            conf[key] = value
    return conf


def override_arguments(arguments: list[str], overrides: tuple[tuple[str, str | None], ...]) -> list[str]:
    """Replace (or add) `--name value` / `--flag` arguments."""
    result = list(arguments)
    for name, value in overrides:
        if name in result:
            index = result.index(name)
            if value is not None:
                result[index + 1] = value
            continue
        result += [name] if value is None else [name, value]
    return result


def python_drivers(group: int, entry_point: str) -> list[int]:
    """Processes of the group that run the job's entry point under Python (spark-submit's child)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != group:
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        if entry_point.encode() in argv and b"python" in Path(argv[0].decode(errors="replace")).name.encode():
            found.append(int(proc.name))
    return found


@dataclass
class LocalRun:
    job_run: Any
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    cancel_requested: bool = False
    artifacts: dict[str, str] = field(default_factory=dict)  # s3 URI -> sha256 of what was fetched
    command: list[str] = field(default_factory=list)
    entry_point: str = ""

    @property
    def log(self) -> Path:
        return self.folder / "driver.log"


@dataclass
class LocalJobRuns:
    backend: Any  # moto's EMRServerlessBackend of the account and region the clients use
    s3: Any  # a boto3 S3 client on the same moto server
    spark: LocalSpark
    workdir: Path
    grace_s: float = 60
    log: Callable[[str], None] = lambda message: None
    runs: dict[str, LocalRun] = field(default_factory=dict)
    _originals: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- attach to moto -------------------------------------------------------------------------

    def attach(self) -> LocalJobRuns:
        self._originals = {name: getattr(self.backend, name) for name in ("start_job_run", "cancel_job_run")}
        self.backend.start_job_run = self._start_job_run
        self.backend.cancel_job_run = self._cancel_job_run
        return self

    def detach(self) -> None:
        for name, original in self._originals.items():
            setattr(self.backend, name, original)
        self._originals = {}

    def stop_all(self) -> None:
        """Kill every local run still going (the end of a test or a rehearsal)."""
        for run in list(self.runs.values()):
            if run.process is not None and run.process.poll() is None:
                run.cancel_requested = True
                stop_process_group(run.process, grace_s=5)

    # --- the API --------------------------------------------------------------------------------

    def _start_job_run(self, **kwargs: Any) -> Any:
        job_run = self._originals["start_job_run"](**kwargs)
        job_run.state = "SUBMITTED"
        run = LocalRun(job_run, self.workdir / job_run.id)
        with self._lock:
            self.runs[job_run.id] = run
        threading.Thread(target=self._launch, args=(run,), name=f"emr-run-{job_run.id}", daemon=True).start()
        return job_run

    def _cancel_job_run(self, application_id: str, job_run_id: str) -> tuple[str, str]:
        job_run = self.backend.get_job_run(application_id, job_run_id)  # raises ResourceNotFound like AWS
        run = self.runs.get(job_run_id)
        if run is None or job_run.state not in ACTIVE:
            ended: tuple[str, str] = self._originals["cancel_job_run"](application_id, job_run_id)
            return ended
        run.cancel_requested = True
        job_run.state = "CANCELLING"
        if run.process is not None:
            threading.Thread(target=self._stop, args=(run,), daemon=True).start()
        return application_id, job_run_id

    def _stop(self, run: LocalRun) -> None:
        """SIGTERM to the Python driver only (as EMR's cancel reaches the job): the job stops its query between
        micro-batches and exits, and spark-submit's JVM with it. The whole group is killed after the grace."""
        assert run.process is not None
        drivers = python_drivers(run.process.pid, run.entry_point)
        for pid in drivers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.process.wait(timeout=self.grace_s if drivers else 0)
        stop_process_group(run.process, grace_s=5)

    # --- one run --------------------------------------------------------------------------------

    def _fetch(self, run: LocalRun, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "s3":
            raise LocalRunError(f"{uri} is not in S3: EMR Serverless jobs read their artifacts from S3")
        target = run.folder / "artifacts" / Path(parsed.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = self.s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
        except Exception as exc:
            raise LocalRunError(f"cannot read {uri}: {exc}") from exc
        target.write_bytes(data)
        run.artifacts[uri] = hashlib.sha256(data).hexdigest()
        return target

    def _log4j(self, run: LocalRun) -> Path:
        """Warnings, plus each micro-batch's progress line: what an operator reads in the EMR driver log."""
        path = run.folder / "log4j2.properties"
        path.write_text(
            "rootLogger.level = warn\nrootLogger.appenderRef.stdout.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\n"
            "appender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n\n"
            "logger.progress.name = org.apache.spark.sql.execution.streaming.MicroBatchExecution\n"
            "logger.progress.level = info\n"
        )
        return path

    def command(self, run: LocalRun) -> list[str]:
        submit = (run.job_run.job_driver or {}).get("sparkSubmit", {})
        conf = parse_submit_parameters(submit.get("sparkSubmitParameters", ""))
        py_files = [self._fetch(run, uri) for uri in filter(None, conf.pop("spark.submit.pyFiles", "").split(","))]
        jars = [self._fetch(run, uri) for uri in filter(None, conf.pop("spark.jars", "").split(","))]
        entry_point = self._fetch(run, submit["entryPoint"])
        run.entry_point = str(entry_point)
        kept = {k: v for k, v in conf.items() if not k.startswith(DROPPED_CONF_PREFIXES)}
        settings = {
            **kept,
            **self.spark.s3a_conf(),
            "spark.jars": ",".join(map(str, [*jars, *self.spark.s3a_jars])),
            "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile=file:{self._log4j(run)}",
        }
        command = [self.spark.spark_submit, "--master", f"local[{self.spark.local_cores}]"]
        command += ["--driver-memory", self.spark.driver_memory, "--name", run.job_run.name or run.job_run.id]
        for key, value in settings.items():
            command += ["--conf", f"{key}={value}"]
        if py_files:
            command += ["--py-files", ",".join(map(str, py_files))]
        arguments = override_arguments(list(submit.get("entryPointArguments", [])), self.spark.argument_overrides)
        return [*command, str(entry_point), *arguments]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_HOME", "PYSPARK_SUBMIT_ARGS")}
        return {
            **env,
            "AWS_ENDPOINT_URL": self.spark.s3_endpoint,
            "AWS_ACCESS_KEY_ID": self.spark.access_key,
            "AWS_SECRET_ACCESS_KEY": self.spark.access_key,
            "AWS_DEFAULT_REGION": self.spark.region,
            "PYSPARK_PYTHON": self.spark.python,
            "PYSPARK_DRIVER_PYTHON": self.spark.python,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }

    def _launch(self, run: LocalRun) -> None:
        job_run = run.job_run
        try:
            job_run.state = "PENDING"
            run.folder.mkdir(parents=True, exist_ok=True)
            run.command = self.command(run)
            with self._lock:
                if run.cancel_requested:
                    job_run.state = "CANCELLED"
                    return
                with run.log.open("wb") as out:
                    # cwd: the run's own folder, so nothing of this repository is importable by accident.
                    run.process = subprocess.Popen(
                        run.command,
                        cwd=run.folder,
                        env=self.environment(),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                job_run.state = "RUNNING"
            self.log(f"run {job_run.id} ({job_run.name}) started: pid {run.process.pid}")
            code = run.process.wait()
        except Exception as exc:  # a run that cannot start fails as EMR reports it, with the reason
            job_run.state, job_run.state_details = "FAILED", f"could not start: {exc}"
            self.log(f"run {job_run.id} failed to start: {exc}")
            return
        if run.cancel_requested:
            job_run.state, job_run.state_details = "CANCELLED", f"cancelled (exit {code})"
        elif code == 0:
            job_run.state = "SUCCESS"
        else:
            job_run.state, job_run.state_details = "FAILED", f"exit {code}: {self.tail(run)}"
        self.log(f"run {job_run.id} ended {job_run.state} (exit {code})")

    @staticmethod
    def tail(run: LocalRun, lines: int = 8) -> str:
        try:
            text = run.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no driver log)"
        wanted = [line for line in text if "Error" in line or "Exception" in line] or text
        return " | ".join(wanted[-lines:])[-1500:]

    def wait_for_state(self, job_run_id: str, states: tuple[str, ...], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            state = str(self.runs[job_run_id].job_run.state)
            if state in states or time.monotonic() > deadline:
                return state
            time.sleep(0.2)
