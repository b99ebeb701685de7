"""Both sides of a change built on the same synthetic data; the heavy paths are marked slow."""

import pytest

from cicd.dbt.datadiff.mutations import MUTATIONS
from cicd.dbt.datadiff.run import DiffError, default_base, diff_working_tree, export_project, merge_base


def test_the_base_project_is_exported_as_committed_not_as_in_the_working_tree(dbt_project_repo, tmp_path_factory):
    sql = dbt_project_repo / "dbt_project/models/marts/operations/orders.sql"
    committed = sql.read_text()
    sql.write_text("select 1 as order_id\n")
    out = tmp_path_factory.mktemp("export")
    project = export_project(dbt_project_repo, "HEAD", out)
    assert (project / "models/marts/operations/orders.sql").read_text() == committed
    assert (project / "dbt_project.yml").exists()


def test_an_unknown_base_ref_is_an_error_naming_it(dbt_project_repo):
    with pytest.raises(DiffError, match="git merge-base origin/nope HEAD failed"):
        merge_base(dbt_project_repo, "origin/nope")


def test_without_main_the_default_base_asks_for_one(tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "trunk"], cwd=tmp_path, check=True)
    with pytest.raises(DiffError, match="--base <ref>"):
        default_base(tmp_path)


@pytest.mark.slow
def test_the_command_line_diff_builds_the_base_once_and_diffs_a_changed_staging_model_and_what_reads_it(
    dbt_project_repo,
):
    [mutation] = [m for m in MUTATIONS if m.id == "stg-closed-means-won"]
    mutation.apply(dbt_project_repo / "dbt_project")
    run = diff_working_tree(dbt_project_repo, "main", scale=1, seed=42)
    by_name = {m.name: m for m in run.models}
    assert by_name["stg_crm__opportunities"].reasons == ["SQL changed"]
    assert {"int_opportunities_aggregated_to_accounts", "customer_health"} <= set(by_name)
    assert by_name["customer_health"].state == "changed"
    assert "accounts" not in by_name  # a sibling that reads nothing changed is not rebuilt
    health = by_name["customer_health"].comparison
    assert health is not None and health.compared_by == "key" and health.key == ["account_id"]
    assert {c.column for c in health.columns} >= {"open_pipeline_amount_usd"}
    again = diff_working_tree(dbt_project_repo, "main", scale=1, seed=42)  # the base comes from the cache
    assert again.timings["reference"] < 1 and [m.state for m in again.models] == [m.state for m in run.models]
