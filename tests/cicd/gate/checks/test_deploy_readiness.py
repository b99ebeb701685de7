"""The deploy-readiness gate check on small cloud assemblies in a scratch repository root."""

import json
import shutil
from pathlib import Path

import pytest

from cicd.gate.checks.deploy_readiness import DeployReadiness
from cicd.gate.model import GateContext, ToolError
from cicd.gate.registry import all_checks

FIXTURES = Path(__file__).parents[2] / "readiness" / "rules" / "fixtures" / "queue_sender_has_key_grant"


@pytest.fixture
def root(tmp_path, repo_root):
    """A repository root with this checkout's config and toolchain, and no cloud assembly yet."""
    shutil.copytree(repo_root / "config", tmp_path / "config")
    (tmp_path / ".venv-checkov").symlink_to(repo_root / ".venv-checkov")
    return tmp_path


def synthesized(root, assembly_dir, kind):
    return assembly_dir(json.loads((FIXTURES / f"{kind}.json").read_text()), "build/cdk.out")


def context(root):
    return GateContext(root=root, out_dir=root / "build" / "gate")


def test_the_check_runs_after_synth_on_its_templates():
    (check,) = [c for c in all_checks() if c.name == "deploy-readiness"]

    assert check.needs == ("cdk-synth",)
    assert "build/cdk.out/**/*.template.json" in check.build_inputs


def test_open_findings_fail_the_check_naming_the_template_stack_logical_id_rule_and_fix(root, assembly_dir):
    synthesized(root, assembly_dir, "bad")

    findings = DeployReadiness().run(context(root))

    assert {f.rule for f in findings} == {"readiness:QueueSenderHasKeyGrant"}
    first = findings[0]
    assert first.file == "build/cdk.out/assembly-Staging/DeliveryPipelineStagingMonitoring.template.json"
    assert first.message.startswith("DeliveryPipeline/Staging/Monitoring CanaryRole:") and first.fix
    report = json.loads((root / "build" / "gate" / "deploy-readiness.json").read_text())
    assert report["passed"] is False and len(report["open"]["QueueSenderHasKeyGrant"]) == 2


def test_a_ready_assembly_passes(root, assembly_dir):
    synthesized(root, assembly_dir, "good")

    assert DeployReadiness().run(context(root)) == []


def test_a_reviewed_suppression_with_a_reason_lets_the_check_pass(root, assembly_dir):
    synthesized(root, assembly_dir, "bad")
    (root / "cicd" / "readiness").mkdir(parents=True)
    (root / "cicd" / "readiness" / "suppressions.yaml").write_text(
        "suppressions:\n"
        "  - rule: QueueSenderHasKeyGrant\n"
        "    stack: DeliveryPipeline/Staging/Monitoring\n"
        "    logical_id: '*Role'\n"
        "    reason: the fixture's senders are granted through a key grant made outside the templates\n"
    )

    assert DeployReadiness().run(context(root)) == []


def test_no_cloud_assembly_is_an_error_of_the_check_not_a_pass(root):
    with pytest.raises(ToolError, match="cdk-synth must run first"):
        DeployReadiness().run(context(root))


def test_a_missing_iam_reference_is_an_error_that_says_to_install_the_toolchain(root, assembly_dir):
    synthesized(root, assembly_dir, "good")
    (root / ".venv-checkov").unlink()

    with pytest.raises(ToolError, match="run `make venv`"):
        DeployReadiness().run(context(root))


def test_a_malformed_accounts_file_is_a_finding_naming_the_file_and_the_fix(root, assembly_dir):
    synthesized(root, assembly_dir, "good")
    (root / "cicd" / "readiness").mkdir(parents=True)
    (root / "cicd" / "readiness" / "accounts.yaml").write_text('accounts:\n  "333333333333": {}\n')

    (finding,) = DeployReadiness().run(context(root))

    assert (finding.rule, finding.file) == ("readiness:input", "cicd/readiness/accounts.yaml")
    assert "account 333333333333 needs `lambda_concurrent_executions" in finding.message
