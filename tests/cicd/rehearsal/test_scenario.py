"""The rehearsal's verdict: every failure branch (a lost event, a plane not back, a mixed run...) fails it."""

from __future__ import annotations

from collections import Counter

import pytest

from cicd.engines.airflow import DagRunRecord, TaskRun
from cicd.rehearsal.scenario import Figures, classify_run, verdict
from cicd.rehearsal.stream import tally

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
