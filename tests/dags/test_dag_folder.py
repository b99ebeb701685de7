"""The real DAG folder: every DAG file passes the integrity rules (one test per file), and the
factory-built files are exactly what `python -m cicd dags new` writes."""

from pathlib import Path

import pytest

from cicd.dags.integrity import check
from cicd.dags.scaffold import dag_file_source

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))


@pytest.fixture(scope="module")
def integrity():
    return check(ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("name", DAG_FILES)
def test_dag_file_passes_integrity(integrity, name):
    errors = [f.render() for f in integrity.errors if f.file and Path(f.file).name == name]
    assert errors == []


@pytest.mark.slow
def test_whole_folder_has_no_errors(integrity):
    assert [f.render() for f in integrity.errors] == []
    assert {entry["path"] for entry in integrity.facts["files"]} == {str(DAGS / name) for name in DAG_FILES}


@pytest.mark.parametrize("spec", sorted((DAGS / "pipelines").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_spec_has_the_generated_dag_file(spec):
    dag_file = DAGS / f"{spec.stem}.py"
    assert dag_file.exists(), f"run `python -m cicd dags new {spec.stem}`"
    assert dag_file.read_text() == dag_file_source(spec.stem)


def test_helper_package_and_specs_are_hidden_from_dag_discovery():
    ignored = [line for line in (DAGS / ".airflowignore").read_text().splitlines() if not line.startswith("#")]
    assert "platform_dags/" in ignored
    assert "pipelines/" in ignored
