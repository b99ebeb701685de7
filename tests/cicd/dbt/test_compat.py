"""Each breaking-change rule against a fixture pair of manifests (tests/fixtures/dbt/compat)."""

import time
from datetime import date
from pathlib import Path

import pytest

from cicd.dbt import compat

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dbt" / "compat"
TODAY = date(2026, 1, 15)


def run(baseline: str, current: str, acks: str = "none.yml") -> compat.CompatReport:
    return compat.check(
        compat.load_manifest(FIXTURES / f"{baseline}.json"),
        compat.load_manifest(FIXTURES / f"{current}.json"),
        FIXTURES / acks,
        today=TODAY,
    )


def errors(report: compat.CompatReport) -> list:
    return [f for f in report.findings if f.severity == "error"]


@pytest.mark.parametrize(
    ("fixture", "rule", "column", "old_new"),
    [
        ("column_removed", "column-removed", "health_score", "(integer -> removed)"),
        ("type_changed", "type-changed", "health_score", "(integer -> varchar)"),
        ("type_narrowed", "type-narrowed", "account_name", "(character varying(200) -> varchar(50))"),
        ("contract_removed", "contract-removed", None, "(contract enforced -> not enforced)"),
        ("key_test_removed", "key-test-removed", "account_id", "(unique test -> none)"),
        ("constraint_removed", "constraint-removed", "health_score", "(not_null constraint -> none)"),
        ("model_removed", "model-removed", None, "(contracted model -> deleted)"),
        ("model_disabled", "model-disabled", None, "(enabled -> disabled)"),
        ("materialization_changed", "materialization-changed", None, "(table -> view)"),
    ],
)
def test_each_breaking_rule_fails_and_names_model_column_change_and_consumers(fixture, rule, column, old_new):
    report = run("baseline", fixture)
    found = errors(report)
    assert [f.rule for f in found] == [f"dbt-compat:{rule}"]
    finding = found[0]
    subject = f"customer_health.{column}" if column else "customer_health"
    assert finding.message.startswith(f"{subject}:")
    assert old_new in finding.message
    assert "downstream models: health_alerts" in finding.message
    assert "exposures: customer_health_data_service" in finding.message
    assert finding.file == "dbt_project/models/marts/crm/_crm__models.yml"
    assert "schema_changes.yml" in finding.fix and f"change: {rule}" in finding.fix


def test_rename_is_a_removal_that_points_at_the_new_name():
    [finding] = errors(run("baseline", "column_renamed"))
    assert finding.rule == "dbt-compat:column-removed"
    assert "renamed to customer_health_score?" in finding.message


def test_type_aliases_are_not_changes():
    # text(200) = character varying(200), number(38, 0) = integer, timestamp_ntz = timestamp
    assert run("baseline", "type_alias_only").findings == []


def test_additive_and_widening_changes_pass():
    report = run("baseline", "additive")
    assert report.findings == [] and report.changes == []


def test_breaking_change_in_a_new_version_passes_while_v1_keeps_the_old_shape():
    assert run("baseline", "versioned").findings == []


def test_removing_a_version_is_breaking_until_its_deprecation_date():
    [finding] = errors(run("versioned_baseline", "versioned_v1_removed"))
    assert finding.rule == "dbt-compat:model-removed"
    assert finding.message.startswith("customer_health.v1:")
    assert run("versioned_baseline_deprecated", "versioned_v1_removed").findings == []


def test_acknowledged_change_passes_and_is_reported_as_acknowledged():
    report = run("baseline", "column_removed", "acknowledged.yml")
    assert report.findings == []
    assert [(c.rule, c.column) for c in report.acknowledged] == [("column-removed", "health_score")]


def test_acknowledgement_for_another_change_does_not_excuse_this_one():
    report = run("baseline", "type_changed", "acknowledged.yml")
    rules = sorted(f.rule for f in report.findings)
    assert rules == ["dbt-compat:ack-unused", "dbt-compat:type-changed"]


def test_stale_acknowledgement_is_a_warning_with_its_line():
    [finding] = run("baseline", "baseline", "stale.yml").findings
    assert (finding.rule, finding.severity, finding.line) == ("dbt-compat:ack-unused", "warning", 2)
    assert finding.file == "dbt_project/schema_changes.yml"


def test_malformed_acknowledgements_excuse_nothing_and_say_why():
    report = run("baseline", "column_removed", "invalid.yml")
    by_rule = sorted((f.rule, f.line) for f in report.findings)
    assert by_rule == [
        ("dbt-compat:ack-invalid", 2),
        ("dbt-compat:ack-invalid", 6),
        ("dbt-compat:column-removed", None),
    ]
    messages = " ".join(f.message for f in report.findings)
    assert "missing approved_by" in messages and "'column-vanished' is not one of" in messages


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("varchar", "string"),
        ("character varying(20)", "string"),
        ("TEXT", "string"),
        ("string", "string"),
        ("bigint", "integer"),
        ("number(38,0)", "integer"),
        ("numeric(18, 2)", "numeric"),
        ("double precision", "float"),
        ("timestamp", "timestamp_ntz"),
        ("timestamp with time zone", "timestamp_tz"),
        ("bool", "boolean"),
    ],
)
def test_normalize_type(raw, base):
    assert compat.normalize_type(raw).base == base


def test_narrowing():
    n = compat.normalize_type
    assert compat.narrowed(n("numeric(18, 2)"), n("numeric(10, 2)"))
    assert compat.narrowed(n("numeric(18, 4)"), n("numeric(18, 2)"))
    assert not compat.narrowed(n("numeric(18, 2)"), n("numeric(20, 2)"))
    assert compat.narrowed(n("varchar"), n("varchar(10)"))
    assert not compat.narrowed(n("varchar(10)"), n("varchar"))


def test_slim_baseline_keeps_what_the_check_reads(tmp_path):
    out = compat.write_baseline(FIXTURES / "baseline.json", tmp_path / "baseline.json")
    again = compat.write_baseline(FIXTURES / "baseline.json", tmp_path / "again.json")
    assert out.read_bytes() == again.read_bytes()
    assert (
        run("baseline", "column_removed").changes
        == compat.check(
            compat.load_manifest(out), compat.load_manifest(FIXTURES / "column_removed.json"), FIXTURES / "none.yml"
        ).changes
    )


def test_committed_baseline_matches_the_project():
    """The committed baseline is what the gate falls back to: it must describe the project's marts."""
    root = Path(__file__).resolve().parents[3]
    baseline = compat.load_manifest(root / compat.COMMITTED_BASELINE)
    contracted = sorted(m.name for m in baseline.models.values() if m.contract_enforced)
    assert contracted == ["accounts", "customer_health", "orders", "products"]


def test_a_billion_laughs_acknowledgements_file_fails_fast_naming_the_file_and_line(tmp_path):
    path = tmp_path / "schema_changes.yml"
    path.write_bytes((FIXTURES.parents[1] / "yaml" / "billion_laughs.yaml").read_bytes())
    started = time.perf_counter()
    acks, findings = compat.load_acknowledgements(path)
    assert time.perf_counter() - started < 5
    assert acks == []
    [finding] = findings
    assert (finding.rule, finding.file, finding.line) == ("dbt-compat:ack-invalid", "dbt_project/schema_changes.yml", 3)
    assert "anchor &l0 is not allowed" in finding.message
