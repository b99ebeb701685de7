"""The CodeBuild batch build graph the gate generates from its own checks."""

import pytest
import yaml

from cicd.gate.batch import FAST, REPORT, SMALL, build_graph, parse_shard, shard, write_batch_spec
from cicd.gate.keys import KeyMaker
from cicd.gate.model import GateContext
from cicd.gate.registry import all_checks
from cicd.gate.runner import select_checks

CHECKS = all_checks()
BY_NAME = {c.name: c for c in CHECKS}


@pytest.fixture(scope="module")
def tasks():
    return build_graph(CHECKS, test_shards=3)


def test_every_check_runs_in_exactly_one_task_and_the_report_waits_for_all(tasks):
    work = [t for t in tasks if t.identifier != REPORT]
    placed = [name for t in work if not t.test_shard or t.test_shard.startswith("1/") for name in t.checks]
    assert sorted(placed) == sorted(BY_NAME)
    [report] = [t for t in tasks if t.identifier == REPORT]
    assert report.depend_on == [t.identifier for t in work]
    assert report.command().endswith("validate --all --junit build/gate/junit.xml")


def test_identifiers_are_unique_valid_and_every_dependency_exists(tasks):
    ids = [t.identifier for t in tasks]
    assert len(ids) == len(set(ids))
    assert all(i.replace("_", "").isalnum() and i[0].isalpha() for i in ids)
    for task in tasks:
        assert set(task.depend_on) <= set(ids) - {task.identifier}


def test_each_task_holds_what_its_checks_need_so_no_task_reads_another_machines_files(tmp_path, tasks):
    ctx = GateContext(tmp_path, tmp_path)
    for task in tasks:
        if task.identifier == REPORT:
            continue
        closure = {c.name for c in select_checks(CHECKS, ctx, only=task.checks)}
        assert closure == set(task.checks), task.identifier


def test_the_cheap_checks_others_wait_for_run_first_and_gate_their_dependents(tasks):
    [fast] = [t for t in tasks if t.identifier == FAST]
    assert set(fast.checks) == {g for c in CHECKS for g in c.after}
    by_check = {name: t for t in tasks if t.identifier != REPORT for name in t.checks}
    for check in CHECKS:
        if check.after and check.name not in fast.checks:
            assert FAST in by_check[check.name].depend_on, check.name


def test_unit_tests_are_sharded_and_short_checks_share_one_machine(tasks):
    shards = [t for t in tasks if t.test_shard]
    assert [t.test_shard for t in shards] == ["1/3", "2/3", "3/3"]
    assert all("--only unit-tests --test-shard" in t.command() for t in shards)
    [small] = [t for t in tasks if t.identifier == SMALL]
    assert all(BY_NAME[n].expected_seconds < 20 for n in small.checks) and len(small.checks) > 1


def test_shards_partition_the_modules():
    modules = [f"tests/test_{i:02d}.py" for i in range(10)]
    parts = [shard(modules, i, 3) for i in (1, 2, 3)]
    assert sorted(m for p in parts for m in p) == modules
    assert [len(p) for p in parts] == [4, 3, 3]
    with pytest.raises(ValueError, match="between 1 and 3"):
        shard(modules, 4, 3)
    assert parse_shard("2/3") == (2, 3)


def test_a_shards_pass_is_stored_under_its_own_key_never_as_the_whole_suites(tmp_path):
    unit = BY_NAME["unit-tests"]
    whole = KeyMaker(GateContext(tmp_path, tmp_path)).parts(unit)
    one = KeyMaker(GateContext(tmp_path, tmp_path, test_shard=(1, 2))).parts(unit)
    assert "shard" not in whole and one["shard"] == "1/2"


def test_the_written_spec_is_the_gates_build_spec_with_the_graph(tmp_path):
    path = write_batch_spec(CHECKS, tmp_path / "buildspec-batch.yml", test_shards=2)
    spec = yaml.safe_load(path.read_text())
    assert spec["version"] == "0.2" and spec["batch"]["fast-fail"] is True
    assert spec["phases"]["install"]["runtime-versions"]["python"] == "3.11"
    assert spec["phases"]["build"]["commands"] == ["make venv", 'eval "$GATE_COMMAND"']
    graph = spec["batch"]["build-graph"]
    assert {e["identifier"] for e in graph} >= {FAST, REPORT, "unit_tests_1", "unit_tests_2"}
    for entry in graph:
        assert set(entry) <= {"identifier", "env", "depend-on", "buildspec", "ignore-failure", "debug-session"}
        assert entry["env"]["variables"]["GATE_COMMAND"].startswith(".venv/bin/python -m cicd validate ")
