"""Growing a scratch clone to the platform's size: every generated pipeline is complete and consistent."""

import random
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cicd.gate.scale import DOMAIN_MARTS, GENERATED, SHARED_JOBS, grow_registry, spec_text

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow  # runs `cicd dags baseline` (the real Airflow probe) on the grown folder
def test_each_generated_pipeline_brings_its_spec_dag_file_mart_selector_and_baseline(tmp_path):
    root = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", "--local", str(REPO), str(root)], check=True)
    for name in (".venv",):
        (root / name).symlink_to((REPO / name).resolve())
    before = {p.stem for p in (root / "dags" / "pipelines").glob("*.yaml")}
    added = grow_registry(root, pipelines=len(before) + 3)
    assert added == 3
    new = sorted({p.stem for p in (root / "dags" / "pipelines").glob("*.yaml")} - before)
    selectors = {s["name"] for s in yaml.safe_load((root / "dbt_project" / "selectors.yml").read_text())["selectors"]}
    baseline = (root / "cicd" / "dags" / "baseline.json").read_text()
    for pipeline_id in new:
        text = (root / "dags" / "pipelines" / f"{pipeline_id}.yaml").read_text()
        assert text.startswith("# yaml-language-server: $schema=../platform_dags/spec.schema.json\n")
        spec = yaml.safe_load(text)
        assert (root / "dags" / f"{pipeline_id}.py").is_file()
        assert spec.get("spark", {}).get("job", SHARED_JOBS["batch"]) in SHARED_JOBS.values()
        assert pipeline_id in selectors and pipeline_id in baseline
        mart = root / "dbt_project" / "models" / "marts" / spec["domain"] / GENERATED / f"{pipeline_id}.sql"
        assert f"ref('{DOMAIN_MARTS[spec['domain']][0]}')" in mart.read_text()
    shutil.rmtree(root)


def test_a_generated_spec_names_its_schema_on_the_first_line_as_every_spec_must():
    """tests/cicd/config_files/test_schemas.py requires it of every spec: 180 generated specs without it
    failed the unit tests of the scale clone."""
    from cicd.dags.bench import generate_spec

    spec = generate_spec(0, random.Random(1))
    text = spec_text(spec)
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../platform_dags/spec.schema.json"
    assert yaml.safe_load(text) == spec
