"""The reviewed suppression file: every entry names rule, stack, logical id and a reason."""

import pytest

from cicd.readiness.findings import SuppressionFileError, load_reviewed


def test_a_reviewed_entry_without_its_keys_is_refused_naming_the_file_and_line(tmp_path):
    reviewed_file = tmp_path / "suppressions.yaml"
    reviewed_file.write_text("suppressions:\n  - rule: RoleNamedBeforeItIsCreated\n    reason: somebody said so\n")

    with pytest.raises(SuppressionFileError, match=r"suppressions.yaml:2: each suppression names `rule`, `stack`"):
        load_reviewed(reviewed_file, "suppressions.yaml")


def test_a_missing_reviewed_file_holds_no_suppressions(tmp_path):
    assert load_reviewed(tmp_path / "suppressions.yaml") == []


def test_yaml_aliases_in_the_reviewed_file_are_refused(tmp_path):
    reviewed_file = tmp_path / "suppressions.yaml"
    reviewed_file.write_text("reason: &r a long enough reason for anything\nsuppressions:\n  - reason: *r\n")

    with pytest.raises(SuppressionFileError, match="anchor"):
        load_reviewed(reviewed_file, "suppressions.yaml")
