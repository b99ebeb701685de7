"""Airflow as MWAA runs a release: MWAA's requirements only, the DAG folder synced from S3, tasks run by workers.

- Interpreter: `.venv-mwaa` (`make mwaa-venv`), built from pipeline_assets/mwaa/wheelhouse.lock exactly (what
  requirements.txt installs on MWAA) plus duckdb, the embedded warehouse's client that stands in for
  Snowflake's connector. Nothing of this repository is on its path: what the tasks import comes from the
  synced DAG folder, as on MWAA.
- DAG folder: `sync()` mirrors the DAG prefix of the DAG bucket (moto) into AIRFLOW_HOME/dags, as MWAA's
  periodic sync does; the release activator decides what is in that prefix.
- Configuration: the `[platform]` options the platform stack sets (AIRFLOW__PLATFORM__*), the aws_default
  connection pointing at moto server, a SQLite metadata DB in a temporary AIRFLOW_HOME.
- Runs: `run_dag()` runs cicd/engines/airflow_worker.py with that interpreter: the DAG run is recorded in the
  metadata DB and each task executes in a process of its own that parses the DAG folder at that moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cicd.engines.airflow_worker import folder_digest
from cicd.engines.moto_server import MotoServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MWAA_VENV = ROOT / ".venv-mwaa"
WORKER = HERE / "airflow_worker.py"


class AirflowEngineError(RuntimeError):
    pass


@dataclass
class TaskRun:
    task: str
    state: str
    seconds: float = 0.0
    folder_digest: str = ""
    executed: bool = True
    xcom: Any = None


@dataclass
class DagRunRecord:
    dag_id: str
    run_id: str
    tasks: list[TaskRun]
    seconds: float
    output: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.tasks) and all(task.state == "success" for task in self.tasks)

    def task(self, task_id: str) -> TaskRun | None:
        return next((task for task in self.tasks if task.task == task_id), None)


@dataclass
class MwaaEnvironment:
    home: Path
    aws: MotoServer
    dag_bucket: str
    settings: dict[str, str]  # the [platform] options
    dag_prefix: str = "dags/"
    python: Path = MWAA_VENV / "bin" / "python"
    extra_env: dict[str, str] = field(default_factory=dict)
    runs: list[DagRunRecord] = field(default_factory=list)

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    def check_interpreter(self) -> None:
        if not self.python.exists():
            raise AirflowEngineError(f"{self.python} does not exist: run `make mwaa-venv` (MWAA's requirements)")

    def environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
        connection = {
            "conn_type": "aws",
            "login": self.aws.environment()["AWS_ACCESS_KEY_ID"],
            "password": self.aws.environment()["AWS_SECRET_ACCESS_KEY"],
            "extra": {"region_name": self.aws.region, "endpoint_url": self.aws.endpoint},
        }
        return {
            **inherited,
            **self.aws.environment(),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
            "PYTHONDONTWRITEBYTECODE": "1",
            **{f"AIRFLOW__PLATFORM__{key.upper()}": value for key, value in self.settings.items()},
            **self.extra_env,
        }

    def _airflow(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        self.check_interpreter()
        return subprocess.run(
            [str(self.python), "-m", "airflow", *args],
            cwd=self.home,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(exist_ok=True)
        result = self._airflow("db", "migrate")
        if result.returncode != 0:
            raise AirflowEngineError(f"airflow db migrate failed: {(result.stdout + result.stderr)[-1500:]}")

    def sync(self) -> str:
        """Mirror the DAG prefix into the DAG folder (MWAA's S3 sync); returns the folder's digest."""
        s3 = self.aws.client("s3")
        wanted: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.dag_bucket, Prefix=self.dag_prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(self.dag_prefix) :]
                if relative and not relative.endswith("/"):
                    wanted[relative] = item["Key"]
        for path in list(self.dags_folder.rglob("*")):
            if path.is_file() and str(path.relative_to(self.dags_folder)) not in wanted:
                path.unlink()
        for relative, key in wanted.items():
            target = self.dags_folder / relative
            data = s3.get_object(Bucket=self.dag_bucket, Key=key)["Body"].read()
            if not target.exists() or target.read_bytes() != data:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return folder_digest(self.dags_folder)

    def run_dag(
        self, dag_id: str, tasks: list[str], *, mark_success: tuple[str, ...] = (), timeout_s: float = 1800
    ) -> DagRunRecord:
        self.check_interpreter()
        now = datetime.now(UTC)
        run_id = f"rehearsal__{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
        command = [
            str(self.python), "-P", str(WORKER), "--dag-id", dag_id, "--run-id", run_id,
            "--logical-date", now.isoformat(), "--tasks", ",".join(tasks), "--mark-success", ",".join(mark_success),
        ]  # fmt: skip
        started = time.monotonic()
        result = subprocess.run(
            command, cwd=self.home, env=self.environment(), capture_output=True, text=True, timeout=timeout_s
        )
        records = []
        for line in result.stdout.splitlines():
            if line.startswith('{"task"'):
                data = json.loads(line)
                if data.get("task"):
                    records.append(TaskRun(**{k: v for k, v in data.items() if k in TaskRun.__dataclass_fields__}))
        record = DagRunRecord(dag_id, run_id, records, round(time.monotonic() - started, 2), result.stderr[-4000:])
        self.runs.append(record)
        return record

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """A task's return value as the metadata DB holds it (JSON, Airflow's default XCom serialisation)."""
        import sqlite3

        with sqlite3.connect(self.home / "airflow.db") as db:
            row = db.execute(
                "select value from xcom where dag_id = ? and run_id = ? and task_id = ? and key = 'return_value'",
                (dag_id, run_id, task_id),
            ).fetchone()
        return json.loads(row[0]) if row else None


def digest_of(files: dict[str, bytes]) -> str:
    """folder_digest of a release's dags part, computed from the bundle (to name the code a task parsed)."""
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(files[relative]).digest())
    return digest.hexdigest()
