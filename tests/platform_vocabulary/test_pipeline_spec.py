"""The pipeline spec model: valid shapes load, and every bad spec names its file, line and field."""

import datetime as dt
import time
from pathlib import Path

import pytest
import yaml

from platform_vocabulary.pipeline_spec import PipelineSpecError, load_spec, parse_duration

DAGS = Path(__file__).resolve().parents[2] / "dags"

BATCH = {
    "id": "crm_contacts",
    "description": "CRM contacts landed nightly for the contacts mart.",
    "owner": "crm-data",
    "domain": "crm",
    "schedule": "0 3 * * *",
    "start_date": "2025-01-01",
    "source": {"kind": "s3", "prefix": "inbound/crm/contacts/"},
    "spark": {"job": "crm_contacts_batch", "size": "small"},
    "load": {"table": "RAW_CRM.CONTACTS", "stage": "RAW_LANDING.RAW_BUCKET"},
    "dbt": {"selector": "crm_contacts"},
    "freshness_sla": "6h",
}


def write(tmp_path: Path, spec: dict, name: str | None = None) -> Path:
    path = tmp_path / f"{name or spec['id']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def problems(tmp_path: Path, spec: dict, name: str | None = None) -> list:
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(write(tmp_path, spec, name))
    return caught.value.problems


def line_of(path: Path, key: str) -> int:
    lines = path.read_text().splitlines()
    return next(number for number, text in enumerate(lines, start=1) if text.lstrip().startswith(f"{key}:"))


