"""Bundle build and contract validation from the fixture manifest: one test per rule, each on a bad input."""

import json

import pytest

from pipeline_assets.dataservices import metadata as md
from pipeline_assets.dataservices.bundle import ServiceBundle

from .conftest import FIXTURE_DBT_DIR, HEALTH, PRODUCTS, REPO, declaration

CRM_YML = f"{FIXTURE_DBT_DIR}/models/marts/crm/_crm__models.yml"


def line_of(needle: str) -> int:
    """Line of a `- name: ...` entry in the fixture's YAML, counted independently of the code under test."""
    lines = (REPO / CRM_YML).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == needle)


def only(result, rule):
    found = [f for f in result.findings if f.rule == f"dataservice:{rule}"]
    assert len(found) == 1, [f.render() for f in result.findings]
    return found[0]


def test_the_fixture_builds_two_clean_services(manifest_doc, build_doc):
    result = build_doc(manifest_doc)
    assert result.findings == []
    assert sorted(result.bundles) == ["customer_health", "product_catalog"]
    health = result.bundles["customer_health"].service
    assert health.assistant == "customer_success" and health.version == 1
    [dataset] = health.datasets
    assert dataset.model == HEALTH and dataset.order_by == ("account_id",)
    assert [c.name for c in dataset.columns] == declaration(manifest_doc)["columns"]
    assert "contact_email" not in [c.name for c in dataset.columns]
    assert {c.name: c.type for c in dataset.columns}["last_activity_at"] == "datetime"
    products = result.bundles["product_catalog"].service
    assert products.datasets[0].name == "products" and products.version == 2
    assert products.limits.max_file_bytes == 5 * 1024 * 1024


def test_metadata_comes_from_the_dbt_docs_and_validates(manifest_doc, build_doc):
    bundle = build_doc(manifest_doc).bundles["customer_health"]
    metadata = json.loads(bundle.files()["metadata.json"])
    node = manifest_doc["nodes"][HEALTH]
    assert list(metadata) == ["da_version", "customer_health"]
    assert metadata["da_version"] == "2.0"
    entry = metadata["customer_health"]
    assert entry["dataframe name"] == "customer_health"
    assert entry["description"] == node["description"]
    segment = node["columns"]["segment"]["description"].rstrip(".")
    assert entry["column explanations"]["segment"] == f"{segment}. Type: string."
    assert list(entry["column explanations"]) == declaration(manifest_doc)["columns"]
    assert md.schema_errors(metadata) == []


def test_the_bundle_files_round_trip_and_are_deterministic(manifest_doc, build_doc):
    first = build_doc(manifest_doc).bundles["customer_health"]
    again = build_doc(manifest_doc).bundles["customer_health"]
    assert first.files() == again.files()
    assert ServiceBundle.from_files(first.files()) == first
    assert json.loads(first.files()["contract.json"])["datasets"]["customer_health"]["is_at_risk"] == "boolean"
    assert json.loads(first.files()["glossary.json"])["terms"][0]["term"] == "at risk"


def test_a_description_change_changes_the_bundle_hash(manifest_doc, build_doc):
    before = build_doc(manifest_doc).bundles["customer_health"].content_sha256()
    manifest_doc["nodes"][HEALTH]["columns"]["segment"]["description"] = "Sales segment."
    assert build_doc(manifest_doc).bundles["customer_health"].content_sha256() != before


def test_a_pii_column_is_never_published(manifest_doc, build_doc):
    declaration(manifest_doc)["columns"].append("contact_email")
    result = build_doc(manifest_doc)
    finding = only(result, "column-pii")
    assert finding.message.startswith("model customer_health, column contact_email: is tagged as PII (tag 'pii')")
    assert finding.file == CRM_YML and finding.line == line_of("- name: contact_email")
    assert "remove it from data_service.columns" in finding.fix
    assert "customer_health" not in result.bundles  # no bundle for a broken service
    assert "product_catalog" in result.bundles


@pytest.mark.parametrize(
    ("column_update", "marker"),
    [
        ({"meta": {"contains_pii": True}}, "meta.contains_pii: True"),
        ({"meta": {"classification": "PII"}}, "meta.classification: PII"),
        ({"tags": ["PII"]}, "tag 'pii'"),
        ({"config": {"meta": {"pii": "yes"}, "tags": []}}, "meta.pii: yes"),
    ],
)
def test_every_pii_marker_is_honoured(manifest_doc, build_doc, column_update, marker):
    manifest_doc["nodes"][HEALTH]["columns"]["segment"].update(column_update)
    finding = only(build_doc(manifest_doc), "column-pii")
    assert f"column segment: is tagged as PII ({marker})" in finding.message


def test_an_undocumented_column(manifest_doc, build_doc):
    manifest_doc["nodes"][HEALTH]["columns"]["segment"]["description"] = "  "
    finding = only(build_doc(manifest_doc), "column-undocumented")
    assert finding.message.startswith("model customer_health, column segment: has no description")
    assert finding.line == line_of("- name: segment")
    assert finding.fix == "write a description for the column in the model's YAML"


def test_a_published_column_the_model_does_not_document(manifest_doc, build_doc):
    declaration(manifest_doc)["columns"].append("churn_reason")
    finding = only(build_doc(manifest_doc), "column-unknown")
    assert "column churn_reason: is published but not documented" in finding.message
    assert "add `- name: churn_reason`" in finding.fix


def test_types_must_be_declared_and_csv_friendly(manifest_doc, build_doc):
    columns = manifest_doc["nodes"][HEALTH]["columns"]
    columns["segment"]["data_type"] = None
    columns["health_band"]["data_type"] = "variant"
    result = build_doc(manifest_doc)
    missing = only(result, "column-type-missing")
    assert "column segment: has no data_type" in missing.message
    unsupported = only(result, "column-type-unsupported")
    assert "column health_band: has type 'variant'" in unsupported.message
    assert "accepted: string, integer, float, boolean, date, datetime" in unsupported.message


