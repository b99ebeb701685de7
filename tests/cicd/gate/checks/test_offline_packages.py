"""The gate's offline-packages check reports the rules' problems as findings, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

from cicd.gate.checks.offline_packages import OfflinePackagesCheck
from cicd.gate.model import GateContext

ROOT = Path(__file__).resolve().parents[4]


def copy_repo(tmp_path: Path) -> Path:
    for item in ("pipeline_assets/mwaa", "pipeline_assets/spark", "dags", "stacks", "constructs"):
        shutil.copytree(ROOT / item, tmp_path / item, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_committed_repository_has_no_errors(tmp_path):
    findings = OfflinePackagesCheck().run(GateContext(root=ROOT, out_dir=tmp_path))
    assert [f for f in findings if f.severity == "error"] == []


def test_a_constraints_url_fails_with_file_line_rule_and_fix(tmp_path):
    root = copy_repo(tmp_path / "repo")
    requirements = root / "pipeline_assets/mwaa/requirements.txt"
    requirements.write_text(
        requirements.read_text().replace(
            "--constraint /usr/local/airflow/plugins/constraints.txt",
            '--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-2.10.3/constraints-3.11.txt"',
        )
    )
    errors = [f for f in OfflinePackagesCheck().run(GateContext(root=root, out_dir=tmp_path)) if f.severity == "error"]
    assert {f.rule for f in errors} == {"packages:no-network", "packages:constraints-local"}
    url = next(f for f in errors if f.rule == "packages:no-network")
    assert url.file == "pipeline_assets/mwaa/requirements.txt" and url.line == 9 and "--no-index" in url.fix
