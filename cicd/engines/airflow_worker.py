"""One DAG run, its tasks executed as MWAA's workers execute them. Standalone: run with the MWAA environment's
Python (Airflow and MWAA's requirements only); it imports nothing of this repository.

    python -P airflow_worker.py --dag-id D --run-id R --logical-date 2026-01-01T00:00:00+00:00 \
        --tasks resolve_release,load,transform [--mark-success load]

The DAG run is created in the metadata DB, then each task runs in a process of its own (forked from this one,
which has imported Airflow but never the DAG folder) that parses the DAG folder as it is at that moment and
runs the task instance: state and XCom go to the metadata DB, as on a Celery worker. A task listed in
--mark-success is recorded as succeeded without running (what the rehearsal cannot execute here). Prints one
JSON line per task: state, seconds, and the digest of the DAG folder the task parsed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

SKIPPED_PARTS = {"__pycache__"}


def folder_digest(folder: Path) -> str:
    """What a worker would load: every file's path and bytes (Python caches left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not SKIPPED_PARTS & set(p.parts)):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def in_child(work: Callable[[], int]) -> int:
    """Run `work` in a forked process (a fresh import of the DAG folder, as each task gets on MWAA)."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from airflow import settings

            settings.reconfigure_orm(disable_connection_pool=True)  # never share the parent's DB connections
            code = work()
        except BaseException:  # the child reports whatever went wrong and exits with a failure
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _dag(dag_id: str):  # type: ignore[no-untyped-def]
    from airflow.configuration import conf
    from airflow.models.dagbag import DagBag

    bag = DagBag(conf.get("core", "dags_folder"), include_examples=False, read_dags_from_db=False)
    if dag_id not in bag.dags:
        raise SystemExit(f"DAG {dag_id} is not in the DAG folder; import errors: {bag.import_errors}")
    return bag.get_dag(dag_id)


def create_run(dag_id: str, run_id: str, logical_date: str) -> int:
    import pendulum
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    dag = _dag(dag_id)
    dag.sync_to_db()
    when = pendulum.parse(logical_date)
    dag.create_dagrun(
        run_id=run_id,
        execution_date=when,
        data_interval=dag.timetable.infer_manual_data_interval(run_after=when),
        state=DagRunState.RUNNING,
        run_type=DagRunType.MANUAL,
        external_trigger=True,
    )
    return 0


def run_task(dag_id: str, run_id: str, task_id: str, mark_success: bool) -> int:
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import TaskInstanceState

    dag = _dag(dag_id)
    [dag_run] = DagRun.find(dag_id=dag_id, run_id=run_id)
    ti: Any = dag_run.get_task_instance(task_id)
    if ti is None:
        raise SystemExit(f"task {task_id} is not part of {dag_id}'s run {run_id}")
    ti.task = dag.get_task(task_id)
    ti.run(mark_success=mark_success, ignore_ti_state=True)
    ti.refresh_from_db()
    return 0 if ti.state == TaskInstanceState.SUCCESS else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--logical-date", required=True)
    parser.add_argument("--tasks", required=True, help="comma-separated, in dependency order")
    parser.add_argument("--mark-success", default="", help="tasks recorded as succeeded without running")
    args = parser.parse_args(argv)
    import airflow.models  # noqa: F401 (paid once; every forked task inherits it)
    from airflow.configuration import conf

    folder = Path(conf.get("core", "dags_folder"))
    if in_child(lambda: create_run(args.dag_id, args.run_id, args.logical_date)) != 0:
        print(json.dumps({"task": None, "state": "failed", "error": "could not create the DAG run"}), flush=True)
        return 1
    marked = set(filter(None, args.mark_success.split(",")))
    failed = False
    for task_id in filter(None, args.tasks.split(",")):
        if failed:
            print(json.dumps({"task": task_id, "state": "upstream_failed"}), flush=True)
            continue
        started, digest = time.monotonic(), folder_digest(folder)
        code = in_child(partial(run_task, args.dag_id, args.run_id, task_id, task_id in marked))
        state = "success" if code == 0 else "failed"
        failed = code != 0
        record = {"task": task_id, "state": state, "seconds": round(time.monotonic() - started, 2)}
        record |= {"folder_digest": digest, "executed": task_id not in marked}
        print(json.dumps(record), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
