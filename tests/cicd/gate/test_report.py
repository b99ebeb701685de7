import io
import json
import xml.etree.ElementTree as ET

from cicd.gate import report
from cicd.gate.model import CheckResult, Finding, Status

RESULTS = [
    CheckResult("config", Status.PASSED, 0.1, summary="ok"),
    CheckResult(
        "cfn-lint", Status.FAILED, 2.0, [Finding("cfn-lint:E3012", "bad type", "t.json", 7, "fix")], "1 problem(s)"
    ),
    CheckResult("checkov", Status.ERROR, 0.5, summary="checkov exited 2:\ntraceback"),
    CheckResult("dbt", Status.SKIPPED, summary="skipped: release-build failed"),
]


def test_table_lists_every_check_and_the_findings():
    out = io.StringIO()
    report.render_table(RESULTS, 3.0, out)
    text = out.getvalue()
    for name in ("config", "cfn-lint", "checkov", "dbt"):
        assert name in text
    assert "t.json:7: [cfn-lint:E3012] bad type" in text
    assert "checkov exited 2" in text
    assert "1/4" in text


def test_the_gate_table_is_the_table_style_of_every_other_command():
    from cicd.options import print_table

    gate, other = io.StringIO(), io.StringIO()
    report.render_table(RESULTS[:1], 0.1, gate)
    print_table(("check", "status", "time", "summary"), [("config", "PASS", "0.1s", "ok")], file=other)
    assert gate.getvalue().splitlines()[1:3] == other.getvalue().splitlines()[:2]  # header and its rule
    assert "\x1b[" not in gate.getvalue()


def test_json_report_is_complete(tmp_path):
    payload = report.as_dict(RESULTS, 3.0, False, "all")
    report.write_json(payload, tmp_path / "r.json")
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded["passed"] is False
    assert [c["status"] for c in loaded["checks"]] == ["passed", "failed", "error", "skipped"]
    assert loaded["checks"][1]["findings"][0] == {
        "rule": "cfn-lint:E3012",
        "message": "bad type",
        "file": "t.json",
        "line": 7,
        "fix": "fix",
        "severity": "error",
    }


def test_junit_has_one_case_per_check_with_failures_errors_and_skips(tmp_path):
    path = tmp_path / "junit.xml"
    report.write_junit(RESULTS, 3.0, path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["cfn-lint"].find("failure").text == "t.json:7: [cfn-lint:E3012] bad type Fix: fix"
    assert cases["checkov"].find("error") is not None
    assert cases["dbt"].find("skipped") is not None
