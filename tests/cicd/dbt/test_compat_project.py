"""Schema compatibility on the real project: `dbt parse` of a changed copy against the committed baseline."""

import shutil
from pathlib import Path

import pytest

from cicd.dbt import compat
from cicd.dbt.build import parse_project

ROOT = Path(__file__).resolve().parents[3]
MARTS = "dbt_project/models/marts/crm"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "dbt_project", tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    return tmp_path


def _without_health_status(sql: str) -> str:
    start = sql.index("    case\n        when raw_score >= 70")
    end = sql.index("end as health_status,\n") + len("end as health_status,\n")
    return sql[:start] + sql[end:]


def _drop_yaml_column(yml: str, column: str) -> str:
    start = yml.index(f"      - name: {column}\n")
    end = yml.index("      - name:", start + 1)
    return yml[:start] + yml[end:]


def _report(root: Path) -> compat.CompatReport:
    return compat.check(
        compat.load_manifest(ROOT / compat.COMMITTED_BASELINE),
        compat.load_manifest(parse_project(root)),
        root / compat.ACKNOWLEDGEMENTS,
    )


@pytest.mark.slow
def test_dropping_a_published_column_names_the_data_service_exposure(tmp_path):
    root = _copy(tmp_path)
    sql = root / MARTS / "customer_health.sql"
    sql.write_text(_without_health_status(sql.read_text()))
    yml = root / MARTS / "_crm__models.yml"
    yml.write_text(_drop_yaml_column(yml.read_text(), "health_status").replace("            - health_status\n", ""))

    [finding] = [f for f in _report(root).findings if f.severity == "error"]

    assert finding.rule == "dbt-compat:column-removed"
    assert finding.message.startswith("customer_health.health_status: column removed (varchar -> removed)")
    assert "exposures: customer_health_data_service" in finding.message
    assert finding.file == "dbt_project/models/marts/crm/_crm__models.yml"


@pytest.mark.slow
def test_the_same_change_as_a_new_model_version_passes(tmp_path):
    root = _copy(tmp_path)
    sql = root / MARTS / "customer_health.sql"
    (root / MARTS / "customer_health_v1.sql").write_text(sql.read_text())
    (root / MARTS / "customer_health_v2.sql").write_text(_without_health_status(sql.read_text()))
    sql.unlink()
    yml = root / MARTS / "_crm__models.yml"
    yml.write_text(
        yml.read_text().replace(
            "  - name: customer_health\n",
            "  - name: customer_health\n"
            "    latest_version: 2\n"
            "    versions:\n"
            "      - v: 1\n"
            "      - v: 2\n"
            "        columns:\n"
            "          - include: all\n"
            "            exclude: [health_status]\n",
        )
    )

    report = _report(root)

    assert [f for f in report.findings if f.severity == "error"] == []
    current = compat.load_manifest(root / "build/dbt/parse/target/manifest.json")
    versions = {m.label: m for m in current.models.values() if m.name == "customer_health"}
    assert set(versions) == {"customer_health.v1", "customer_health.v2"}
    # v2 really drops the column (the change is breaking for v2 alone); v1 keeps serving the old shape.
    assert "health_status" not in versions["customer_health.v2"].columns
    assert "health_status" in versions["customer_health.v1"].columns
