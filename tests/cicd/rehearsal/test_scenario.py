"""The rehearsal's verdict: every failure branch (a lost event, a plane not back, a mixed run...) fails it."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from cicd.engines.airflow import DagRunRecord, TaskRun
from cicd.engines.emr_serverless import LocalRun
from cicd.rehearsal.releases import Release
from cicd.rehearsal.scenario import Figures, check_planes, classify_run, verdict
from cicd.rehearsal.stream import tally
from cicd.rollback import drill

MARTS_A = {"orders": {"rows": 10, "digest": "a"}}


def passing() -> Figures:
    figures = Figures(release_a="r-a", release_b="r-b")
    figures.canary = {"fired": True, "summary": {"regressions": 1}}
    figures.planes_back = {"dags": True, "data": True, "streaming": True, "supervisor": True}
    figures.tally = tally(["e1", "e2"], Counter({"e1": 1, "e2": 1}))
    figures.dag_runs = [{"dag_id": "d", "ok": True, "mixed": False}]
    figures.marts_a = figures.marts_after = dict(MARTS_A)
    return figures


def test_a_rehearsal_where_everything_is_a_again_passes():
    assert verdict(passing()) == []


def test_a_lost_event_fails_the_rehearsal():
    figures = passing()
    figures.tally = tally(["e1", "e2"], Counter({"e1": 1}))
    [problem] = verdict(figures)
    assert "lost 1" in problem and "e2" in problem


def test_a_duplicated_event_fails_the_rehearsal():
    figures = passing()
    figures.tally = tally(["e1", "e2"], Counter({"e1": 2, "e2": 1}))
    [problem] = verdict(figures)
    assert "duplicated 1" in problem


def test_a_plane_that_does_not_come_back_fails_the_rehearsal():
    figures = passing()
    figures.planes_back["streaming"] = False
    figures.plane_details["streaming"] = "run x of B"
    figures.rollback_error = "r-a is active, but: streaming job not back to r-a"
    problems = verdict(figures)
    assert "streaming is not back to A: run x of B" in problems
    assert any("the rollback command failed" in p for p in problems)


def test_marts_that_differ_from_a_fail_the_rehearsal():
    figures = passing()
    figures.marts_after = {"orders": {"rows": 4, "digest": "b"}}
    assert any("the marts are not A's" in p for p in verdict(figures))


def test_a_silent_canary_fails_the_rehearsal():
    figures = passing()
    figures.canary = {"fired": False, "summary": {"regressions": 0}}
    assert any("did not fire" in p for p in verdict(figures))


def test_a_dag_run_that_mixed_releases_fails_the_rehearsal():
    figures = passing()
    figures.dag_runs.append({"dag_id": "d", "ok": True, "mixed": True})
    assert any("mixed A's and B's code" in p for p in verdict(figures))


def test_nothing_checked_is_not_a_pass():
    figures = passing()
    figures.planes_back = {}
    figures.tally = None
    problems = verdict(figures)
    assert "no plane was checked" in problems and "the stream was not tallied" in problems


def run(*digests: str) -> DagRunRecord:
    return DagRunRecord("d", "run", [TaskRun(f"t{i}", "success", folder_digest=d) for i, d in enumerate(digests)], 1.0)


@pytest.mark.parametrize(
    ("digests", "resolved", "mixed"),
    [
        (("da", "da"), "A", False),
        (("da", "db"), "A", True),  # the DAG folder changed between two tasks of the run
        (("db", "db"), "A", True),  # B's code ran with A's artifacts
        (("dx",), "A", True),  # code of neither release
    ],
)
def test_a_run_is_mixed_when_its_tasks_or_its_release_disagree(digests, resolved, mixed):
    assert classify_run(run(*digests), {"da": "A", "db": "B"}, resolved)["mixed"] is mixed


def test_a_task_that_was_not_executed_does_not_count_as_code():
    record = run("da")
    record.tasks.append(TaskRun("load", "success", folder_digest="db", executed=False))
    assert classify_run(record, {"da": "A", "db": "B"}, "A")["mixed"] is False


def test_a_scenario_that_stopped_early_fails_naming_the_step():
    figures = passing()
    figures.aborted = "DAG run operations_events failed: transform"
    assert "the rehearsal stopped: DAG run operations_events failed: transform" in verdict(figures)


# --- check_planes: every plane read back from the systems themselves ----------------------------------------


def release(name: str) -> Release:
    files = {
        "dags/pipelines/operations_events.yaml": f"retries: {name}\n".encode(),
        "dags/operations_events.py": b"# wiring\n",
        "spark/operations_events_stream/main.py": f"# main {name}\n".encode(),
        "spark/operations_events_stream/deps.zip": f"deps {name}".encode(),
    }
    return Release(name, f"r-{name.lower()}", files)


def local_run(run_id: str, state: str, tag: Release, code: Release) -> LocalRun:
    prefix = f"s3://{drill.RELEASE_BUCKET}/releases/{code.release_id}/spark/operations_events_stream/"
    artifacts = {prefix + name: code.spark_sha256(name) for name in ("main.py", "deps.zip")}
    job_run = SimpleNamespace(id=run_id, state=state, tags={"release_id": tag.release_id})
    return LocalRun(job_run, Path("/nonexistent"), artifacts=artifacts)


@pytest.fixture
def systems(tmp_path):
    """The systems after a rollback to A, each settable to B: the DAG bucket, the parameter, Airflow's synced
    folder, the job runs and the warehouse."""
    a, b = release("A"), release("B")
    with drill.moto_environment() as (s3, ssm):

        def build(dags=a, parameter=a, synced=a, runs=(("run-a", "RUNNING", a, a),), orders=10) -> SimpleNamespace:
            for key in drill.dag_folder(s3):
                s3.delete_object(Bucket=drill.DAG_BUCKET, Key=key)
            for relative, data in dags.dags.items():
                s3.put_object(Bucket=drill.DAG_BUCKET, Key=f"{drill.DAG_PREFIX}{relative}", Body=data)
            ssm.put_parameter(Name=drill.PARAMETER, Value=parameter.release_id, Type="String", Overwrite=True)
            path = tmp_path / "warehouse.duckdb"
            with duckdb.connect(str(path)) as conn:
                conn.execute("create schema if not exists analytics_marts")
                conn.execute(f"create or replace table analytics_marts.orders as from range({orders}) ids(id)")
            stage = SimpleNamespace(runs=SimpleNamespace(runs={r[0]: local_run(*r) for r in runs}))
            return SimpleNamespace(
                a=a,
                s3=s3,
                ssm=ssm,
                airflow=SimpleNamespace(sync=lambda: synced.dags_digest),
                stage=stage,
                warehouse=path,
                by_id=lambda: {a.release_id: "A", b.release_id: "B"},
            )

        yield a, b, build


def checked(w) -> Figures:
    figures = Figures()
    figures.marts_a = {"orders": {"rows": 10, "digest": ORDERS_OF_A}}
    check_planes(w, figures)
    return figures


# What warehouse.marts() gives for A's 10 orders (ids 0-9): its rows sorted and hashed, computed here apart.
ORDERS_OF_A = hashlib.sha256(b"".join(repr((index,)).encode() + b"\n" for index in range(10))).hexdigest()


def test_every_plane_read_back_as_a_is_a(systems):
    _, _, build = systems
    figures = checked(build())
    assert figures.planes_back == {"dags": True, "streaming": True, "data": True}, figures.plane_details


@pytest.mark.parametrize(
    ("state", "plane", "detail"),
    [
        ({"dags": "B"}, "dags", "DAG bucket != A"),
        ({"parameter": "B"}, "dags", "parameter B"),
        ({"synced": "B"}, "dags", "synced folder != A"),
        ({"runs": [("run-b", "RUNNING", "B", "B")]}, "streaming", "run run-b of B"),
        ({"runs": [("run-a", "RUNNING", "A", "B")]}, "streaming", "are not A's bytes"),  # tagged A, runs B's code
        ({"runs": [("run-a", "RUNNING", "A", "A"), ("run-b", "RUNNING", "B", "B")]}, "streaming", "2 runs RUNNING"),
        ({"runs": [("run-a", "CANCELLED", "A", "A")]}, "streaming", "0 runs RUNNING"),
        ({"orders": 4}, "data", "differ from A's"),
    ],
    ids=["dag-bucket", "parameter", "synced-folder", "stream-on-b", "b-bytes", "two-runs", "no-run", "marts"],
)
def test_a_plane_left_behind_is_found_in_the_system_itself(systems, state, plane, detail):
    a, b, build = systems
    named = {"A": a, "B": b}
    if "runs" in state:
        state = {"runs": [(run, status, named[tag], named[code]) for run, status, tag, code in state["runs"]]}
    else:
        state = {key: named.get(value, value) if isinstance(value, str) else value for key, value in state.items()}
    figures = checked(build(**state))
    assert figures.planes_back[plane] is False and detail in figures.plane_details[plane]
    assert [p for p, back in figures.planes_back.items() if not back] == [plane]  # only that plane
    assert f"{plane} is not back to A" in " ".join(verdict(figures))
