import datetime as dt
import json
import threading
import time

import boto3
import pytest
from moto import mock_aws

from pipeline_assets import schemas
from pipeline_assets.spark.operations_events_stream import codec, job, synthetic

SUBJECT = "operations.events.v1-value"
TOPIC = job.TOPICS[0]


def message(event):
    return codec.encode(event, schemas.current_schema(SUBJECT))


def records(spark, values, **kwargs):
    return spark.createDataFrame(synthetic.kafka_rows(values, topic=TOPIC, **kwargs), job.KAFKA_RECORD)


def test_decoded_struct_follows_the_reader_schema():
    avro_fields = [f["name"] for f in schemas.current_schema(SUBJECT)["fields"]]
    spark_fields = [f.name for f in job.DECODED.fields]
    assert spark_fields == ["occurred_at_ms" if name == "occurred_at" else name for name in avro_fields] + [
        "schema_fingerprint",
        "error",
    ]


def test_valid_events_pass_with_lineage_and_event_date(spark):
    events = synthetic.events(3)
    rows = job.transform(records(spark, [message(e) for e in events], first_offset=40)).collect()
    assert sorted(r.event_id for r in rows) == sorted(e["event_id"] for e in events)
    assert all(r.quarantine_reason is None for r in rows)
    first = next(r for r in rows if r.event_id == events[0]["event_id"])
    assert (first.kafka_topic, first.kafka_partition, first.kafka_offset) == (TOPIC, 0, 40)
    assert first.event_date == dt.date(2024, 5, 1)
    assert first.occurred_at == events[0]["occurred_at"].replace(tzinfo=None)  # session time zone is UTC
    assert first.dedup_key == first.event_id


def test_every_malformed_event_is_quarantined_with_its_reason(spark):
    good, bad_id, no_account, future, negative = synthetic.events(5, seed=3)
    bad_id["event_id"] = "not-a-uuid"
    no_account["account_id"] = "  "
    future["occurred_at"] = synthetic.EPOCH + dt.timedelta(hours=2)
    negative["duration_ms"] = -1
    values = [message(e) for e in (good, bad_id, no_account, future, negative)] + [b"garbage", None]
    rows = job.transform(records(spark, values)).collect()
    reasons = sorted(str(r.quarantine_reason) for r in rows)
    assert reasons == sorted(
        [
            "None",
            "invalid_event_id",
            "missing_account_id",
            "occurred_in_future",
            "negative_duration",
            "not_single_object_encoded",
            "null_value",
        ]
    )
    garbage = next(r for r in rows if r.quarantine_reason == "not_single_object_encoded")
    assert garbage.raw_value == bytearray(b"garbage")
    # Quarantined rows never deduplicate into each other, even with the same (missing) event id.
    assert len({r.dedup_key for r in rows}) == len(rows)


def test_a_redelivered_event_is_kept_once(spark):
    [event] = synthetic.events(1)
    rows = job.transform(records(spark, [message(event), message(event)])).collect()
    assert [r.event_id for r in rows] == [event["event_id"]]


def test_declared_contract_matches_the_streaming_query_plan(spark, tmp_path):
    land(spark, tmp_path, "f", synthetic.kafka_rows([message(e) for e in synthetic.events(1)], topic=TOPIC))
    plan = job.transform(spark.readStream.schema(job.KAFKA_RECORD).parquet(str(tmp_path / "f")))
    analyzed = plan._jdf.queryExecution().analyzed().toString()
    assert f"DeduplicateWithinWatermark [{job.DEDUP_KEY}" in analyzed
    assert f"EventTimeWatermark {job.WATERMARK_COLUMN}" in analyzed
    [operator] = job.CONTRACT["stateful_operators"]
    for key in operator["keys"]:
        assert plan.schema[key["name"]].dataType.simpleString() == key["type"]


def run_available(spark, source, out):
    """One availableNow run of the real query over a file source, as a restart on EMR would run it."""
    stream = spark.readStream.schema(job.KAFKA_RECORD).parquet(f"{source}/*/*.parquet")  # each landed file set
    query = job.start(
        job.transform(stream),
        checkpoint_uri=str(out / "checkpoint"),
        raw_uri=str(out / "raw"),
        quarantine_uri=str(out / "quarantine"),
        trigger={"availableNow": True},
    )
    query.awaitTermination()
    assert query.exception() is None


def land(spark, source, name, rows):
    spark.createDataFrame(rows, job.KAFKA_RECORD).coalesce(1).write.parquet(str(source / name))


@pytest.mark.slow  # three streaming runs of the job end to end, with a crash and a replay (~10 s)
def test_streaming_dedup_across_batches_replay_and_quarantine(spark, tmp_path):
    source, out = tmp_path / "kafka", tmp_path / "out"
    first = synthetic.events(4, seed=11)
    land(spark, source, "f1", synthetic.kafka_rows([message(e) for e in first] + [b"junk"], topic=TOPIC))
    run_available(spark, source, out)

    # The producer retried two events (same event_id, new offsets) and sent two new ones.
    second = synthetic.events(2, seed=12)
    retried = [message(e) for e in first[:2] + second]
    land(spark, source, "f2", synthetic.kafka_rows(retried, topic=TOPIC, first_offset=5))
    run_available(spark, source, out)

    raw = spark.read.parquet(str(out / "raw"))
    ids = [r.event_id for r in raw.collect()]
    assert sorted(ids) == sorted(e["event_id"] for e in first + second)  # six events, each once
    batches = sorted(r.batch_id for r in raw.select("batch_id").distinct().collect())
    assert len(batches) == 2  # one per run (stateful queries also run empty batches that write nothing)
    [bad] = spark.read.parquet(str(out / "quarantine")).collect()
    assert (bad.quarantine_reason, bad.kafka_offset) == ("not_single_object_encoded", 4)

    # The process died after the sink wrote the last batch but before Spark committed it.
    last = batches[-1]
    crash_before_commit(out / "checkpoint", last)
    last_batch = out / "raw" / f"batch_id={last:010d}"
    files_before = sorted(p.name for p in last_batch.glob("*.parquet"))
    run_available(spark, source, out)  # the restart replays that batch id with the same offsets
    files_after = sorted(p.name for p in last_batch.glob("*.parquet"))
    assert files_after != files_before  # the batch really ran again...
    assert sorted(r.event_id for r in spark.read.parquet(str(out / "raw")).collect()) == sorted(
        ids
    )  # ...adding nothing


