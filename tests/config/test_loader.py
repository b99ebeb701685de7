"""Every bad configuration names the file, the field and what is allowed."""

import shutil
import time
from pathlib import Path

import pytest

from config import ConfigError, load_all, load_environment

from .conftest import edit


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_all(config_dir)
    return [str(p) for p in caught.value.problems]


def test_the_committed_config_is_valid():
    config = load_all()
    assert [e.name for e in config.environments] == ["dev", "staging", "prod"]
    prod = config.environment("prod")
    assert prod.approval.required and prod.data.source == "production"


def test_config_objects_are_frozen():
    prod = load_environment("prod")
    with pytest.raises(Exception, match="frozen"):
        prod.region = "us-east-1"  # type: ignore[misc]


def test_prod_without_manual_approval_is_rejected(config_dir):
    edit(config_dir, "prod", lambda d: d["approval"].update(required=False))
    [message] = problems(config_dir)
    assert message.startswith("prod.yaml") or "prod.yaml" in message
    assert "approval.required" in message and "allowed: true" in message


def test_staging_in_the_prod_account_is_rejected(config_dir):
    edit(config_dir, "staging", lambda d: d.update(account="444444444444"))
    [message] = problems(config_dir)
    assert "staging.yaml" in message and "account" in message and "prod" in message


def test_unknown_region_lists_the_allowed_ones(config_dir):
    edit(config_dir, "dev", lambda d: d.update(region="mars-north-1"))
    [message] = problems(config_dir)
    assert "dev.yaml" in message and "region" in message
    assert "'eu-west-1'" in message and "mars-north-1" in message


def test_missing_secret_name_is_rejected_with_its_line(config_dir):
    edit(config_dir, "staging", lambda d: d["snowflake"].pop("private_key_secret_name"))
    [message] = problems(config_dir)
    assert "staging.yaml" in message and "snowflake.private_key_secret_name" in message and "missing" in message


def test_production_data_below_prod_is_rejected(config_dir):
    edit(config_dir, "staging", lambda d: d["data"].update(source="production"))
    [message] = problems(config_dir)
    assert "data.source" in message and "never reaches a lower environment" in message


def test_worker_bounds_and_unknown_keys_and_all_problems_at_once(config_dir):
    edit(config_dir, "dev", lambda d: d["orchestration"].update(min_workers=5, max_workers=2))
    edit(config_dir, "prod", lambda d: d["orchestration"].update(environment_klass="mw1.large"))
    found = problems(config_dir)
    assert any("dev.yaml" in m and "min_workers (5) exceeds max_workers (2)" in m for m in found)
    assert any("prod.yaml" in m and "orchestration.environment_klass" in m and "unknown setting" in m for m in found)


def test_airflow_version_must_be_one_mwaa_offers(config_dir):
    edit(config_dir, "prod", lambda d: d["orchestration"].update(airflow_version="2.11.0"))
    [message] = problems(config_dir)
    assert "orchestration.airflow_version" in message and "'2.10.3'" in message


def test_invalid_yaml_names_file_and_line(config_dir):
    (config_dir / "dev.yaml").write_text("account: '222222222222'\nregion: [eu-west-1\n")
    [message] = problems(config_dir)
    assert "dev.yaml:" in message and "not valid YAML" in message


def test_field_lines_are_reported(config_dir):
    edit(config_dir, "dev", lambda d: d["network"].update(vpc_id="vpc-NOTHEX"))
    [message] = problems(config_dir)
    line = next(i for i, text in enumerate((config_dir / "dev.yaml").read_text().splitlines(), 1) if "vpc_id" in text)
    assert f"dev.yaml:{line}: network.vpc_id" in message


def test_prod_must_roll_back_by_itself(config_dir):
    edit(config_dir, "prod", lambda d: d["approval"].update(auto_rollback=False))
    [message] = problems(config_dir)
    assert "prod.yaml" in message and "approval.auto_rollback" in message and "allowed: true" in message


def test_a_billion_laughs_config_fails_fast_naming_the_file_and_line(config_dir):
    bomb = Path(__file__).resolve().parents[1] / "fixtures" / "yaml" / "billion_laughs.yaml"
    shutil.copy(bomb, config_dir / "dev.yaml")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_environment("dev", config_dir)
    assert time.perf_counter() - started < 5
    assert "dev.yaml:3: YAML anchor &l0 is not allowed" in str(caught.value.problems[0])
    assert caught.value.problems[0].rule == "yaml-anchor"


