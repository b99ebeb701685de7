"""Facts the templates cannot show: the configured qualifier, account quotas with their source."""

import pytest

from cicd.readiness.facts import FactsError, load_account_quotas, load_facts


def test_the_repository_facts_come_from_its_config_makefile_and_the_checkov_environment(repo_root):
    facts = load_facts(repo_root)

    assert facts.bootstrap_qualifier == "hnb659fds"
    assert "integration-test:" in facts.makefile
    assert facts.iam_reference is not None and facts.iam_reference.name == "iam-definition.json"


def test_a_quota_with_its_source_is_read(tmp_path):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        'accounts:\n  "111111111111":\n    lambda_concurrent_executions: 1000\n'
        "    source: Service Quotas L-B99A9384, read 2026-12-01\n"
    )

    assert load_account_quotas(accounts) == {"111111111111": 1000}


def test_a_quota_without_its_source_is_refused_naming_the_file_and_the_fix(tmp_path):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text('accounts:\n  "111111111111":\n    lambda_concurrent_executions: 1000\n')

    with pytest.raises(FactsError, match=r"accounts.yaml: account 111111111111 needs .*`source: <where"):
        load_account_quotas(accounts, "accounts.yaml")
