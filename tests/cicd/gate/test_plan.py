"""`validate --plan`: the changed files, the checks that would run and why, the tests, the expected time."""

import io
import json

import pytest

from cicd import cli
from cicd.gate import runner
from cicd.gate.model import Check, GateContext
from cicd.gate.plan import make_plan, reasons, render_plan, simulate


def make_check(name, *, paths=(), needs=(), after=(), expected=5.0):
    attrs = {"name": name, "description": name, "paths": paths, "needs": needs, "after": after}
    attrs |= {"expected_seconds": expected, "run": lambda self, ctx: []}
    return type(name.title().replace("-", ""), (Check,), attrs)()


BUILD = make_check("release-build", expected=10)
SYNTH = make_check("cdk-synth", paths=("stacks/*",), needs=("release-build",), expected=15)
LINT = make_check("cfn-lint", paths=("stacks/*",), needs=("cdk-synth",), expected=12)
DBT = make_check("dbt-build", paths=("dbt_project/*",), expected=9)


def test_each_check_says_why_it_would_run(tmp_path):
    ctx = GateContext(tmp_path, tmp_path / "out", changed_files=frozenset({"stacks/storage_stack.py", "README.md"}))
    why = reasons([BUILD, SYNTH, LINT], ctx, only=())
    assert why == {
        "release-build": "always runs (no path filter)",
        "cdk-synth": "stacks/storage_stack.py matches stacks/*",
        "cfn-lint": "stacks/storage_stack.py matches stacks/*",
    }
    assert reasons([BUILD, SYNTH], GateContext(tmp_path, tmp_path), only=["cdk-synth"]) == {
        "cdk-synth": "named by --only",
        "release-build": "needed by cdk-synth",
    }


def test_expected_time_follows_the_runners_schedule():
    seconds = {"release-build": 10.0, "cdk-synth": 15.0, "cfn-lint": 12.0, "dbt-build": 9.0}
    checks = [BUILD, SYNTH, LINT, DBT]
    assert simulate(checks, seconds, jobs=1) == pytest.approx(46)
    assert simulate(checks, seconds, jobs=2) == pytest.approx(37)  # dbt-build overlaps the synth chain
    assert simulate(checks, seconds | {"cdk-synth": 0.0}, jobs=2) == pytest.approx(22)  # a reused check costs nothing


def test_the_plan_lists_changed_files_and_runs_nothing(tmp_path):
    ctx = GateContext(tmp_path, tmp_path / "out", changed_files=frozenset({"dbt_project/models/a.sql"}))
    plan = make_plan(
        [BUILD, SYNTH, LINT, DBT], [BUILD, DBT], ctx, only=(), cache=None, jobs=2, keep_going=False, scope="changed"
    )
    out = io.StringIO()
    render_plan(plan, out)
    text = out.getvalue()
    assert "changed files (1):\n  dbt_project/models/a.sql" in text
    assert "dbt-build" in text and "dbt_project/models/a.sql matches dbt_project/*" in text
    assert "not selected: cdk-synth, cfn-lint" in text
    assert plan.expected_seconds == pytest.approx(10)
    assert not (tmp_path / "out").exists()


def test_validate_plan_runs_no_check_and_prints_json(monkeypatch, capsys):
    def forbidden(*args, **kwargs):
        raise AssertionError("--plan must not run checks")

    monkeypatch.setattr(runner, "run_checks", forbidden)
    assert cli.main(["validate", "--only", "config", "--plan", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in plan["checks"]] == ["config"]
    assert plan["checks"][0]["why"] == "named by --only"