def crash_before_commit(checkpoint, batch_id):
    """Leave the checkpoint as a crash after batch `batch_id`'s sink write, before its commit, would."""
    for log in ("commits", "offsets"):
        for entry in (checkpoint / log).iterdir():
            if entry.name.isdigit() and (
                int(entry.name) > batch_id or (log == "commits" and int(entry.name) == batch_id)
            ):
                entry.unlink()
                (checkpoint / log / f".{entry.name}.crc").unlink(missing_ok=True)  # the local filesystem's checksum


@pytest.mark.slow  # a real streaming query that runs for 3 s of wall time before the stop
def test_graceful_stop_waits_for_the_batch_then_stops(spark, tmp_path):
    stream = spark.readStream.format("rate").option("rowsPerSecond", 50).load()
    query = (
        stream.writeStream.foreachBatch(lambda df, _: df.count())
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(processingTime="1 second")
        .start()
    )
    stop = job.GracefulStop()
    timer = threading.Timer(3.0, stop.set)
    timer.start()
    job.run_until_stopped(query, stop, poll_s=1)
    assert not query.isActive and query.exception() is None
    assert (tmp_path / "cp" / "commits" / "0").exists()  # at least one batch committed before stopping


@pytest.mark.slow  # a real streaming query whose batches run back to back for 4 s before the stop
def test_a_stop_while_batches_run_back_to_back_ends_after_the_batch_in_progress(spark, tmp_path):
    # Batches longer than the trigger interval (a catch-up, a loaded machine) leave no idle moment between them.
    # Waiting for one let EMR's grace period run out, and the job was killed in the middle of a batch.
    written: list[int] = []

    def slow_write(batch, batch_id):
        time.sleep(1.0)
        batch.count()
        written.append(batch_id)

    stop = job.GracefulStop()
    checkpoint = tmp_path / "cp"
    query = (
        spark.readStream.format("rate").option("rowsPerSecond", 20).load()
        .writeStream.foreachBatch(stop.gate(slow_write))
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="100 milliseconds")
        .start()
    )  # fmt: skip
    errors: list[BaseException] = []

    def run() -> None:
        try:
            job.run_until_stopped(query, stop, poll_s=1)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(4.0)
    stopped_at = time.monotonic()
    stop.set()
    runner.join(timeout=60)
    if runner.is_alive():
        query.stop()
        runner.join()
        pytest.fail("the query did not stop within 60 s of the request (it waited for a gap between batches)")
    assert time.monotonic() - stopped_at < 20 and errors == [] and not query.isActive
    committed = sorted(int(p.name) for p in (checkpoint / "commits").iterdir() if p.name.isdigit())
    logged = sorted(int(p.name) for p in (checkpoint / "offsets").iterdir() if p.name.isdigit())
    assert committed == written and len(written) >= 2  # every batch it wrote committed; none was cut short
    assert stop.refused_batch == logged[-1] == committed[-1] + 1  # logged, not started: the next run replays it


def test_kafka_options_for_msk_iam():
    options = job.kafka_options("b-1:9098", msk_iam=True, max_offsets_per_trigger=1000)
    assert options["subscribe"] == "operations.events.v1"
    assert options["failOnDataLoss"] == "true"
    assert options["kafka.sasl.mechanism"] == "AWS_MSK_IAM"
    assert "kafka.sasl.mechanism" not in job.kafka_options("localhost:9092", msk_iam=False, max_offsets_per_trigger=1)


@mock_aws
@pytest.mark.parametrize("secret", ["b-1:9098,b-2:9098", json.dumps({"bootstrap_servers": "b-1:9098,b-2:9098"})])
def test_bootstrap_servers_from_secrets_manager(secret):
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    client.create_secret(Name="data-platform/msk/bootstrap-servers", SecretString=secret)
    assert job.resolve_bootstrap_servers("data-platform/msk/bootstrap-servers", client) == "b-1:9098,b-2:9098"


def test_arguments_from_the_dag_factory_driver():
    # What dags/platform_dags/factory.py renders for a kafka source.
    args = job.arguments().parse_args(
        [
            "--pipeline-id", "operations_events",
            "--topic", "operations.events.v1",
            "--output", "s3://raw/landing/operations_events/",
            "--checkpoint", "s3://checkpoints/operations_events_stream/",
        ]
    )  # fmt: skip
    assert (args.bootstrap_servers_secret, args.trigger_seconds, args.no_msk_iam) == (
        job.DEFAULT_BOOTSTRAP_SECRET,
        30,
        False,
    )


def test_a_topic_outside_the_query_contract_is_refused(capsys):
    with pytest.raises(SystemExit):
        job.arguments().parse_args(
            ["--pipeline-id", "p", "--topic", "crm.accounts.v1", "--output", "s3://r/x", "--checkpoint", "s3://c/x"]
        )
    assert "invalid choice" in capsys.readouterr().err
