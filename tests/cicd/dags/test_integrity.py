"""Reading the dbt selectors the DAG specs may name (the probe itself is tested on fixtures, slow)."""

import time
from pathlib import Path

import pytest

from cicd.dags.integrity import SELECTORS_PATH, dbt_selectors
from pipeline_assets.yaml_source import YamlSourceError

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