def test_dataset_names_follow_the_assistant_rule(manifest_doc, build_doc):
    declaration(manifest_doc)["dataset"] = "customer_health_v2"
    result = build_doc(manifest_doc)
    finding = only(result, "dataset-name")
    assert "dataset name 'customer_health_v2' breaks the assistant's rule" in finding.message
    assert finding.line == line_of("- name: customer_health")
    assert "service-name" in {f.rule.split(":")[1] for f in result.findings}


def test_column_names_are_snake_case(manifest_doc, build_doc):
    node = manifest_doc["nodes"][HEALTH]
    node["columns"]["Segment"] = {**node["columns"].pop("segment"), "name": "Segment"}
    declaration(manifest_doc)["columns"][2] = "Segment"
    assert "column Segment: is not snake_case" in only(build_doc(manifest_doc), "column-name").message


def test_the_contract_must_be_enforced_and_the_model_documented(manifest_doc, build_doc):
    node = manifest_doc["nodes"][HEALTH]
    node["config"]["contract"]["enforced"] = False
    node["contract"]["enforced"] = False
    node["description"] = ""
    result = build_doc(manifest_doc)
    assert "set `config: {contract: {enforced: true}}`" in only(result, "contract-not-enforced").fix
    assert "model customer_health: has no useful description" in only(result, "model-undocumented").message


def test_an_invalid_declaration_names_the_key(manifest_doc, build_doc):
    declaration(manifest_doc)["colums"] = ["account_id"]
    del declaration(manifest_doc)["columns"]
    result = build_doc(manifest_doc)
    messages = [f.message for f in result.findings if f.rule == "dataservice:declaration-invalid"]
    assert "model customer_health: meta.data_service.columns: Field required" in messages
    assert "model customer_health: meta.data_service.colums: Extra inputs are not permitted" in messages


def test_order_by_and_duplicates(manifest_doc, build_doc):
    declaration(manifest_doc)["order_by"] = ["contact_email"]
    declaration(manifest_doc)["columns"].append("segment")
    result = build_doc(manifest_doc)
    unknown = only(result, "order-by-unknown")
    assert "column contact_email: orders the export but is not a published column" in unknown.message
    assert "column segment: listed twice" in only(result, "column-duplicate").message


def test_services_may_not_collide(manifest_doc, build_doc):
    declaration(manifest_doc, PRODUCTS)["assistant"] = "customer_success"
    result = build_doc(manifest_doc)
    shared = [f for f in result.findings if f.rule == "dataservice:assistant-shared"]
    assert len(shared) == 2 and "serves several services (customer_health, product_catalog)" in shared[0].message
    assert result.bundles == {}


def test_two_models_may_form_one_service_but_must_agree(manifest_doc, build_doc):
    products = declaration(manifest_doc, PRODUCTS)
    products.update(service="customer_health", assistant="customer_success", version=1)
    products["glossary"] = [{"term": "Health score", "definition": "something else"}]
    result = build_doc(manifest_doc)
    assert (
        "glossary term 'Health score' is defined differently by customer_health"
        in only(result, "glossary-conflict").message
    )
    del products["glossary"]
    result = build_doc(manifest_doc)
    assert result.findings == []
    service = result.bundles["customer_health"].service
    assert [d.name for d in service.datasets] == ["customer_health", "products"]
    assert list(result.bundles["customer_health"].metadata) == ["da_version", "customer_health", "products"]


def test_the_same_dataset_name_twice(manifest_doc, build_doc):
    declaration(manifest_doc, PRODUCTS)["dataset"] = "customer_health"
    result = build_doc(manifest_doc)
    duplicates = [f for f in result.findings if f.rule == "dataservice:dataset-duplicate"]
    assert {f.message for f in duplicates} == {
        "model customer_health: dataset 'customer_health' is also published by product_catalog",
        "model product_catalog: dataset 'customer_health' is also published by customer_health",
    }


def test_every_finding_says_where_and_how_to_fix(manifest_doc, build_doc):
    declaration(manifest_doc)["columns"] += ["contact_email", "nope"]
    manifest_doc["nodes"][HEALTH]["columns"]["segment"]["data_type"] = "array"
    for finding in build_doc(manifest_doc).findings:
        assert finding.rule.startswith("dataservice:")
        assert finding.file == CRM_YML and finding.line
        assert finding.fix and finding.message.startswith("model customer_health")


@pytest.mark.slow
def test_the_documented_opt_in_block_builds_cleanly_on_the_real_customer_health_mart(tmp_path):
    """docs/data-services.md's paste-ready block, applied to this repository's dbt project."""
    import re

    import yaml

    from cicd.dataservices.build import build
    from cicd.dataservices.manifest import load, locate_or_compile

    docs = (REPO / "docs" / "data-services.md").read_text()
    block = yaml.safe_load(re.search(r"```yaml\n(.*?)```", docs, re.DOTALL).group(1))
    meta = block["config"]["meta"]["data_service"]
    document = json.loads(locate_or_compile(REPO).read_text())
    node = document["nodes"]["model.data_platform.customer_health"]
    node["config"]["meta"]["data_service"] = meta
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document))

    result = build(load(path), REPO)

    assert result.errors == []
    [dataset] = result.bundles["customer_health"].service.datasets
    assert [c.name for c in dataset.columns] == meta["columns"]
    pii = {name for name, column in node["columns"].items() if (column.get("config") or {}).get("meta", {}).get("pii")}
    assert pii and not pii & set(meta["columns"])
