"""One reader for every acknowledgement file of the dbt checks: same shape, same errors, same expiry."""

from pathlib import Path

from cicd.dbt import acknowledgements

SPEC = acknowledgements.AckFile(
    Path("dbt_project/some_changes.yml"), {"rows-changed": "rows changed"}, "some-check", "the merge base"
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "some_changes.yml"
    path.write_text(text)
    return path


def test_a_missing_file_acknowledges_nothing_and_is_no_error(tmp_path):
    assert acknowledgements.load(tmp_path / "absent.yml", SPEC) == ([], [])


def test_a_valid_entry_matches_its_model_and_change_only(tmp_path):
    path = _write(
        tmp_path,
        "acknowledgements:\n"
        "  - model: orders\n    change: rows-changed\n"
        "    reason: Cancelled orders now count as delivered (DP-7).\n    approved_by: jane.doe\n",
    )
    [ack], findings = acknowledgements.load(path, SPEC)
    assert findings == []
    assert ack.line == 2
    assert ack.matches("orders", "rows-changed") and not ack.matches("accounts", "rows-changed")


def test_an_entry_for_a_change_the_check_does_not_know_names_the_prefix_the_line_and_the_choices(tmp_path):
    path = _write(
        tmp_path,
        "acknowledgements:\n  - model: orders\n    change: rows-vanished\n"
        "    reason: long enough reason here.\n    approved_by: jane\n",
    )
    acks, [finding] = acknowledgements.load(path, SPEC)
    assert acks == []
    assert (finding.rule, finding.file, finding.line) == ("some-check:ack-invalid", "dbt_project/some_changes.yml", 2)
    assert "'rows-vanished' is not one of rows-changed" in finding.message


def test_a_list_item_that_is_not_a_mapping_is_reported_not_a_crash(tmp_path):
    acks, [finding] = acknowledgements.load(_write(tmp_path, "acknowledgements:\n  - just a string\n"), SPEC)
    assert acks == [] and "is not a mapping" in finding.message


def test_an_unused_acknowledgement_expires_as_a_warning_saying_what_to_do(tmp_path):
    path = _write(
        tmp_path,
        "acknowledgements:\n  - model: orders\n    change: rows-changed\n"
        "    reason: Cancelled orders now count as delivered.\n    approved_by: jane\n",
    )
    acks, _ = acknowledgements.load(path, SPEC)
    [warning] = acknowledgements.unused(acks, set(), SPEC)
    assert (warning.rule, warning.severity, warning.line) == ("some-check:ack-unused", "warning", 2)
    assert "against the merge base" in warning.message and warning.fix.startswith("remove it")
    assert acknowledgements.unused(acks, {0}, SPEC) == []
