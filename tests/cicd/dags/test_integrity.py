"""The DAG check parses what MWAA parses (the release's DAG folder, MWAA's packages), and reads the dbt selectors."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cicd.dags.integrity import SELECTORS_PATH, check, dbt_selectors, probe_folder
from cicd.dags.policy import load_policy
from cicd.options import ExitCode
from platform_vocabulary.yaml_source import YamlSourceError

ROOT = Path(__file__).resolve().parents[3]
BOMB = ROOT / "tests" / "fixtures" / "yaml" / "billion_laughs.yaml"


def test_the_project_selectors_are_read():
    assert "customer_health" in (dbt_selectors(ROOT) or ())


def test_a_billion_laughs_selectors_file_fails_fast_naming_the_file_and_line(tmp_path):
    (tmp_path / "dbt_project").mkdir()
    (tmp_path / SELECTORS_PATH).write_bytes(BOMB.read_bytes())
    started = time.perf_counter()
    with pytest.raises(YamlSourceError, match=rf"^{SELECTORS_PATH}:3: YAML anchor &l0 is not allowed"):
        dbt_selectors(tmp_path)
    assert time.perf_counter() - started < 5


FACTORY = "dags/platform_dags/factory.py"


def _repository_copy(tmp_path: Path) -> Path:
    """The parts of the repository the DAG check reads: the DAG folder, the ground floor and pipeline_assets/."""
    root = tmp_path / "repo"
    for folder in ("dags", "platform_vocabulary", "pipeline_assets", "dbt_project"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "target", "logs"))
    (root / "cicd" / "dags").mkdir(parents=True)
    shutil.copy(ROOT / "cicd" / "dags" / "baseline.json", root / "cicd" / "dags" / "baseline.json")
    return root


def _import_unshipped_module(root: Path) -> int:
    """Adds `import pipeline_assets.schemas` (in the repository, not in the release) to the DAG factory."""
    return _import_in_the_dag_factory(root, "import pipeline_assets.schemas")


@pytest.mark.slow
def test_an_import_of_repository_code_the_release_does_not_ship_is_rejected_with_file_line_and_fix(tmp_path):
    """MWAA gets the release's DAG folder only: the check parses that bundle, not the repository."""
    root = _repository_copy(tmp_path)
    line = _import_unshipped_module(root)
    run = check(root)
    [finding] = run.errors
    assert (finding.rule, finding.file, finding.line) == ("dag:module-not-shipped", FACTORY, line)
    assert "pipeline_assets.schemas" in finding.message
    assert "crm_accounts.py" in finding.message
    assert "cicd/release/parts/dags.py" in (finding.fix or "")


@pytest.mark.slow
def test_dags_check_command_fails_on_the_unshipped_import_and_names_file_line_and_fix(tmp_path):
    root = _repository_copy(tmp_path)
    line = _import_unshipped_module(root)
    proc = subprocess.run(
        [sys.executable, "-m", "cicd", "--root", str(root), "dags", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == ExitCode.FAILED, proc.stdout + proc.stderr
    assert f"{FACTORY}:{line}: [dag:module-not-shipped]" in proc.stdout
    assert "Fix: MWAA gets only the release's DAG folder" in proc.stdout
    assert "dags check FAILED: 1 error(s)" in proc.stdout


def test_the_probe_sees_no_repository_code_and_only_mwaas_packages(tmp_path):
    """What a DAG file sees while it is parsed: the DAG folder and MWAA's packages, nothing of the checkout.

    Not marked slow (one real probe, ~10 s): `make venv` installing the project editable put the checkout on
    every interpreter's sys.path through a `.pth` file, and only this test noticed.
    """
    folder, seen = tmp_path / "dags", tmp_path / "seen.json"
    folder.mkdir()
    (folder / "where.py").write_text(
        "# airflow dag\nimport importlib.metadata as md, importlib.util as iu, json, sys\n"
        f"open({str(seen)!r}, 'w').write(json.dumps({{'path': sys.path, "
        "'importable': {m: bool(iu.find_spec(m)) for m in ('cicd', 'pyspark', 'dbt', 'airflow', 'pydantic')}, "
        "'pyspark_metadata': [d.metadata['Name'] for d in md.distributions() if d.metadata['Name'] == 'pyspark']}))\n"
    )
    probe_folder(folder, root=ROOT, policy=load_policy())
    seen_by_dag = json.loads(seen.read_text())
    path = seen_by_dag["path"]
    assert str(ROOT) not in path and "" not in path and "." not in path
    assert [p for p in path if p.endswith("/dags")] and not [p for p in path if p.startswith(str(tmp_path))]
    importable = {"cicd": False, "pyspark": False, "dbt": False, "airflow": True, "pydantic": True}
    assert seen_by_dag["importable"] == importable
    assert seen_by_dag["pyspark_metadata"] == []  # Airflow asks importlib.metadata before an optional import


def _import_in_the_dag_factory(root: Path, statement: str) -> int:
    """Adds `statement` to the factory every DAG file imports; returns its line number."""
    factory = root / FACTORY
    lines = factory.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("from __future__ import annotations"))
    lines.insert(at + 1, f"{statement}  # noqa: F401\n")
    factory.write_text("".join(lines))
    return at + 2


@pytest.mark.slow
def test_a_package_the_gate_has_but_mwaa_does_not_is_rejected_with_file_line_and_fix(tmp_path):
    root = _repository_copy(tmp_path)
    line = _import_in_the_dag_factory(root, "import pyspark")
    proc = subprocess.run(
        [sys.executable, "-m", "cicd", "--root", str(root), "dags", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == ExitCode.FAILED, proc.stdout + proc.stderr
    assert f"{FACTORY}:{line}: [dag:module-not-on-mwaa] imports pyspark" in proc.stdout
    assert "4 DAG file(s) fail through it" in proc.stdout
    assert "Fix: MWAA's workers install only pipeline_assets/mwaa/requirements.txt" in proc.stdout
    assert "dags check FAILED: 1 error(s)" in proc.stdout
