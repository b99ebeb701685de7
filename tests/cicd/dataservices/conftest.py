"""The fixture manifest (tests/fixtures/dataservices), and a way to build from a modified copy of it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cicd.dataservices.build import BuildResult, build
from cicd.dataservices.manifest import load

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "dataservices"
FIXTURE_DBT_DIR = "tests/fixtures/dataservices/dbt_project"
HEALTH = "model.dataservices_fixture.customer_health"
PRODUCTS = "model.dataservices_fixture.product_catalog"
_DOCUMENT = json.loads((FIXTURES / "manifest.json").read_text())


@pytest.fixture
def manifest_doc() -> dict:
    return copy.deepcopy(_DOCUMENT)


@pytest.fixture
def build_doc(tmp_path):
    def run(document: dict) -> BuildResult:
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(document))
        return build(load(path, dbt_dir=FIXTURE_DBT_DIR), REPO)

    return run


def declaration(document: dict, unique_id: str = HEALTH) -> dict:
    return document["nodes"][unique_id]["config"]["meta"]["data_service"]
