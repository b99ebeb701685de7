"""The release part: data-service bundles under dataservices/<service>/, never a broken one."""

import json
import os
import shutil
from pathlib import Path

import pytest

from cicd.release.bundle import BundleError
from cicd.release.parts import all_parts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "dataservices"
HEALTH = "model.dataservices_fixture.customer_health"


def seed(root: Path, document: dict) -> None:
    shutil.copytree(FIXTURES / "dbt_project", root / "dbt_project")
    target = root / "build" / "dbt" / "target"  # where the dbt part leaves the release's manifest
    target.mkdir(parents=True)
    (target / "manifest.json").write_text(json.dumps(document))
    future = max(p.stat().st_mtime for p in (root / "dbt_project").rglob("*")) + 60
    os.utime(target / "manifest.json", (future, future))


def part():
    return all_parts()["dataservices"]


def test_one_folder_per_service_with_the_four_files(tmp_path):
    seed(tmp_path, json.loads((FIXTURES / "manifest.json").read_text()))
    files = dict(part()(tmp_path))
    assert sorted(files) == [
        f"{service}/{name}"
        for service in ("customer_health", "product_catalog")
        for name in ("contract.json", "glossary.json", "metadata.json", "service.json")
    ]
    assert json.loads(files["customer_health/metadata.json"])["da_version"] == "2.0"
    assert json.loads(files["customer_health/service.json"])["assistant"] == "customer_success"


def test_a_broken_contract_stops_the_release(tmp_path):
    document = json.loads((FIXTURES / "manifest.json").read_text())
    document["nodes"][HEALTH]["columns"]["segment"]["description"] = ""
    seed(tmp_path, document)
    with pytest.raises(BundleError, match=r"(?s)data-service contracts are broken \(1 errors\).*column segment"):
        list(part()(tmp_path))


def test_no_dbt_project_means_no_data_services(tmp_path):
    assert list(part()(tmp_path)) == []


@pytest.mark.slow
def test_compiles_the_release_manifest_when_the_last_one_is_stale(tmp_path):
    """No manifest yet: the part has the dbt part compile it (dbt parse, prod target, offline)."""
    shutil.copytree(FIXTURES / "dbt_project", tmp_path / "dbt_project")
    files = dict(part()(tmp_path))
    assert (tmp_path / "build" / "dbt" / "target" / "manifest.json").exists()
    assert json.loads(files["customer_health/service.json"])["datasets"][0]["relation"]["schema"] == "main"
