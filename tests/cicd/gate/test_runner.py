import threading
import time
from pathlib import Path

import pytest

from cicd.gate.model import Check, Finding, GateContext, Status, ToolError
from cicd.gate.runner import GateSetupError, gate_passed, run_checks, select_checks


def make_check(name, *, paths=(), needs=(), run=None):
    body = run or (lambda self, ctx: [])
    return type(
        name.title().replace("-", ""),
        (Check,),
        {"name": name, "description": name, "paths": paths, "needs": needs, "run": body},
    )()


@pytest.fixture
def ctx(tmp_path: Path) -> GateContext:
    return GateContext(root=tmp_path, out_dir=tmp_path / "build" / "gate")


def test_a_passing_check_passes(ctx):
    [result] = run_checks([make_check("ok")], ctx, jobs=1)
    assert result.status is Status.PASSED
    assert gate_passed([result])


def test_an_error_finding_fails_and_a_warning_does_not(ctx):
    warn = make_check("warn", run=lambda s, c: [Finding("r1", "meh", severity="warning")])
    fail = make_check("fail", run=lambda s, c: [Finding("r2", "broken", file="a.py", line=3, fix="do x")])
    results = run_checks([warn, fail], ctx, jobs=2)
    assert [r.status for r in results] == [Status.PASSED, Status.FAILED]
    assert not gate_passed(results)
    assert results[1].findings[0].render() == "a.py:3: [r2] broken Fix: do x"


def test_a_missing_tool_is_an_error_not_a_pass(ctx):
    def missing(self, c):
        raise ToolError("ruff is not installed; run `make venv`")

    [result] = run_checks([make_check("lint", run=missing)], ctx, jobs=1)
    assert result.status is Status.ERROR
    assert "make venv" in result.summary
    assert not gate_passed([result])


def test_a_crashing_check_is_an_error_with_the_exception(ctx):
    def crash(self, c):
        raise KeyError("Rule")

    [result] = run_checks([make_check("cfn", run=crash)], ctx, jobs=1)
    assert result.status is Status.ERROR
    assert "KeyError" in result.summary


def test_dependents_of_a_failed_check_are_skipped_and_the_gate_fails(ctx):
    synth = make_check("synth", run=lambda s, c: [Finding("cdk", "boom")])
    lint = make_check("lint", needs=("synth",))
    results = run_checks([synth, lint], ctx, jobs=2)
    assert results[1].status is Status.SKIPPED
    assert "synth did not pass" in results[1].summary
    assert not gate_passed(results)


def test_dependencies_run_first_and_independent_checks_overlap(ctx):
    order, lock = [], threading.Lock()
    active, peak = [0], [0]

    def slow(name):
        def body(self, c):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                order.append(name)
            time.sleep(0.2)
            with lock:
                active[0] -= 1
            return []

        return body

    checks = [
        make_check("a", run=slow("a")),
        make_check("b", run=slow("b")),
        make_check("c", needs=("a",), run=slow("c")),
    ]
    run_checks(checks, ctx, jobs=2)
    assert order.index("c") > order.index("a")
    assert peak[0] == 2


def test_changed_since_selects_by_path_and_pulls_in_dependencies(tmp_path):
    ctx = GateContext(root=tmp_path, out_dir=tmp_path, changed_files=frozenset({"stacks/storage.py"}))
    build = make_check("release-build")
    synth = make_check("cdk-synth", paths=("stacks/*",), needs=("release-build",))
    dbt = make_check("dbt", paths=("dbt_project/*",))
    always = make_check("config")  # no paths: always runs
    chosen = [c.name for c in select_checks([build, synth, dbt, always], ctx)]
    assert chosen == ["release-build", "cdk-synth", "config"]


def test_unknown_checks_and_cycles_are_setup_errors(ctx):
    a = make_check("a", needs=("b",))
    b = make_check("b", needs=("a",))
    with pytest.raises(GateSetupError, match="cycle"):
        select_checks([a, b], ctx)
    with pytest.raises(GateSetupError, match="unknown check"):
        select_checks([make_check("x")], ctx, only=["nope"])
    with pytest.raises(GateSetupError, match="needs unknown check 'ghost'"):
        select_checks([make_check("y", needs=("ghost",))], ctx)


def test_a_gate_that_ran_nothing_did_not_pass():
    assert not gate_passed([])


def test_the_longest_chain_starts_first(ctx):
    started = []

    def record(name):
        return lambda self, c: started.append(name) or []

    quick = make_check("a-quick", run=record("a-quick"))
    slow = make_check("z-slow", run=record("z-slow"))
    slow.expected_seconds = 100
    head = make_check("m-head", run=record("m-head"))
    tail = make_check("n-tail", needs=("m-head",), run=record("n-tail"))
    tail.expected_seconds = 200  # m-head leads a 205 s chain: it goes before z-slow
    run_checks([quick, slow, head, tail], ctx, jobs=1)
    assert started == ["m-head", "n-tail", "z-slow", "a-quick"]
