from pathlib import Path

from cicd.dbt.dialect import check_compiled

COMPILED = Path(__file__).resolve().parents[2] / "fixtures" / "dbt" / "compiled"


def test_duckdb_only_sql_that_the_emulator_accepts_is_reported():
    findings = check_compiled(COMPILED)
    assert {f.file for f in findings} == {"dbt_project/models/marts/crm/duckdb_only.sql"}
    assert sorted(f.rule for f in findings) == ["dbt:not-a-snowflake-function", "dbt:snowflake-syntax"]
    messages = " ".join(f.message for f in findings)
    assert "list_value() is not a Snowflake function" in messages
    assert "FILTER (WHERE ...)" in messages
    assert all(f.fix for f in findings)


def test_unparseable_sql_points_at_the_declaring_yaml(tmp_path):
    broken = tmp_path / "data_platform" / "models" / "marts" / "_m.yml"
    broken.mkdir(parents=True)
    (broken / "some_test.sql").write_text("select from where (")
    [finding] = check_compiled(tmp_path)
    assert finding.rule == "dbt:snowflake-syntax"
    assert finding.file == "dbt_project/models/marts/_m.yml"
