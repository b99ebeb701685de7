"""The DAG policy file: the committed one loads, and a hostile one fails fast with its file and line."""

import re
import time
from pathlib import Path

import pytest

from cicd.dags.policy import load_policy
from platform_vocabulary.yaml_source import YamlSourceError

BOMB = Path(__file__).resolve().parents[2] / "fixtures" / "yaml" / "billion_laughs.yaml"


def test_the_committed_policy_loads():
    assert load_policy().min_retries >= 1


def test_a_billion_laughs_policy_fails_fast_naming_the_file_and_line(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes(BOMB.read_bytes())
    started = time.perf_counter()
    with pytest.raises(YamlSourceError, match=rf"^{re.escape(str(path))}:3: YAML anchor &l0 is not allowed"):
        load_policy(path)
    assert time.perf_counter() - started < 5
