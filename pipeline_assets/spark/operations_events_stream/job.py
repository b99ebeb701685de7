"""Operations events stream: Kafka (MSK) -> validated, deduplicated events -> S3 raw layer.

Exactly-once into the raw layer rests on three things:
* the query's checkpoint (S3) records the Kafka offsets of every micro-batch before it runs and
  its completion after, so a restarted query replays an unfinished batch with the same batch id
  and the same offsets;
* the sink writes a micro-batch to `batch_id=<id>/` with overwrite, so that replay replaces
  its own earlier, partial output instead of adding to it;
* events are deduplicated on event_id in Spark state (dropDuplicatesWithinWatermark), so a
  producer's retry or a re-sent event within the watermark delay is written once.
Malformed events are not dropped: they go to the quarantine prefix with a reason.

The query's shape (topics, stateful operators, state key schema) is declared in query.json
beside this file; streaming_control refuses to restart a checkpoint under an incompatible one.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipeline_assets.spark.common.io import default_quarantine
from pipeline_assets.spark.common.session import job_session

JOB_ID = "operations_events_stream"
log = logging.getLogger(JOB_ID)

PACKAGE = "pipeline_assets.spark.operations_events_stream"
# The declared query shape; reading a file shipped in the same package is cheap and starts nothing.
CONTRACT: dict[str, Any] = json.loads(resources.files(PACKAGE).joinpath("query.json").read_text(encoding="utf-8"))
TOPICS: tuple[str, ...] = tuple(CONTRACT["sources"][0]["topics"])
_DEDUP = CONTRACT["stateful_operators"][0]
DEDUP_KEY: str = _DEDUP["keys"][0]["name"]
WATERMARK_COLUMN: str = _DEDUP["watermark"]["column"]
WATERMARK_DELAY: str = _DEDUP["watermark"]["delay"]

FUTURE_TOLERANCE_SECONDS = 300  # producer clocks drift; beyond five minutes an event is implausible
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# What the Spark Kafka source yields (the tests feed the same columns from files).
KAFKA_RECORD = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)

# The decoded reader schema as Spark sees it; test_streaming_job checks it against the .avsc fields.
DECODED = StructType(
    [
        StructField("event_id", StringType()),
        StructField("event_type", StringType()),
        StructField("occurred_at_ms", LongType()),
        StructField("account_id", StringType()),
        StructField("source_system", StringType()),
        StructField("attributes", MapType(StringType(), StringType())),
        StructField("site_id", StringType()),
        StructField("duration_ms", LongType()),
        StructField("schema_fingerprint", StringType()),
        StructField("error", StringType()),
    ]
)

_decoders: dict[str, Any] = {}


def decode_value(value: bytes | None, topic: str) -> tuple[Any, ...]:
    """Runs in the Python workers: one decoder per topic and process, built on first use."""
    from pipeline_assets.spark.operations_events_stream.codec import Decoder

    decoder = _decoders.get(topic)
    if decoder is None:
        decoder = _decoders[topic] = Decoder.for_topic(topic)
    result = decoder.decode(value)
    if result.record is None:
        return (None,) * 8 + (result.fingerprint, result.error)
    r = result.record
    occurred = r["occurred_at"]  # fastavro gives an aware datetime for timestamp-millis
    return (
        r["event_id"],
        r["event_type"],
        int(occurred.timestamp() * 1000),
        r["account_id"],
        r["source_system"],
        r["attributes"],
        r["site_id"],
        r["duration_ms"],
        result.fingerprint,
        None,
    )


def _reason(decoded: str) -> Any:
    """The first failed rule, in order of precedence: decoding, then content rules."""
    d = F.col(decoded)
    occurred = F.timestamp_millis(d["occurred_at_ms"])
    return (
        F.when(d["error"].isNotNull(), d["error"])
        .when(~d["event_id"].rlike(UUID_PATTERN), F.lit("invalid_event_id"))
        .when(F.trim(d["account_id"]) == "", F.lit("missing_account_id"))
        .when(
            occurred > F.col("timestamp") + F.expr(f"INTERVAL {FUTURE_TOLERANCE_SECONDS} SECONDS"),
            F.lit("occurred_in_future"),
        )
        .when(d["duration_ms"] < 0, F.lit("negative_duration"))
    )


def transform(records: DataFrame, *, schema_topic: str = TOPICS[0]) -> DataFrame:
    """Kafka records -> events (quarantine_reason null) and quarantined records, deduplicated on event_id.

    Works on a streaming or a static DataFrame with KAFKA_RECORD's columns. Messages are decoded
    with the subject of `schema_topic` (the contract's topic) whatever topic they came from, so an
    ephemeral test topic carries the same contract.
    """
    decode = F.udf(decode_value, DECODED)
    decoded = records.withColumn("_decoded", decode(F.col("value"), F.lit(schema_topic)))
    reason = _reason("_decoded")
    d = F.col("_decoded")
    occurred = F.timestamp_millis(d["occurred_at_ms"])
    lineage = F.concat_ws(
        ":", F.lit("quarantine"), F.col("kafka_topic"), F.col("kafka_partition"), F.col("kafka_offset")
    )
    flat = decoded.select(
        d["event_id"].alias("event_id"),
        d["event_type"].alias("event_type"),
        occurred.alias("occurred_at"),
        F.to_date(occurred).alias("event_date"),
        d["account_id"].alias("account_id"),
        d["source_system"].alias("source_system"),
        d["site_id"].alias("site_id"),
        d["duration_ms"].alias("duration_ms"),
        d["attributes"].alias("attributes"),
        d["schema_fingerprint"].alias("schema_fingerprint"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias(WATERMARK_COLUMN),
        F.col("value").alias("raw_value"),
        reason.alias("quarantine_reason"),
    )
    # Quarantined records get a key of their own so deduplication never merges two of them.
    keyed = flat.withColumn(
        DEDUP_KEY, F.when(F.col("quarantine_reason").isNull(), F.col("event_id")).otherwise(lineage)
    )
    if not keyed.isStreaming:
        # A static frame (tests, benchmark, backfills) has no watermark: plain deduplication is the same rule.
        return keyed.dropDuplicates([DEDUP_KEY])
    return keyed.withWatermark(WATERMARK_COLUMN, WATERMARK_DELAY).dropDuplicatesWithinWatermark([DEDUP_KEY])


def batch_path(base_uri: str, batch_id: int) -> str:
    return f"{base_uri.rstrip('/')}/batch_id={batch_id:010d}"


EVENT_COLUMNS = [
    "event_id",
    "event_type",
    "occurred_at",
    "event_date",
    "account_id",
    "source_system",
    "site_id",
    "duration_ms",
    "attributes",
    "schema_fingerprint",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    WATERMARK_COLUMN,
]
QUARANTINE_COLUMNS = [
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    WATERMARK_COLUMN,
    "raw_value",
    "quarantine_reason",
]


def batch_writer(raw_uri: str, quarantine_uri: str) -> Callable[[DataFrame, int], None]:
    """The foreachBatch sink: a replayed batch id overwrites its own output, so replay adds nothing."""

    def write(batch: DataFrame, batch_id: int) -> None:
        batch.persist()
        try:
            events = batch.where(F.col("quarantine_reason").isNull()).select(*EVENT_COLUMNS)
            quarantined = batch.where(F.col("quarantine_reason").isNotNull()).select(*QUARANTINE_COLUMNS)
            if not events.isEmpty():
                events.write.mode("overwrite").parquet(batch_path(raw_uri, batch_id))
            if not quarantined.isEmpty():
                quarantined.write.mode("overwrite").parquet(batch_path(quarantine_uri, batch_id))
        finally:
            batch.unpersist()

    return write


def start(
    events: DataFrame,
    *,
    checkpoint_uri: str,
    raw_uri: str,
    quarantine_uri: str,
    trigger: dict[str, Any],
    stop: GracefulStop | None = None,
) -> StreamingQuery:
    write = batch_writer(raw_uri, quarantine_uri)
    return (
        events.writeStream.queryName(JOB_ID)
        .foreachBatch(stop.gate(write) if stop is not None else write)
        .option("checkpointLocation", checkpoint_uri)
        .trigger(**trigger)
        .start()
    )


MSK_IAM_OPTIONS = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.sasl.mechanism": "AWS_MSK_IAM",
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
}


def kafka_options(bootstrap_servers: str, *, msk_iam: bool, max_offsets_per_trigger: int) -> dict[str, str]:
    options = {
        "kafka.bootstrap.servers": bootstrap_servers,
        "subscribe": ",".join(TOPICS),
        "startingOffsets": CONTRACT["sources"][0]["starting_offsets"],
        # Losing data (retention passed while the job was down) must stop the job, not skip silently.
        "failOnDataLoss": "true",
        "maxOffsetsPerTrigger": str(max_offsets_per_trigger),
    }
    return {**options, **(MSK_IAM_OPTIONS if msk_iam else {})}


def extract(spark: SparkSession, options: dict[str, str]) -> DataFrame:
    return spark.readStream.format("kafka").options(**options).load()


def resolve_bootstrap_servers(secret_id: str, client: Any) -> str:
    """The MSK bootstrap string lives in Secrets Manager (plain string or {"bootstrap_servers": ...})."""
    secret = client.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        parsed = json.loads(secret)
    except json.JSONDecodeError:
        return str(secret).strip()
    return str(parsed["bootstrap_servers"]) if isinstance(parsed, dict) else str(parsed)


class StopRequestedError(RuntimeError):
    """What the batch writer raises instead of starting a micro-batch once a stop was requested."""


class GracefulStop(threading.Event):
    """SIGTERM's flag, read by the query loop and by the batch writer (`gate`).

    EMR Serverless cancels a streaming job with SIGTERM and a grace period. Between micro-batches the loop
    stops the query at once. When batches run back to back (longer than the trigger interval: a catch-up, a
    loaded cluster) there is no moment between them, so the writer refuses the next batch instead: the one in
    progress finishes and commits, the refused one is in the offset log and not committed, and the next run
    replays it from there (its batch id overwrites its own output). Nothing is cut short by the grace's kill.
    """

    refused_batch: int | None = None

    def gate(self, write: Callable[[DataFrame, int], None]) -> Callable[[DataFrame, int], None]:
        def gated(batch: DataFrame, batch_id: int) -> None:
            if self.is_set():
                self.refused_batch = batch_id
                raise StopRequestedError(f"stop requested: batch {batch_id} not started; the next run replays it")
            write(batch, batch_id)

        return gated


def run_until_stopped(query: StreamingQuery, stop: GracefulStop, *, poll_s: int = 5) -> None:
    """Wait for the query; on a stop request, let the running micro-batch finish and start no other.

    Stopping between micro-batches means the checkpoint's last offsets are committed and nothing is replayed
    twice. The query's writer must be `stop.gate(...)`'d for batches that follow each other without a pause.
    """
    while query.isActive:
        if stop.is_set():
            while query.isActive and query.status["isTriggerActive"]:
                time.sleep(0.5)  # the batch in progress finishes; the gate refuses the next one
            query.stop()
            break
        query.awaitTermination(poll_s)
    if stop.refused_batch is not None:
        log.info("stopped after the batch in progress; batch %s is left to the next run", stop.refused_batch)
        return
    if query.exception() is not None:
        raise RuntimeError(f"streaming query failed: {query.exception()}")


# The name every environment's config uses (config/*.yaml streaming.bootstrap_servers_secret_name).
DEFAULT_BOOTSTRAP_SECRET = "data-platform/msk/bootstrap-servers"  # noqa: S105 (a secret name, not a secret)


def arguments() -> argparse.ArgumentParser:
    """The contract with the DAG factory's streaming job driver, plus what only this job needs."""
    parser = argparse.ArgumentParser(description="operations events: Kafka -> S3 raw layer")
    parser.add_argument("--pipeline-id", required=True, help="the pipeline spec's id (names the quarantine folder)")
    parser.add_argument("--topic", required=True, choices=TOPICS, help="must be a topic the query contract declares")
    parser.add_argument("--output", required=True, help="raw landing prefix; each micro-batch writes batch_id=<id>/")
    parser.add_argument("--checkpoint", required=True, help="the query's checkpoint (streaming_control snapshots it)")
    parser.add_argument("--quarantine", help="quarantine prefix, same layout (default: quarantine/<pipeline-id>/)")
    servers = parser.add_mutually_exclusive_group()
    servers.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (staging smoke runs, plain Kafka)")
    servers.add_argument(
        "--bootstrap-servers-secret", default=DEFAULT_BOOTSTRAP_SECRET, help="Secrets Manager id of the MSK servers"
    )
    parser.add_argument("--release-id", help="the release this run belongs to (logged; the run is also tagged)")
    parser.add_argument("--trigger-seconds", type=int, default=30, help="micro-batch interval")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=2_000_000, help="caps a catch-up batch")
    parser.add_argument("--no-msk-iam", action="store_true", help="plain Kafka (no MSK IAM authentication)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    servers = args.bootstrap_servers
    if servers is None:
        import boto3

        servers = resolve_bootstrap_servers(args.bootstrap_servers_secret, boto3.client("secretsmanager"))
    spark = job_session(JOB_ID)
    options = kafka_options(servers, msk_iam=not args.no_msk_iam, max_offsets_per_trigger=args.max_offsets_per_trigger)
    stop = GracefulStop()
    query = start(
        transform(extract(spark, options)),
        checkpoint_uri=args.checkpoint,
        raw_uri=args.output,
        quarantine_uri=args.quarantine or default_quarantine(args.output, args.pipeline_id),
        trigger={"processingTime": f"{args.trigger_seconds} seconds"},
        stop=stop,
    )
    log.info("release %s: query %s started on %s", args.release_id, query.id, args.checkpoint)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_until_stopped(query, stop)
    return 0
