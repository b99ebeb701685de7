import pytest

from cicd.gate.checks.external_systems import ExternalSystems, findings_from_junit
from cicd.gate.model import GateContext, ToolError

FAILED_RUN = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" tests="3">
  <testcase classname="tests.external.test_s3" name="test_ok" file="tests/external/test_s3.py"/>
  <testcase classname="tests.external.test_snowflake_stage" name="test_copy_loads_each_staged_file_once">
    <failure message="assert [(16,)] == [(8,)]">landing = ...
tests/external/test_snowflake_stage.py:57: AssertionError</failure>
  </testcase>
  <testcase classname="tests.external.test_kafka" name="test_every_message_comes_back">
    <error message="failed on setup with &quot;KafkaException: broker down&quot;">fixture error</error>
  </testcase>
</testsuite></testsuites>
"""


def test_failures_and_errors_become_findings_with_file_line_rule_fix(tmp_path):
    report = tmp_path / "external.xml"
    report.write_text(FAILED_RUN)
    copy_failure, setup_error = findings_from_junit(report)
    assert (copy_failure.rule, copy_failure.file, copy_failure.line) == (
        "external:failure",
        "tests/external/test_snowflake_stage.py",
        57,
    )
    assert "test_copy_loads_each_staged_file_once: assert [(16,)] == [(8,)]" in copy_failure.message
    assert setup_error.rule == "external:error" and "broker down" in setup_error.message
    assert all("docs/external-systems.md" in f.fix for f in (copy_failure, setup_error))


def test_selected_by_the_code_the_external_tests_exercise(repo_root, tmp_path):
    check = ExternalSystems()

    def changed(*files):
        return GateContext(root=repo_root, out_dir=tmp_path, changed_files=frozenset(files))

    assert check.selected(changed("pipeline_assets/streaming_control/store.py"))
    assert check.selected(changed("tests/external/test_kafka.py"))
    assert not check.selected(changed("dbt_project/models/marts/crm/accounts.sql"))


def test_an_empty_suite_is_a_tool_error(tmp_path):
    (tmp_path / "tests" / "external").mkdir(parents=True)
    with pytest.raises(ToolError, match="collected no test"):
        ExternalSystems().run(GateContext(root=tmp_path, out_dir=tmp_path / "out"))


@pytest.mark.slow
def test_the_suite_passes_on_local_substitutes(repo_root, tmp_path):
    assert ExternalSystems().run(GateContext(root=repo_root, out_dir=tmp_path)) == []
