"""run_dbt hands dbt's lines over as dbt prints them, for a person watching, and still returns the whole output.
Which dbt runs: the one MWAA's startup script installs (DBT_EXECUTABLE) before anything on PATH."""

import subprocess
from pathlib import Path

import pytest

from pipeline_assets.dbt_wap import runner
from pipeline_assets.dbt_wap.runner import DbtWorkspace, run_dbt

ROOT = Path(__file__).resolve().parents[3]


def test_lines_arrive_one_by_one_and_the_result_keeps_them_all(tmp_path):
    workspace = DbtWorkspace(ROOT, "runner-test")
    seen: list[str] = []
    proc = run_dbt(workspace, ["--version"], on_line=seen.append)
    assert proc.returncode == 0
    assert any(line.startswith("Core:") for line in seen)
    assert proc.stdout.splitlines() == seen and proc.stderr == ""


def test_a_hung_dbt_is_ended_at_the_timeout(tmp_path, monkeypatch):
    # A stand-in executable that prints one line and then hangs, as dbt waiting on a lock would.
    fake = tmp_path / "dbt"
    fake.write_text("#!/bin/sh\necho 'Running with dbt=1.11'\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr("pipeline_assets.dbt_wap.runner.dbt_executable", lambda: str(fake))
    seen: list[str] = []
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        run_dbt(DbtWorkspace(ROOT, "runner-test"), ["build"], timeout_s=1, on_line=seen.append)
    assert seen == ["Running with dbt=1.11"] and "Running with dbt" in caught.value.output


def test_the_startup_scripts_dbt_is_used_when_it_is_exported(tmp_path, monkeypatch):
    dbt = tmp_path / "dbt-venv" / "bin" / "dbt"
    dbt.parent.mkdir(parents=True)
    dbt.write_text("#!/bin/sh\n")
    monkeypatch.setenv("DBT_EXECUTABLE", str(dbt))
    assert runner.dbt_executable() == str(dbt)


def test_an_exported_dbt_that_is_missing_is_an_error_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DBT_EXECUTABLE", str(tmp_path / "nowhere" / "dbt"))
    with pytest.raises(FileNotFoundError, match="DBT_EXECUTABLE="):
        runner.dbt_executable()


def test_without_the_variable_the_dbt_beside_this_interpreter_runs(monkeypatch):
    monkeypatch.delenv("DBT_EXECUTABLE", raising=False)
    assert runner.dbt_executable().endswith("dbt")
