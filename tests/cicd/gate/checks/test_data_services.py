"""The data-services gate check on a small repository: the fixture dbt project as dbt_project/."""

import json
import os
import shutil
from pathlib import Path

import pytest

from cicd.dataservices import compat
from cicd.gate.model import GateContext
from cicd.gate.registry import all_checks

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "dataservices"
HEALTH = "model.dataservices_fixture.customer_health"


def check():
    [found] = [c for c in all_checks() if c.name == "data-services"]
    return found


@pytest.fixture
def repo(tmp_path):
    shutil.copytree(FIXTURES / "dbt_project", tmp_path / "dbt_project")
    return tmp_path


def seed_manifest(root: Path, document: dict) -> None:
    """Stand in for `dbt parse` (the slow test runs it): a parsed manifest newer than the sources."""
    target = root / "build" / "dataservices" / "dbt-target"
    target.mkdir(parents=True, exist_ok=True)
    (target / "manifest.json").write_text(json.dumps(document))
    (target / ".target").write_text("dbt_project:prod")
    future = max(p.stat().st_mtime for p in (root / "dbt_project").rglob("*")) + 60
    os.utime(target / "manifest.json", (future, future))


def context(root: Path) -> GateContext:
    return GateContext(root=root, out_dir=root / "build" / "gate")


def fixture_document() -> dict:
    return json.loads((FIXTURES / "manifest.json").read_text())


def test_registered_with_paths_that_select_it():
    data_services = check()
    assert data_services.paths == ("dbt_project/*", "cicd/dataservices/*", "pipeline_assets/dataservices/*")
    ctx = GateContext(root=Path("."), out_dir=Path("build/gate"), changed_files=frozenset({"dbt_project/models/x.yml"}))
    assert data_services.selected(ctx)
    assert not data_services.selected(GateContext(Path("."), Path("b"), changed_files=frozenset({"README.md"})))


def test_valid_services_pass_and_are_reported(repo):
    seed_manifest(repo, fixture_document())
    data_services = check()
    assert data_services.run(context(repo)) == []
    assert data_services.summary_note == "2 service(s), 2 dataset(s)"
    report = json.loads((repo / "build" / "gate" / "data-services.json").read_text())
    assert sorted(report["services"]) == ["customer_health", "product_catalog"]
    assert report["services"]["product_catalog"]["datasets"] == {
        "products": ["product_id", "product_name", "category", "list_price", "is_active"]
    }


def test_a_contract_violation_fails_with_file_line_and_fix(repo):
    document = fixture_document()
    document["nodes"][HEALTH]["config"]["meta"]["data_service"]["columns"].append("contact_email")
    seed_manifest(repo, document)
    [finding] = check().run(context(repo))
    assert finding.rule == "dataservice:column-pii" and finding.severity == "error"
    assert finding.file == "dbt_project/models/marts/crm/_crm__models.yml"
    lines = (repo / finding.file).read_text().splitlines()
    assert lines[finding.line - 1].strip() == "- name: contact_email"


def test_a_breaking_change_against_the_committed_baseline_fails(repo):
    from cicd.dataservices.build import build
    from cicd.dataservices.manifest import load

    seed_manifest(repo, fixture_document())
    built = build(load(repo / "build" / "dataservices" / "dbt-target" / "manifest.json"))
    compat.write_baselines(built.bundles, repo / compat.COMMITTED_BASELINE)
    document = fixture_document()
    document["nodes"][HEALTH]["config"]["meta"]["data_service"]["columns"].remove("health_band")
    seed_manifest(repo, document)

    [finding] = check().run(context(repo))

    assert finding.rule == "dataservice:column-removed"
    assert "column health_band: was published in dataset customer_health and is gone" in finding.message


def test_no_dbt_project_warns_until_something_was_published(tmp_path):
    [finding] = check().run(context(tmp_path))
    assert finding.rule == "dataservice:no-dbt-project" and finding.severity == "warning"
    baseline = tmp_path / compat.COMMITTED_BASELINE
    baseline.mkdir(parents=True)
    (baseline / "customer_health.json").write_text(json.dumps({"service": "customer_health", "datasets": {}}))
    [finding] = check().run(context(tmp_path))
    assert finding.severity == "error"


@pytest.mark.slow
def test_end_to_end_with_a_real_dbt_parse(repo):
    """No seeded manifest: the check runs `dbt parse` on the project itself."""
    data_services = check()
    assert data_services.run(context(repo)) == []
    assert (repo / "build" / "dataservices" / "dbt-target" / "manifest.json").exists()
    yml = repo / "dbt_project" / "models" / "marts" / "crm" / "_crm__models.yml"
    yml.write_text(yml.read_text().replace("            - segment\n", "            - contact_email\n", 1))
    findings = data_services.run(context(repo))
    assert [f.rule for f in findings] == ["dataservice:column-pii"]


def test_a_project_where_no_mart_opts_in_is_a_warning(repo):
    document = fixture_document()
    for node in document["nodes"].values():
        node["config"]["meta"].pop("data_service", None)
        node["meta"].pop("data_service", None)
    seed_manifest(repo, document)
    [finding] = check().run(context(repo))
    assert finding.rule == "dataservice:none-declared" and finding.severity == "warning"
    assert "docs/data-services.md" in finding.fix


def test_an_unreadable_manifest_is_an_error_not_a_pass(repo):
    from cicd.gate.model import ToolError

    seed_manifest(repo, {})
    (repo / "build" / "dataservices" / "dbt-target" / "manifest.json").write_text('{"nodes": {')
    future = max(p.stat().st_mtime for p in (repo / "dbt_project").rglob("*")) + 60
    os.utime(repo / "build" / "dataservices" / "dbt-target" / "manifest.json", (future, future))
    with pytest.raises(ToolError, match="cannot read the dbt manifest"):
        check().run(context(repo))
