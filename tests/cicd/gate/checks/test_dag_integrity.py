"""The gate's dag-integrity check: registered, version-pinned to MWAA, and passing on the real DAGs."""

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from cicd.gate.checks.dag_integrity import DagIntegrity, airflow_version_findings
from cicd.gate.model import GateContext
from cicd.gate.registry import all_checks

ROOT = Path(__file__).resolve().parents[4]


def test_the_check_is_discovered_and_selected_by_dag_changes():
    (check,) = [c for c in all_checks() if c.name == "dag-integrity"]
    ctx = GateContext(root=ROOT, out_dir=ROOT / "build/gate", changed_files=frozenset({"dags/pipelines/x.yaml"}))
    assert check.selected(ctx)
    assert not check.selected(GateContext(root=ROOT, out_dir=ROOT, changed_files=frozenset({"stacks/x.py"})))


def test_a_config_on_another_airflow_version_is_a_finding(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    staging = yaml.safe_load((config / "staging.yaml").read_text())
    staging["orchestration"]["airflow_version"] = "2.9.2"
    (config / "staging.yaml").write_text(yaml.safe_dump(staging))
    ctx = GateContext(root=tmp_path, out_dir=tmp_path / "out")
    (finding,) = airflow_version_findings("2.10.3", ctx)
    assert (finding.rule, finding.file) == ("dag:airflow-version", "config/staging.yaml")
    assert "2.9.2" in finding.message and finding.fix


@pytest.mark.slow
def test_the_real_dag_folder_passes_and_reports_per_file(tmp_path):
    ctx = GateContext(root=ROOT, out_dir=tmp_path)
    check = DagIntegrity()
    findings = check.run(ctx)
    assert [f.render() for f in findings if f.severity == "error"] == []
    assert "DAGs in" in check.summary_note
    cases = {case.get("name") for case in ET.parse(tmp_path / "dag-integrity.xml").iter("testcase")}
    assert {f"dags/{p.name}" for p in (ROOT / "dags").glob("*.py")} <= cases
    assert {f"dags/pipelines/{p.name}" for p in (ROOT / "dags/pipelines").glob("*.yaml")} <= cases
    assert (tmp_path / "dag-integrity.json").exists()
