"""`python -m cicd dags ...`: the lead's CLI registers these through add_parser."""

import argparse
import shutil
from pathlib import Path

import pytest

from cicd.dags import cli
from cicd.options import ExitCode

ROOT = Path(__file__).resolve().parents[3]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser()
    top.add_argument("--root", default=str(ROOT))
    cli.add_parser(top.add_subparsers(dest="command", required=True))
    return top


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["dags", "check", "--changed-since", "origin/main", "--junit", "x.xml"], cli.cmd_check),
        (["dags", "baseline"], cli.cmd_baseline),
        (["dags", "new", "crm_contacts"], cli.cmd_new),
        (["dags", "bench", "--pipelines", "180"], cli.cmd_bench),
    ],
)
def test_commands_are_wired(argv, handler):
    args = parser().parse_args(argv)
    assert args.handler is handler


def test_bench_defaults_to_180_pipelines():
    assert parser().parse_args(["dags", "bench"]).pipelines == 180


def test_new_writes_the_dag_file_for_an_existing_spec(tmp_path, capsys):
    (tmp_path / "dags" / "pipelines").mkdir(parents=True)
    shutil.copy(ROOT / "dags/pipelines/crm_accounts.yaml", tmp_path / "dags/pipelines/crm_accounts.yaml")
    assert cli.main(["--root", str(tmp_path), "new", "crm_accounts"]) == ExitCode.OK
    assert (tmp_path / "dags/crm_accounts.py").read_text() == (ROOT / "dags/crm_accounts.py").read_text()
    assert cli.main(["--root", str(tmp_path), "new", "crm_accounts"]) == ExitCode.USAGE
    assert cli.main(["--root", str(tmp_path), "new", "no_such_spec"]) == ExitCode.USAGE
    assert "write the pipeline's spec first" in capsys.readouterr().err
