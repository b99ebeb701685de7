"""Breaking changes against the last published contract (committed baseline or a previous release)."""

import json

from cicd.dataservices import compat
from cicd.dataservices.validate import declared_services

from .conftest import HEALTH, PRODUCTS, REPO, declaration


def published(bundles, tmp_path, folder="baseline"):
    directory = tmp_path / folder
    compat.write_baselines(bundles, directory)
    return compat.load_baselines(directory, tmp_path)


def compare(result, baselines):
    return compat.check(result.bundles, declared_services(result), baselines, result.manifest, REPO)


def test_an_unchanged_service_is_compatible(manifest_doc, build_doc, tmp_path):
    result = build_doc(manifest_doc)
    assert compare(result, published(result.bundles, tmp_path)) == []


def test_adding_a_column_is_not_breaking(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    declaration(manifest_doc)["columns"].remove("segment")
    shrunk = published(build_doc(manifest_doc).bundles, tmp_path, "older")
    declaration(manifest_doc)["columns"].append("segment")
    assert compare(build_doc(manifest_doc), shrunk) == []
    assert baselines  # the full contract exists too


def test_a_removed_column_is_breaking_and_hints_at_a_rename(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    node = manifest_doc["nodes"][HEALTH]
    node["columns"]["customer_segment"] = {**node["columns"].pop("segment"), "name": "customer_segment"}
    columns = declaration(manifest_doc)["columns"]
    columns[columns.index("segment")] = "customer_segment"

    [finding] = compare(build_doc(manifest_doc), baselines)

    assert finding.rule == "dataservice:column-removed" and finding.severity == "error"
    assert finding.message == (
        "model customer_health, column segment: was published in dataset customer_health and is gone "
        "(renamed to one of customer_segment?)"
    )
    assert finding.file.endswith("models/marts/crm/_crm__models.yml") and finding.line
    assert "raise data_service.version above 1" in finding.fix


def test_a_type_change_is_breaking(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    manifest_doc["nodes"][HEALTH]["columns"]["open_ticket_count"]["data_type"] = "double"
    [finding] = compare(build_doc(manifest_doc), baselines)
    assert finding.rule == "dataservice:column-type-changed"
    assert "column open_ticket_count: type changed from integer to float" in finding.message


def test_raising_the_version_turns_breaking_changes_into_warnings(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    declaration(manifest_doc)["columns"].remove("segment")
    declaration(manifest_doc)["version"] = 2
    [finding] = compare(build_doc(manifest_doc), baselines)
    assert finding.rule == "dataservice:column-removed" and finding.severity == "warning"
    assert finding.message.endswith("(accepted: version 1 -> 2)")


def test_a_version_may_not_go_down(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    declaration(manifest_doc, PRODUCTS)["version"] = 1
    [finding] = compare(build_doc(manifest_doc), baselines)
    assert finding.rule == "dataservice:version-decreased"
    assert finding.message == "service product_catalog: version 1 is below the published 2"


def test_a_removed_service_or_dataset_is_breaking(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    del manifest_doc["nodes"][PRODUCTS]["config"]["meta"]["data_service"]
    manifest_doc["nodes"][PRODUCTS]["meta"] = {}
    [finding] = compare(build_doc(manifest_doc), baselines)
    assert finding.rule == "dataservice:service-removed"
    assert finding.file == "baseline/product_catalog.json"
    assert "delete baseline/product_catalog.json in the same change" in finding.fix

    declaration(manifest_doc).update(service="customer_health", dataset="account_health")
    findings = compare(build_doc(manifest_doc), baselines)
    removed = next(f for f in findings if f.rule == "dataservice:dataset-removed")
    assert removed.message == "service customer_health: dataset customer_health was published and is gone"


def test_an_invalid_declaration_is_not_reported_as_a_removal(manifest_doc, build_doc, tmp_path):
    baselines = published(build_doc(manifest_doc).bundles, tmp_path)
    declaration(manifest_doc)["unknown_key"] = True
    assert compare(build_doc(manifest_doc), baselines) == []


def test_a_previous_release_folder_is_a_baseline_too(manifest_doc, build_doc, tmp_path):
    from cicd.dataservices.build import bundle_files

    result = build_doc(manifest_doc)
    for path, data in bundle_files(result.bundles).items():
        target = tmp_path / "release" / "dataservices" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    baselines = compat.load_baselines(tmp_path / "release" / "dataservices", tmp_path)
    assert sorted(baselines) == ["customer_health", "product_catalog"]
    assert baselines["customer_health"].file == "release/dataservices/customer_health/contract.json"
    assert json.loads((tmp_path / "release/dataservices/product_catalog/contract.json").read_text())["version"] == 2


def test_write_baselines_drops_retired_services(manifest_doc, build_doc, tmp_path):
    bundles = build_doc(manifest_doc).bundles
    directory = tmp_path / "baseline"
    compat.write_baselines(bundles, directory)
    compat.write_baselines({"customer_health": bundles["customer_health"]}, directory)
    assert sorted(p.name for p in directory.iterdir()) == ["customer_health.json"]
