"""`cicd rehearse`: its exit codes, its time bound, and the figures it prints."""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter

from cicd.engines.airflow import AirflowEngineError
from cicd.options import ExitCode
from cicd.rehearsal import cli
from cicd.rehearsal.scenario import Figures
from cicd.rehearsal.stream import tally


def arguments(tmp_path, **overrides) -> argparse.Namespace:
    values = {"workdir": str(tmp_path), "rate": 5.0, "stream_limit": 60.0, "timeout": 60, "json": False}
    return argparse.Namespace(**{**values, **overrides})


def figures(lost: bool) -> Figures:
    result = Figures(release_a="r-a", release_b="r-b", canary={"fired": True, "summary": {}})
    result.planes_back = {"dags": True, "data": True, "streaming": True}
    result.live_after = {"dags": 1.0, "data": 1.5, "streaming": 90.0}
    result.tally = tally(["e1", "e2"], Counter({"e1": 1} if lost else {"e1": 1, "e2": 1}))
    result.marts_a = result.marts_after = {"orders": {"rows": 3, "digest": "x"}}
    return result


def test_a_rehearsal_where_everything_is_a_again_prints_the_figures_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "rehearse", lambda options: figures(lost=False))
    assert cli.cmd_rehearse(arguments(tmp_path)) == ExitCode.OK
    out = capsys.readouterr().out
    assert re.search(r"streaming +90\.0 s +now A", out) and re.search(r"all +90\.0 s", out)
    assert "lost 0, duplicated 0" in out and "PASS" in out
    assert (tmp_path / "rehearsal.json").exists()


def test_a_lost_event_exits_1_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "rehearse", lambda options: figures(lost=True))
    assert cli.cmd_rehearse(arguments(tmp_path)) == ExitCode.FAILED
    assert "lost 1" in capsys.readouterr().out


def test_a_rehearsal_that_cannot_be_set_up_exits_2_naming_the_fix(tmp_path, monkeypatch, capsys):
    def missing(options):
        raise AirflowEngineError(".venv-mwaa/bin/python does not exist: run `make mwaa-venv`")

    monkeypatch.setattr(cli, "rehearse", missing)
    assert cli.cmd_rehearse(arguments(tmp_path)) == ExitCode.USAGE
    assert "make mwaa-venv" in capsys.readouterr().err


def test_a_rehearsal_past_its_timeout_is_stopped_and_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "rehearse", lambda options: time.sleep(30))
    started = time.monotonic()
    assert cli.cmd_rehearse(arguments(tmp_path, timeout=1)) == ExitCode.FAILED
    assert time.monotonic() - started < 10
    assert "longer than --timeout 1 s" in capsys.readouterr().err


def test_json_puts_only_the_figures_on_stdout_and_progress_on_stderr(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setattr(cli, "rehearse", lambda options: figures(lost=False))
    assert cli.cmd_rehearse(arguments(tmp_path, json=True)) == ExitCode.OK
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["problems"] == [] and report["tally"]["produced"] == 2 and report["live_after"]["streaming"] == 90.0
    assert "engines' state in" in captured.err
