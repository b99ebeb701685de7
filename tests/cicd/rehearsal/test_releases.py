"""Release B's changes apply to this repository exactly, or the rehearsal says which one drifted."""

from __future__ import annotations

import pytest

from cicd.rehearsal.releases import B_CHANGES, Change, RehearsalSetupError, apply
from cicd.rehearsal.scenario import ROOT


@pytest.mark.parametrize("change", B_CHANGES, ids=lambda c: c.file)
def test_every_change_of_release_b_finds_its_line_exactly_once(change):
    assert (ROOT / change.file).read_text().count(change.before) == 1


def test_a_change_whose_line_is_gone_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "orders.sql").write_text("select 1\n")
    with pytest.raises(RehearsalSetupError, match=r"orders\.sql: .*update B_CHANGES"):
        apply(tmp_path, (Change("orders.sql", "from x", "from y", "dbt"),))


def test_the_changes_are_applied(tmp_path):
    (tmp_path / "orders.sql").write_text("select *\nfrom x\n")
    apply(tmp_path, (Change("orders.sql", "from x", "from x\nwhere false", "dbt"),))
    assert (tmp_path / "orders.sql").read_text() == "select *\nfrom x\nwhere false\n"