@pytest.mark.parametrize("path", sorted((DAGS / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_every_committed_spec_is_valid(path):
    spec = load_spec(path)
    assert spec.id == path.stem


def test_a_valid_batch_spec_has_defaults_for_what_it_leaves_out(tmp_path):
    spec = load_spec(write(tmp_path, BATCH))
    assert spec.retries == 3
    assert spec.max_active_runs == 1
    assert spec.freshness_sla == dt.timedelta(hours=6)
    assert spec.shape == "batch"
    assert not spec.is_streaming


def test_bad_enum_names_file_line_field_and_allowed_values(tmp_path):
    path = write(tmp_path, {**BATCH, "spark": {"job": "crm_contacts_batch", "size": "huge"}})
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.field == "spark.size"
    assert problem.line == line_of(path, "size")
    assert "'small', 'medium' or 'large'" in problem.message
    assert "huge" in problem.message
    assert str(problem).startswith(f"{path}:{problem.line}: spark.size:")


def test_missing_and_unknown_fields_are_reported_together(tmp_path):
    spec = {key: value for key, value in BATCH.items() if key != "owner"} | {"ownr": "crm-data"}
    found = {(p.field, p.message) for p in problems(tmp_path, spec)}
    assert ("owner", "required field `owner` is missing from the file") in found
    assert ("ownr", "unknown field `ownr` in the file; did you mean `owner`?") in found


def test_file_name_must_be_the_pipeline_id(tmp_path):
    (problem,) = problems(tmp_path, BATCH, name="crm_contacts_v2")
    assert problem.field == "id"
    assert "crm_contacts_v2.yaml" in problem.message
    assert problem.line == 1


@pytest.mark.parametrize(
    ("change", "field", "phrase"),
    [
        ({"schedule": "sometimes"}, "schedule", "cron expression"),
        ({"schedule": "@once"}, "schedule", "cron expression"),
        ({"freshness_sla": 6}, "freshness_sla", "duration like"),
        ({"retries": 1}, "retries", "greater than or equal to 2"),
        ({"domain": "finance"}, "domain", "'crm', 'product' or 'operations'"),
        ({"source": {"kind": "ftp", "prefix": "x/"}}, "source.kind", "'s3', 'kafka', 'snowflake_stage'"),
        ({"source": {"kind": "s3", "prefix": "s3://bucket/x/"}}, "source.prefix", "should match pattern"),
        ({"load": {"table": "ANALYTICS.RAW_CRM.CONTACTS", "stage": "A.B"}}, "load.table", "should match pattern"),
        ({"spark": None}, "spark", "needs a Spark job"),
        ({"load": None}, "load", "must be loaded"),
        ({"load": {"table": "RAW_CRM.CONTACTS"}}, "load.stage", "external stage"),
        ({"publish": {"data_service": "contacts"}, "dbt": None}, "publish", "dbt mart"),
        ({"streaming": {"supervisor_schedule": "*/5 * * * *"}}, "streaming", "only a kafka source"),
        ({"task_timeout": "5h", "dagrun_timeout": "2h"}, "task_timeout", "exceeds dagrun_timeout"),
    ],
)
def test_each_bad_value_is_named_by_field(tmp_path, change, field, phrase):
    spec = {key: value for key, value in {**BATCH, **change}.items() if value is not None}
    found = problems(tmp_path, spec)
    assert [p.field for p in found] == [field], found
    assert phrase in found[0].message
    assert found[0].line is not None


def test_snowflake_stage_source_takes_no_spark_job_and_no_second_stage(tmp_path):
    stage = {**BATCH, "source": {"kind": "snowflake_stage", "stage": "VENDOR.DROP", "path": "contacts/"}}
    assert [p.field for p in problems(tmp_path, stage)] == ["spark"]
    del stage["spark"]
    assert [p.field for p in problems(tmp_path, stage)] == ["load.stage"]
    stage["load"] = {"table": "RAW_CRM.CONTACTS"}
    assert load_spec(write(tmp_path, stage)).shape == "batch"


def test_kafka_source_is_streaming_with_a_supervisor(tmp_path):
    spec = {**BATCH, "source": {"kind": "kafka", "topic": "crm.contacts.v1"}, "streaming": {}}
    loaded = load_spec(write(tmp_path, spec))
    assert loaded.is_streaming
    assert loaded.supervisor_dag_id == "crm_contacts_supervisor"


def test_not_yaml_and_not_a_mapping(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n")
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(broken)
    assert caught.value.problems[0].line is not None
    listed = tmp_path / "listed.yaml"
    listed.write_text("- id: listed\n")
    with pytest.raises(PipelineSpecError, match="must be a mapping"):
        load_spec(listed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("45m", dt.timedelta(minutes=45)), ("1h30m", dt.timedelta(minutes=90)), ("1d", dt.timedelta(days=1))],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "6 hours", "PT6H", "-1h"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_a_billion_laughs_spec_fails_fast_naming_the_file_and_line(tmp_path):
    bomb = Path(__file__).resolve().parents[1] / "fixtures" / "yaml" / "billion_laughs.yaml"
    path = tmp_path / "crm_contacts.yaml"
    path.write_bytes(bomb.read_bytes())
    started = time.perf_counter()
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(path)
    assert time.perf_counter() - started < 5
    assert str(caught.value.problems[0]).startswith(f"{path}:3: YAML anchor &l0 is not allowed")
    assert caught.value.problems[0].rule == "yaml-anchor"


def test_retries_written_twice_is_refused_at_the_second_one(tmp_path):
    path = write(tmp_path, BATCH | {"retries": 2})
    path.write_text(path.read_text() + "retries: 5\n")
    [problem] = problems_of_file(path)
    assert (problem.rule, problem.line) == ("duplicate-key", len(path.read_text().splitlines()))
    assert "duplicate key `retries`" in problem.message


def test_a_missing_field_points_at_its_section_and_says_what_to_add(tmp_path):
    path = write(tmp_path, BATCH | {"spark": {"job": "crm_contacts_batch"}})
    [problem] = problems_of_file(path)
    assert (problem.field, problem.rule, problem.line) == ("spark.size", "missing-field", line_of(path, "spark"))
    assert problem.fix == f"add `size:` under `spark:` (line {problem.line}); one of small, medium, large"


def test_a_misspelt_field_gets_did_you_mean_from_the_model(tmp_path):
    path = write(tmp_path, BATCH | {"retires": 4})
    [problem] = problems_of_file(path)
    assert (problem.field, problem.rule, problem.line) == ("retires", "unknown-field", line_of(path, "retires"))
    assert "did you mean `retries`?" in problem.message


def problems_of_file(path: Path) -> list:
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(path)
    return caught.value.problems
