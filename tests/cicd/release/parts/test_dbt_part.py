import json
from pathlib import Path

import pytest

from cicd.release.parts import dbt as part


def test_normalise_removes_run_specific_values():
    project = Path("/checkout/dbt_project")
    manifest = {
        "metadata": {"invocation_id": "abc", "generated_at": "2026-01-01T10:00:00Z", "dbt_version": "1.11.16"},
        "nodes": {
            "seed.p.countries": {"created_at": 1795871215.83, "root_path": "/checkout/dbt_project", "name": "x"},
            "model.p.a": {"created_at": 1795871216.1, "config": {"created_at": "kept: not a float"}},
        },
    }
    normal = part._normalise(manifest, project)
    assert normal["metadata"]["invocation_id"] == "release-bundle"
    assert normal["metadata"]["generated_at"] == "1970-01-01T00:00:00Z"
    assert normal["metadata"]["dbt_version"] == "1.11.16"
    assert normal["nodes"]["seed.p.countries"] == {"created_at": 0.0, "root_path": ".", "name": "x"}
    assert normal["nodes"]["model.p.a"]["config"]["created_at"] == "kept: not a float"


def test_a_repository_without_a_dbt_project_has_no_dbt_part(tmp_path):
    assert part.dbt(tmp_path) == []


@pytest.mark.slow
def test_part_is_reproducible_and_carries_the_compiled_manifest(repo_root):
    first = dict(part.dbt(repo_root))
    second = dict(part.dbt(repo_root))
    assert first == second
    assert "dbt_project.yml" in first and "selectors.yml" in first and "profiles.yml" in first
    assert not [name for name in first if name.startswith(("baseline/", "lint_library/"))]
    manifest = json.loads(first["target/manifest.json"])
    assert manifest["metadata"]["adapter_type"] == "snowflake"
    assert "model.data_platform.customer_health" in manifest["nodes"]
    assert str(repo_root) not in first["target/manifest.json"].decode()
