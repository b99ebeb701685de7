"""Snowflake stages: create a stage, PUT the streaming job's real sink files, COPY INTO with load history.

Locally on fakesnow; in staging on a per-run schema that is dropped afterwards. The COPY
options are the DAG factory's (dags/platform_dags/factory.py copy_into_sql): Parquet, columns
matched by name, abort on error.
"""

import pytest

from pipeline_assets import schemas
from pipeline_assets.spark.operations_events_stream import codec, job, synthetic

pytestmark = pytest.mark.external

TABLE_DDL = """
create or replace table EVENTS (
    EVENT_ID varchar, EVENT_TYPE varchar, OCCURRED_AT timestamp_ntz, EVENT_DATE date, ACCOUNT_ID varchar,
    SOURCE_SYSTEM varchar, SITE_ID varchar, DURATION_MS number, ATTRIBUTES variant, SCHEMA_FINGERPRINT varchar,
    KAFKA_TOPIC varchar, KAFKA_PARTITION number, KAFKA_OFFSET number, KAFKA_TIMESTAMP timestamp_ntz
)
"""
COPY = (
    "copy into EVENTS from @LANDING/landing/operations_events/ "
    "file_format = (type = parquet) match_by_column_name = case_insensitive on_error = abort_statement"
)


def sink_files(spark, tmp_path, batch_id, events):
    """Run the streaming transform and its foreachBatch sink on these events; return the files it wrote."""
    schema = schemas.current_schema("operations.events.v1-value")
    records = spark.createDataFrame(
        synthetic.kafka_rows([codec.encode(e, schema) for e in events], topic=job.TOPICS[0]), job.KAFKA_RECORD
    )
    job.batch_writer(str(tmp_path / "raw"), str(tmp_path / "quarantine"))(job.transform(records), batch_id)
    return sorted((tmp_path / "raw" / f"batch_id={batch_id:010d}").glob("*.parquet"))


def put(target, files, batch_id):
    for path in files:
        target.query(
            f"put file://{path} @LANDING/landing/operations_events/batch_id={batch_id:010d}/ auto_compress = false"
        )


@pytest.fixture(scope="module")
def landing(snowflake_schema):
    snowflake_schema.query("create or replace stage LANDING")
    snowflake_schema.query(TABLE_DDL)
    return snowflake_schema


def test_copy_loads_each_staged_file_once(landing, spark, tmp_path):
    events = synthetic.events(8, seed=21)
    put(landing, sink_files(spark, tmp_path, 1, events), 1)
    first = landing.query(COPY)
    assert {row[1] for row in first} == {"LOADED"}
    assert landing.query("select count(*) from EVENTS") == [(8,)]

    again = landing.query(COPY)  # a retried or re-run load task
    assert {row[1] for row in again} == {"LOAD_SKIPPED"}
    assert landing.query("select count(*) from EVENTS") == [(8,)]

    later = synthetic.events(3, seed=22)
    put(landing, sink_files(spark, tmp_path, 2, later), 2)
    landing.query(COPY)  # only the new batch's files load
    assert landing.query("select count(*), count(distinct EVENT_ID) from EVENTS") == [(11, 11)]
    loaded = landing.query(
        f"select FILE_NAME, ROW_COUNT from {landing.database}.information_schema.load_history "
        f"where TABLE_NAME = 'EVENTS' and SCHEMA_NAME = '{landing.schema}' and STATUS = 'LOADED'"
    )
    assert sum(count for _, count in loaded) == 11
    assert len({name for name, _ in loaded}) == len(loaded)  # no file twice


def test_a_replayed_micro_batch_reloads_under_new_file_names(landing, spark, tmp_path):
    # Replay overwrites batch_id=<id>/ with new part-<uuid> names: load history cannot know they are
    # the same events. This is why the raw table is deduplicated on event_id downstream.
    events = synthetic.events(4, seed=31)
    put(landing, sink_files(spark, tmp_path / "run1", 7, events), 7)
    landing.query(COPY)
    # On S3 the overwrite deletes the first files; on a stage they may stay: either way only new names load.
    put(landing, sink_files(spark, tmp_path / "run2", 7, events), 7)
    landing.query(COPY)
    ids = [e["event_id"] for e in events]
    in_list = ", ".join(f"'{i}'" for i in ids)
    rows = landing.query(f"select count(*), count(distinct EVENT_ID) from EVENTS where EVENT_ID in ({in_list})")
    assert rows == [(8, 4)]
