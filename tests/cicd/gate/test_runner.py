import threading
import time
from pathlib import Path

import pytest

from cicd.gate.model import Check, Finding, GateContext, Status, ToolError
from cicd.gate.runner import GateSetupError, gate_passed, run_checks, select_checks


def make_check(name, *, paths=(), needs=(), run=None, after=(), expected=5.0):
    body = run or (lambda self, ctx: [])
    return type(
        name.title().replace("-", ""),
        (Check,),
        {
            "name": name,
            "description": name,
            "paths": paths,
            "needs": needs,
            "after": after,
            "expected_seconds": expected,
            "run": body,
        },
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
    assert results[1].summary == "skipped: synth failed"
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


def recorder(log, name, findings=()):
    def body(self, c):
        log.append(name)
        return list(findings)

    return body


def test_a_cheap_check_named_in_after_runs_first_and_its_failure_skips_the_dependent(ctx):
    log = []
    lint = make_check("lint", expected=1, run=recorder(log, "lint", [Finding("ruff:E999", "syntax")]))
    tests = make_check("unit-tests", expected=120, after=("lint",), run=recorder(log, "unit-tests"))
    other = make_check("cfn", expected=100, run=recorder(log, "cfn"))
    results = {r.name: r for r in run_checks([tests, other, lint], ctx, jobs=1)}
    assert log == ["lint", "cfn"]  # the 1 s check that gates the 120 s one went first; the gated one never ran
    assert results["unit-tests"].status is Status.SKIPPED
    assert results["unit-tests"].summary == "skipped: lint failed"
    assert results["cfn"].status is Status.PASSED


def test_after_orders_only_checks_of_the_run_and_never_pulls_one_in(ctx):
    lint = make_check("lint")
    tests = make_check("unit-tests", after=("lint", "not-registered"))
    assert [c.name for c in select_checks([lint, tests], ctx, only=["unit-tests"])] == ["unit-tests"]
    [result] = run_checks([tests], ctx, jobs=1)
    assert result.status is Status.PASSED


def test_a_skipped_need_says_why_it_was_skipped(ctx):
    build = make_check("release-build", run=lambda s, c: [Finding("bundle", "broken")])
    synth = make_check("cdk-synth", needs=("release-build",))
    lint = make_check("cfn-lint", needs=("cdk-synth",))
    results = run_checks([build, synth, lint], ctx, jobs=2)
    assert results[2].summary == "skipped: cdk-synth was skipped (release-build failed)"


def test_keep_going_runs_dependents_of_failed_checks_but_not_of_errored_ones(ctx):
    log = []

    def crash(self, c):
        raise ToolError("dbt is not installed")

    lint = make_check("lint", run=recorder(log, "lint", [Finding("ruff:F401", "unused")]))
    tests = make_check("unit-tests", after=("lint",), run=recorder(log, "unit-tests"))
    synth = make_check("synth", run=recorder(log, "synth", [Finding("cdk-nag", "open bucket")]))
    cfn = make_check("cfn", needs=("synth",), run=recorder(log, "cfn"))
    dbt = make_check("dbt", run=crash)
    compat = make_check("compat", needs=("dbt",), run=recorder(log, "compat"))
    results = {r.name: r for r in run_checks([lint, tests, synth, cfn, dbt, compat], ctx, jobs=2, keep_going=True)}
    assert {"unit-tests", "cfn"} <= set(log)
    assert results["unit-tests"].status is Status.PASSED
    assert results["cfn"].status is Status.PASSED
    assert results["compat"].summary == "skipped: dbt failed"
    assert "compat" not in log


def test_the_gates_typo_catchers_run_before_the_unit_tests():
    """A typo'd spec, config value or Python syntax error is named by a seconds-long check, not 90 test errors."""
    from cicd.gate.registry import all_checks

    by_name = {c.name: c for c in all_checks()}
    assert {"config", "python-lint", "dag-integrity"} <= set(by_name["unit-tests"].after)
    for gate in by_name["unit-tests"].after:
        assert by_name[gate].expected_seconds < 15


def test_changed_files_leave_out_toolchain_folders_linked_into_the_checkout(tmp_path):
    """`.gitignore`'s `.venv/` matches folders only: a `.venv` symlink used to count as a changed file."""
    import subprocess

    from cicd.gate.imports import repo_files
    from cicd.gate.runner import changed_files

    repo, elsewhere = tmp_path / "repo", tmp_path / "shared-venv"
    (elsewhere / "bin").mkdir(parents=True)
    repo.mkdir()
    (repo / ".gitignore").write_text(".venv/\nnode_modules/\n")
    (repo / "app.py").write_text("x = 1\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    (repo / ".venv").symlink_to(elsewhere)
    (repo / "node_modules").symlink_to(elsewhere)
    (repo / "new.py").write_text("y = 2\n")
    assert changed_files(repo, "HEAD") == frozenset({"new.py"})
    assert ".venv" not in repo_files(repo)
