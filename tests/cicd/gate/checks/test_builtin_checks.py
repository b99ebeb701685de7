"""The gate's own checks on deliberately broken inputs, with the real tools."""

import json
import shutil
from pathlib import Path

import pytest

from cicd.gate.checks.config_check import ConfigCheck
from cicd.gate.checks.python_lint import PythonLint
from cicd.gate.checks.unit_tests import UnitTests
from cicd.gate.model import GateContext, ToolError
from config.loader import CONFIG_DIR

REPO = Path(__file__).resolve().parents[4]


def context(root: Path) -> GateContext:
    return GateContext(root=root, out_dir=root / "build" / "gate")


def test_python_lint_names_file_line_and_rule(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "good.py").write_text('"""Fine."""\n\nVALUE = 1\n')
    (tmp_path / "broken.py").write_text("import os\ndef f(:\n    pass\n")
    (tmp_path / "unused.py").write_text("import os\n")
    findings = PythonLint().run(context(tmp_path))
    by_file = {(f.file, f.rule) for f in findings}
    assert ("broken.py", "ruff:invalid-syntax") in by_file
    assert ("unused.py", "ruff:F401") in by_file
    assert not [f for f in findings if f.file == "good.py"]
    syntax = next(f for f in findings if f.file == "broken.py" and f.rule == "ruff:invalid-syntax")
    assert syntax.line == 2


