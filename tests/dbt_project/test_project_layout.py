"""The dbt project follows the conventions its consumers rely on (fast: reads YAML, runs nothing)."""

import re
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MARTS = {"accounts", "products", "orders", "customer_health"}


def _models() -> dict[str, tuple[Path, dict]]:
    found = {}
    for path in (PROJECT / "models").rglob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            found[model["name"]] = (path, model)
    return found


def test_every_sql_model_is_documented_in_its_folder_yaml():
    sql = {p.stem: p.parent for p in (PROJECT / "models").rglob("*.sql")}
    documented = _models()
    assert set(sql) == set(documented)
    for name, folder in sql.items():
        assert documented[name][0].parent == folder, f"{name} is documented outside its folder"


@pytest.mark.parametrize(
    ("folder", "pattern"),
    [
        ("staging", r"^stg_(crm|product|operations)__[a-z_]+s$"),
        ("intermediate", r"^int_[a-z_]+s_[a-z_]+ed(_to_[a-z_]+)?$"),
        ("marts", r"^[a-z_]+$"),
    ],
)
def test_model_names_follow_the_layer_conventions(folder, pattern):
    for path in (PROJECT / "models" / folder).rglob("*.sql"):
        assert re.match(pattern, path.stem), path


def test_marts_have_enforced_contracts_and_fully_typed_documented_columns():
    models = _models()
    assert set(models) >= MARTS
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())
    assert project["models"]["data_platform"]["marts"]["+contract"] == {"enforced": True}
    for name in MARTS:
        _, model = models[name]
        for column in model["columns"]:
            assert column.get("data_type"), f"{name}.{column['name']} has no data_type"
            assert len(column.get("description", "")) > 10, f"{name}.{column['name']} is not documented"


def test_primary_keys_are_tested_unique_and_not_null():
    keys = {"accounts": "account_id", "products": "product_id", "orders": "order_id", "customer_health": "account_id"}
    models = _models()
    for name, key in keys.items():
        column = next(c for c in models[name][1]["columns"] if c["name"] == key)
        tests = {t if isinstance(t, str) else next(iter(t)) for t in column["data_tests"]}
        assert {"unique", "not_null"} <= tests, name


def _refs(sql_path: Path) -> set[str]:
    return set(re.findall(r"ref\(\s*'([a-z0-9_]+)'\s*\)", sql_path.read_text()))


def test_marts_read_deduplicated_models_never_staging_rows_that_repeat_their_key():
    """Staging keeps every CRM version and re-sent row; a mart reading it counts or picks duplicates."""
    for path in (PROJECT / "models" / "marts").rglob("*.sql"):
        staging = {name for name in _refs(path) if name.startswith("stg_")}
        assert not staging, f"{path.name} reads {staging}: read the deduplicated intermediate model instead"


def test_contacts_have_a_model_unique_per_contact_with_key_tests():
    _, model = _models()["int_contacts_deduplicated"]
    key = next(c for c in model["columns"] if c["name"] == "contact_id")
    assert {"unique", "not_null"} <= {t if isinstance(t, str) else next(iter(t)) for t in key["data_tests"]}
    assert "int_contacts_deduplicated" in _refs(PROJECT / "models" / "marts" / "crm" / "customer_health.sql")


def test_marts_consumed_outside_the_project_are_public():
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["models"]["data_platform"]
    assert project["marts"]["+access"] == "public"
    for folder in ("staging", "intermediate"):
        assert "+access" not in project[folder], f"{folder} models are internal: keep the default (protected)"
    for name, (_, model) in _models().items():
        access = (model.get("config") or {}).get("access") or model.get("access")
        assert access in (None, "public") or name not in MARTS, f"{name} overrides access to {access}"


def test_customer_health_tags_its_pii_columns():
    _, model = _models()["customer_health"]
    pii = {c["name"] for c in model["columns"] if (c.get("config") or {}).get("meta", {}).get("pii")}
    assert pii == {"owner_email", "primary_contact_email"}


def test_sources_declare_freshness_on_their_landing_time():
    for path in (PROJECT / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            config = source["config"]
            assert config["loaded_at_field"] == "loaded_at", path
            assert {"warn_after", "error_after"} <= set(config["freshness"]), path


def test_one_selector_per_pipeline():
    selectors = {s["name"]: s for s in yaml.safe_load((PROJECT / "selectors.yml").read_text())["selectors"]}
    assert set(selectors) == {"crm_accounts", "product_catalog", "operations_events", "customer_health"}
    for selector in selectors.values():
        assert selector["definition"]["parents"] is True


def test_snowflake_profiles_use_key_pair_auth_from_the_environment():
    profiles = yaml.safe_load((PROJECT / "profiles.yml").read_text())["data_platform"]["outputs"]
    for target in ("dev", "staging", "prod"):
        output = profiles[target]
        assert output["type"] == "snowflake"
        assert "password" not in output
        assert "env_var('SNOWFLAKE_PRIVATE_KEY')" in output["private_key"]
    assert profiles["ci"]["type"] == profiles["local"]["type"] == "duckdb"
    assert profiles["fakesnow"]["type"] == "snowflake"
