"""The mutation benchmark: its catalogue applies to the project, and its table says what each side saw."""

from pathlib import Path

import pytest

from cicd.dbt.datadiff import bench
from cicd.dbt.datadiff.mutations import MUTATIONS, Mutation
from cicd.dbt.datadiff.run import build_reference

ROOT = Path(__file__).resolve().parents[4]


def test_the_catalogue_has_over_fifty_sql_mutations_of_every_kind_asked_for():
    sql = [m for m in MUTATIONS if m.path.endswith(".sql")]
    assert len(sql) >= 50 and len({m.id for m in MUTATIONS}) == len(MUTATIONS)
    kinds = {m.category for m in sql}
    assert {"join type", "filter", "CASE branch", "rounding", "COALESCE default", "dedup key"} <= kinds


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_each_mutation_edits_exactly_one_place_of_the_project(mutation, tmp_path):
    target = tmp_path / mutation.path
    target.parent.mkdir(parents=True)
    original = (ROOT / "dbt_project" / mutation.path).read_text()
    target.write_text(original)
    mutation.apply(tmp_path)
    pairs = zip(original.splitlines(), target.read_text().splitlines(), strict=True)
    assert sum(a != b for a, b in pairs) == 1


def test_a_mutation_that_no_longer_matches_names_the_file_and_the_text(tmp_path):
    (tmp_path / "a.sql").write_text("select 1\n")
    with pytest.raises(ValueError, match=r"mutation m: a.sql contains 'select 2' 0 times, expected once"):
        Mutation("m", "filter", "a.sql", "select 2", "select 3").apply(tmp_path)


def test_the_table_and_summary_separate_what_the_gate_catches_from_what_the_diff_shows():
    rows = [
        bench.Row("caught-and-shown", "dedup key", "a.sql", gate=["dbt-build: 1 test(s) fail (unique_x)"],
                  selected=3, changed=2, changed_models=["x", "y"], seconds=10.0),
        bench.Row("only-the-diff", "CASE branch", "b.sql", selected=1, changed=1, changed_models=["mart"],
                  diff_fails=["mart"], seconds=12.0),
        bench.Row("equivalent", "join type", "c.sql", selected=2, seconds=8.0),
    ]  # fmt: skip
    text = bench.table(rows)
    assert "only-the-diff" in text and "mart · FAILS (mart)" in text and "no data change" in text
    facts = bench.summary(rows, "1.0 1.0 1.0")
    assert facts["existing_gate_catches"] == 1 and facts["data_diff_shows"] == 2
    assert facts["data_diff_shows_gate_misses"] == 1 and facts["neither_no_data_change"] == 1
    assert (facts["models_selected"], facts["models_really_changed"]) == (6, 3)
    assert facts["seconds_per_diff_median"] == 10.0


@pytest.mark.slow
def test_one_mutation_end_to_end_the_diff_shows_what_the_gate_passes(dbt_project_repo):
    root = dbt_project_repo
    work = root / "build" / "datadiff" / "reference"
    reference = build_reference(root, root / "dbt_project", work, scale=1, seed=42)
    [mutation] = [m for m in MUTATIONS if m.id == "int-ticket-open-inverted"]
    row = bench.run_one(mutation, reference, root, None, scale=1, seed=42)
    assert row.error == ""
    assert row.changed_models[:1] == ["int_support_tickets_pivoted"] and "customer_health" in row.changed_models
    assert row.diff_fails == ["customer_health"]
    assert row.gate == []  # builds, tests pass, contract unchanged: only the diff sees it
