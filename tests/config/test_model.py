"""Rules of the config model that protect SOC 2 evidence; each names the file, the field and the fix."""

import pytest
import yaml

from config import ConfigError, load_all

from .conftest import edit


def test_prod_evidence_is_locked_in_compliance_mode(config_dir):
    edit(config_dir, "prod", lambda d: d["retention"].update(evidence_lock_mode="GOVERNANCE"))
    with pytest.raises(ConfigError) as caught:
        load_all(config_dir)
    [message] = [str(p) for p in caught.value.problems]
    assert "prod.yaml" in message and "retention.evidence_lock_mode" in message and "allowed: COMPLIANCE" in message


def test_lower_environments_may_choose_governance_and_default_to_compliance():
    config = load_all()
    assert config.environment("dev").retention.evidence_lock_mode == "GOVERNANCE"
    assert config.environment("staging").retention.evidence_lock_mode == "COMPLIANCE"


def test_a_saml_approver_identity_needs_its_provider(config_dir):
    path = config_dir / "delivery.yaml"
    data = yaml.safe_load(path.read_text())
    data["approver_identity"] = {"source": "saml"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_all(config_dir)
    [message] = [str(p) for p in caught.value.problems]
    assert "delivery.yaml" in message and "saml_provider_arn" in message and "source 'saml'" in message


def test_the_default_approver_identity_is_the_delivery_account_with_mfa():
    assert load_all().delivery.approver_identity.source == "account"


def test_a_concurrency_quota_is_optional_and_below_lambdas_minimum_is_refused(config_dir):
    assert load_all().environment("prod").functions.concurrency_quota is None  # shipped config reserves nothing
    edit(config_dir, "prod", lambda d: d.update(functions={"concurrency_quota": 5}))
    with pytest.raises(ConfigError) as caught:
        load_all(config_dir)
    [message] = [str(p) for p in caught.value.problems]
    assert "prod.yaml" in message and "functions.concurrency_quota" in message
