"""`cicd dags ...`: the commands are wired, and `dags new` scaffolds a pipeline that passes `dags check`."""

import argparse
import json
import shutil
from pathlib import Path

import pytest

from cicd import cli as main_cli
from cicd.dags import cli
from cicd.dags.baseline import BASELINE_PATH
from cicd.dags.mwaa_environment import MWAA_LOCK
from cicd.options import ExitCode
from cicd.release.parts.dags import RUNTIME_PACKAGES

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


def scratch_repository(tmp_path: Path) -> Path:
    """What `dags new` and `dags check` read: the DAG folder and the packages the release ships in it, the
    baseline, the Spark jobs, the dbt selectors, and the lock of MWAA's packages (what a DAG file may import).

    The shipped packages used to come from this checkout, which the editable install's `.pth` file put on
    the probe's sys.path; the probe sees only the scratch repository's release now, as MWAA would."""
    shutil.copytree(ROOT / "dags", tmp_path / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    for source, _ in RUNTIME_PACKAGES:
        shutil.copytree(ROOT / source, tmp_path / source, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "cicd" / "dags").mkdir(parents=True)
    for name in ("baseline.json", "acknowledged_removals.yaml"):
        shutil.copy(ROOT / "cicd" / "dags" / name, tmp_path / "cicd" / "dags" / name)
    (tmp_path / "pipeline_assets" / "spark").mkdir(parents=True)
    (tmp_path / "dbt_project").mkdir()
    shutil.copy(ROOT / "dbt_project/selectors.yml", tmp_path / "dbt_project/selectors.yml")
    (tmp_path / "pipeline_assets" / "mwaa").mkdir()
    shutil.copy(ROOT / MWAA_LOCK, tmp_path / MWAA_LOCK)
    return tmp_path


def cicd(root: Path, *argv: str) -> int:
    return main_cli.main(["--root", str(root), *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Orders-Daily"], "'Orders-Daily' is not a pipeline id: use 3-63 characters: lower-case letters, digits"),
        (["Orders-Daily"], "e.g. 'orders_daily'"),
        (["od"], "'od' is not a pipeline id"),
        (["orders_daily"], "give the pipeline's domain: --domain crm|product|operations"),
        (["crm_contacts", "--source", "s3"], "pass --spark-job (crm_accounts_batch, product_catalog_batch)"),
        (["crm_contacts", "--source", "s3", "--spark-job", "crm_acounts_batch"], "did you mean 'crm_accounts_batch'?"),
        (["crm_contacts", "--source", "kafka", "--spark-job", "crm_accounts_batch"], "choose from operations_events"),
        (["crm_contacts", "--source", "none"], "pass --dbt-selector (crm_accounts, customer_health,"),
        (["crm_contacts", "--dbt-selector", "crm_acounts"], "did you mean 'crm_accounts'?"),
        (["crm_contacts", "--owner", "crm-team"], "owner 'crm-team' is not in the owners of cicd/dags/policy.yaml"),
        (["crm_accounts"], "dags/crm_accounts.py already exists; change the pipeline in dags/pipelines/crm_accounts"),
    ],
)
def test_new_refuses_what_it_can_check_with_its_own_message_and_writes_nothing(tmp_path, capsys, argv, message):
    root = scratch_repository(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert cicd(root, "dags", "new", *argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


@pytest.mark.slow
def test_new_scaffolds_a_pipeline_that_passes_dags_check_at_once(tmp_path, capsys):
    root = scratch_repository(tmp_path)
    assert cicd(root, "dags", "new", "orders_daily", "--domain", "operations") == ExitCode.OK
    out = capsys.readouterr().out
    assert "wrote dags/pipelines/orders_daily.yaml\nwrote dags/orders_daily.py\n" in out
    assert f"recorded DAG orders_daily in {BASELINE_PATH}" in out
    spec = (root / "dags/pipelines/orders_daily.yaml").read_text()
    assert spec.startswith("# yaml-language-server: $schema=../platform_dags/spec.schema.json\n")
    assert "owner: operations-data" in spec and "kind: snowflake_stage" in spec and "# TODO" in spec
    assert "orders_daily" in json.loads((root / BASELINE_PATH).read_text())["dags"]

    assert cicd(root, "dags", "check") == ExitCode.OK
    assert "dags check passed: 0 error(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_new_for_a_spec_that_exists_writes_its_dag_file_and_baseline_entry_only(tmp_path, capsys):
    root = scratch_repository(tmp_path)
    crm = (root / "dags/pipelines/crm_accounts.yaml").read_text()
    (root / "dags/pipelines/crm_contacts.yaml").write_text(crm.replace("id: crm_accounts", "id: crm_contacts"))
    assert cicd(root, "dags", "new", "crm_contacts", "--json") == ExitCode.OK
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "written": ["dags/crm_contacts.py"],
        "baseline": {"crm_contacts": ["ingest", "load", "resolve_release", "transform"]},
    }
    assert (root / "dags/crm_contacts.py").read_text() == (root / "dags/crm_accounts.py").read_text().replace(
        "crm_accounts", "crm_contacts"
    )


@pytest.mark.slow
def test_new_leaves_the_tree_as_it_was_when_the_spec_does_not_validate(tmp_path, capsys):
    root = scratch_repository(tmp_path)
    (root / "dags/pipelines/crm_contacts.yaml").write_text("id: crm_contacts\nowner: crm-data\n")
    baseline = (root / BASELINE_PATH).read_text()
    assert cicd(root, "dags", "new", "crm_contacts") == ExitCode.USAGE
    assert "dags/pipelines/crm_contacts.yaml does not validate: line 1: required field" in capsys.readouterr().err
    assert not (root / "dags/crm_contacts.py").exists()
    assert (root / BASELINE_PATH).read_text() == baseline


def test_python_m_cicd_dags_is_the_same_command(monkeypatch):
    import runpy

    seen = []
    monkeypatch.setattr(main_cli, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr("sys.argv", ["python -m cicd.dags", "new", "crm_contacts"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("cicd.dags", run_name="__main__")
    assert exited.value.code == 0 and seen == [["dags", "new", "crm_contacts"]]