def test_config_check_reports_each_bad_file(tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path / "config", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    prod = tmp_path / "config" / "prod.yaml"
    prod.write_text(prod.read_text().replace("required: true", "required: false"))
    [finding] = ConfigCheck().run(context(tmp_path))
    assert finding.file.endswith("prod.yaml") and finding.line is not None
    assert finding.rule == "config:prod-approval"  # the rule broken, not the field: the message names that
    assert finding.message.startswith("approval.required: prod must require a manual approval")


def test_unit_tests_check_reports_the_failing_test(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_math.py").write_text("def test_ok():\n    assert 1\n\ndef test_bad():\n    assert 1 + 1 == 3\n")
    [finding] = UnitTests().run(context(tmp_path))
    assert finding.file == "tests/test_math.py" and finding.line == 5
    assert "test_bad" in finding.message


def test_the_unit_tests_keep_their_bytecode_so_aws_cdk_is_not_compiled_on_every_run(tmp_path, monkeypatch):
    """The check used to set PYTHONDONTWRITEBYTECODE=1: with uv's .pyc-less installs, collecting the suite
    compiled aws_cdk's generated modules from source every time (~20 s on a busy 2-core machine)."""
    from cicd.gate.tools import BYTECODE_CACHE

    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    seen = tmp_path / "settings.json"
    (tmp_path / "tests" / "test_settings.py").write_text(
        "import json, sys\n\n\ndef test_settings():\n"
        f"    open({str(seen)!r}, 'w').write(json.dumps([sys.dont_write_bytecode, sys.pycache_prefix]))\n"
    )
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    assert UnitTests().run(context(tmp_path)) == []
    assert json.loads(seen.read_text()) == [False, str(tmp_path.resolve() / BYTECODE_CACHE)]


def test_unit_tests_check_with_no_tests_is_an_error(tmp_path):
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    with pytest.raises(ToolError, match="no tests"):
        UnitTests().run(context(tmp_path))


NEW_CLI_OUTPUT = """
ERROR AwsSolutions-IAM5[Resource::*]: The IAM entity contains wildcard permissions. (Construct Annotations)
   DeliveryPipeline/Pipeline/Role/DefaultPolicy/Resource
   Rule Annotation::error-annotation

WARN AwsSolutions-S10: The S3 Bucket does not require requests to use SSL. (Construct Annotations)
   Dev/Storage/RawBucket/Resource
   Rule Annotation::warning-annotation
"""
OLD_CLI_OUTPUT = "[Error at /Prod/Storage/DataKey/Resource] AwsSolutions-KMS5: The KMS key has no rotation.\n"


def test_cdk_nag_findings_are_read_from_both_cli_output_formats():
    from cicd.gate.checks.cdk_synth import nag_findings

    found = {(f.rule, f.file, f.severity) for f in nag_findings(NEW_CLI_OUTPUT + OLD_CLI_OUTPUT)}
    assert found == {
        ("cdk-nag:AwsSolutions-IAM5[Resource::*]", "DeliveryPipeline/Pipeline/Role/DefaultPolicy/Resource", "error"),
        ("cdk-nag:AwsSolutions-S10", "Dev/Storage/RawBucket/Resource", "warning"),
        ("cdk-nag:AwsSolutions-KMS5", "/Prod/Storage/DataKey/Resource", "error"),
    }


def test_changed_only_unit_tests_select_the_tests_that_import_the_change_not_its_mirror():
    from cicd.gate.checks.unit_tests import UnitTests, affected_tests

    ctx = GateContext(REPO, REPO / "build" / "gate", changed_files=frozenset({"constructs/monitoring_dashboards.py"}))
    selection = affected_tests(ctx, UnitTests.paths)
    assert "tests/stacks/test_monitoring_stack.py" in selection.tests
    assert affected_tests(GateContext(REPO, REPO / "build" / "gate")).whole_suite  # --all


def test_changed_only_unit_tests_follow_non_python_sources_and_ignore_unrelated_files(tmp_path):
    from cicd.gate.checks.unit_tests import UnitTests, affected_tests

    (tmp_path / "tests/dags").mkdir(parents=True)
    (tmp_path / "tests/dags/test_specs.py").write_text("")
    (tmp_path / "tests/test_readme.py").write_text('README = "README.md"\n')
    ctx = GateContext(tmp_path, tmp_path / "out", changed_files=frozenset({"dags/pipelines/x.yaml", "README.md"}))
    # README.md is outside the check's paths; nothing names the spec, so its mirrored folder runs.
    assert affected_tests(ctx, UnitTests.paths).tests == ["tests/dags/test_specs.py"]


def test_changed_only_unit_tests_with_no_test_reaching_the_change_pass_without_running_pytest(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "lonely.py").write_text("")
    check = UnitTests()
    assert check.run(GateContext(tmp_path, tmp_path / "out", changed_files=frozenset({"lonely.py"}))) == []
    assert "no test module" in check.summary_note


BROKEN_TEMPLATE = {
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Sometimes"}}},
    }
}


@pytest.mark.slow  # runs the real cfn-lint and checkov (5-8 s each)
@pytest.mark.parametrize("check_name", ["cfn-lint", "checkov"])
def test_iac_checks_name_the_template_and_rule_of_a_broken_template(tmp_path, check_name):
    import json

    from cicd.gate.checks.cfn_lint import CfnLint
    from cicd.gate.checks.checkov_scan import Checkov

    shutil.copy(REPO / ".cfnlintrc", tmp_path / ".cfnlintrc")
    # The checkov and CDK toolchains live in the repository, not in the temporary root.
    for tool_dir in (".venv-checkov", "node_modules"):
        (tmp_path / tool_dir).symlink_to(REPO / tool_dir)
    assembly = tmp_path / "build" / "cdk.out"
    assembly.mkdir(parents=True)
    (assembly / "Broken.template.json").write_text(json.dumps(BROKEN_TEMPLATE, indent=1))
    check = CfnLint() if check_name == "cfn-lint" else Checkov()
    findings = [f for f in check.run(context(tmp_path)) if f.severity == "error"]
    assert findings, f"{check_name} passed a broken template"
    assert all(f.file.endswith("Broken.template.json") for f in findings)
    rules = {f.rule for f in findings}
    if check_name == "cfn-lint":
        assert any(r.startswith("cfn-lint:E") for r in rules) and all(f.line for f in findings)
    else:
        assert "checkov:CKV_AWS_19" in rules or "checkov:CKV_AWS_18" in rules, rules


def _suite(root: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "tests").mkdir(exist_ok=True)
    (root / "lib.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "limits.json").write_text('{"max": 3}\n')
    (root / "tests" / "test_lib.py").write_text(
        "from lib import double\n\ndef test_double():\n    assert double(2) == 4\n"
    )
    (root / "tests" / "test_data.py").write_text(
        "import json, pathlib\nLIMITS = 'data/limits.json'\n\n"
        "def test_limit():\n    assert json.loads(pathlib.Path(LIMITS).read_text())['max'] == 3\n"
    )
    (root / "tests" / "test_other.py").write_text("def test_other():\n    assert True\n")


def test_unit_tests_reuse_each_modules_pass_until_its_imports_or_data_change(tmp_path):
    """Per-test-module reuse: only modules whose import closure or named data files changed run again."""
    from cicd.gate.cache import LocalStore

    _suite(tmp_path)
    store = LocalStore(tmp_path / "cache")

    def run(**kwargs):
        check = UnitTests()
        ctx = GateContext(root=tmp_path, out_dir=tmp_path / "build" / "gate", store=store, **kwargs)
        return check.run(ctx), check.summary_note

    assert run() == ([], "all tests: 3 ran, 3 pass(es) stored")
    assert run() == ([], "all tests: all 3 module(s) reused their stored pass")
    (tmp_path / "lib.py").write_text("def double(x):\n    return x + x\n")
    assert run() == ([], "all tests: 2 reused their stored pass, 1 ran, 1 pass(es) stored")  # test_lib only
    assert run() == ([], "all tests: all 3 module(s) reused their stored pass")
    (tmp_path / "data" / "limits.json").write_text('{"max": 4}\n')
    findings, note = run()
    assert [f.file for f in findings] == ["tests/test_data.py"]
    assert note == "all tests: 2 reused their stored pass, 1 ran, 0 pass(es) stored"
    findings, note = run()  # a failure is never stored: it runs (and fails) again
    assert [f.file for f in findings] == ["tests/test_data.py"] and "1 ran" in note
    findings, note = run(use_stored=False)  # --no-cache runs everything
    assert note == "all tests: 3 ran, 2 pass(es) stored"


def test_a_killed_unit_test_run_keeps_the_passes_of_the_modules_it_finished(tmp_path, monkeypatch):
    """At the check's timeout pytest is killed: the next run starts where it stopped, not from zero."""
    from cicd.gate.cache import LocalStore
    from cicd.gate.checks import unit_tests

    _suite(tmp_path)
    (tmp_path / "tests" / "test_zz_slow.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(60)\n")
    store = LocalStore(tmp_path / "cache")
    real = unit_tests.run_tool
    monkeypatch.setattr(unit_tests, "run_tool", lambda *a, **k: real(*a, **{**k, "timeout_s": 25}))
    ctx = GateContext(root=tmp_path, out_dir=tmp_path / "build" / "gate", store=store)
    with pytest.raises(ToolError, match="did not finish"):
        UnitTests().run(ctx)
    monkeypatch.setattr(unit_tests, "run_tool", real)
    (tmp_path / "tests" / "test_zz_slow.py").write_text("def test_quick():\n    assert True\n")
    check = UnitTests()
    assert check.run(ctx) == []
    assert check.summary_note == "all tests: 3 reused their stored pass, 1 ran, 1 pass(es) stored"
