"""The one-process parse, select and build of one side (the heavy path runs in the end-to-end tests)."""

import pytest

from cicd.dbt.datadiff import rebuild


def test_a_node_is_selected_by_its_full_fqn_so_a_folder_of_the_same_name_cannot_match():
    assert (
        rebuild.selector({"fqn": ["data_platform", "marts", "crm", "accounts"]})
        == "fqn:data_platform.marts.crm.accounts"
    )


def test_a_partial_rebuild_needs_the_other_side(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        rebuild.main(["--project", str(tmp_path), "--role", "base", "--target-path", str(tmp_path), "--out", "x"])
    assert exit_.value.code == 2
    assert "--other-manifest and --other-project are needed unless --everything" in capsys.readouterr().err