def test_identity_aliases_are_typed_and_merged_for_the_guard():
    config = load_all()
    assert config.environment("prod").approval.identity_aliases["bob@example.com"] == (
        "bob@example.com",
        "bito",
        "github:1002",
    )
    assert config.identity_aliases()["alice@example.com"] == ["alice@example.com", "amoreno", "github:1001"]


def test_the_source_providers_token_is_a_secret_of_the_delivery_account(config_dir):
    other = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:token-a1B2c3"
    edit(config_dir, "delivery", lambda d: d["source_provider"].update(token_secret_arn=other))
    [message] = problems(config_dir)
    assert "delivery.yaml" in message and "must be a secret of the delivery account 111111111111" in message


@pytest.mark.parametrize(
    ("aliases", "expected"),
    [
        ({"Alice@example.com": ["alice"]}, "write git e-mails in lower case ('alice@example.com')"),
        ({"alice@example.com": []}, "list at least one SourceIdentity or Identity Center user name"),
        ({"alice@example.com": ["ab"], "bob@example.com": ["AB"]}, "'AB' is listed under both"),
        ({"alice@example.com": ["has space"]}, "identity_aliases"),
        ({"alice@example.com": ["github:alice"]}, "identity_aliases"),  # provider accounts by numeric id
        ({}, "prod needs each approver's git e-mail"),
    ],
    ids=["upper-case-email", "empty-list", "shared-identity", "bad-name", "provider-login", "empty-in-prod"],
)
def test_bad_identity_aliases_name_the_file_and_the_rule(config_dir, aliases, expected):
    edit(config_dir, "prod", lambda d: d["approval"].update(identity_aliases=aliases))
    [message] = problems(config_dir)
    assert message.startswith("config/prod.yaml") or "prod.yaml" in message
    assert expected in message


def test_one_name_cannot_be_two_people_across_environments(config_dir):
    edit(config_dir, "staging", lambda d: d["approval"].update(identity_aliases={"carol@example.com": ["bito"]}))
    [message] = problems(config_dir)
    assert "'bito' is 'carol@example.com' in staging but 'bob@example.com' in prod" in message


def problem_objects(config_dir: Path) -> list:
    with pytest.raises(ConfigError) as caught:
        load_all(config_dir)
    return caught.value.problems


def test_a_setting_written_twice_is_refused_not_silently_overwritten(config_dir):
    dev = config_dir / "dev.yaml"
    dev.write_text(dev.read_text().replace("region: eu-west-1\n", "region: eu-west-1\nregion: us-east-1\n", 1))
    [problem] = problem_objects(config_dir)
    lines = dev.read_text().splitlines()
    assert (problem.rule, lines[problem.line - 1]) == ("duplicate-key", "region: us-east-1")
    assert str(problem).startswith(f"{problem.file}:{problem.line}: duplicate key `region` (also on line")


def test_a_misspelt_setting_gets_did_you_mean_from_the_model(config_dir):
    edit(config_dir, "prod", lambda d: d["orchestration"].update(environment_klass="mw1.large"))
    [problem] = problem_objects(config_dir)
    assert (problem.field, problem.rule) == ("orchestration.environment_klass", "unknown-field")
    assert (
        problem.message == "unknown setting `environment_klass` in `orchestration`; did you mean `environment_class`?"
    )
    assert problem.fix == "rename it to `environment_class`"


def test_a_missing_setting_points_at_the_line_of_its_section(config_dir):
    edit(config_dir, "staging", lambda d: d["snowflake"].pop("private_key_secret_name"))
    [problem] = problem_objects(config_dir)
    lines = (config_dir / "staging.yaml").read_text().splitlines()
    assert lines[problem.line - 1] == "snowflake:"
    assert (problem.field, problem.rule) == ("snowflake.private_key_secret_name", "missing-field")
    assert problem.fix == f"add `private_key_secret_name:` under `snowflake:` (line {problem.line})"


def test_production_rules_have_rule_ids_of_their_own(config_dir):
    edit(config_dir, "prod", lambda d: d["approval"].update(bake_minutes=5))
    [problem] = problem_objects(config_dir)
    assert (problem.rule, problem.field) == ("prod-bake-time", "approval.bake_minutes")
    assert problem.line is not None
