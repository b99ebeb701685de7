"""Arguments, reads and idempotent writes shared by the jobs.

The arguments are the contract with the DAG factory (dags/platform_dags/factory.py), which
renders them per data interval: --source is the inbound prefix, --output the landing folder of
that interval (already unique per interval), so a run replaces exactly its own folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession


def overwrite(df: DataFrame, path: str) -> str:
    """Replace one folder: a rerun of the same interval leaves the same data and touches nothing else.

    An empty result is still written (an empty folder), so it also replaces what an earlier run left.
    """
    df.write.mode("overwrite").parquet(path)
    return path


def read_landing(spark: SparkSession, source_uri: str, ingest_date: str, fmt: str) -> DataFrame:
    """One ingest date of a source system's export, every value read as text (typing is the transform's job)."""
    path = f"{source_uri.rstrip('/')}/ingest_date={ingest_date}"
    if fmt == "json":
        return spark.read.option("primitivesAsString", "true").option("mode", "PERMISSIVE").json(path)
    if fmt == "csv":
        return spark.read.option("header", "true").option("mode", "PERMISSIVE").csv(path)
    raise ValueError(f"unsupported landing format {fmt!r}")


def default_quarantine(output_uri: str, pipeline_id: str) -> str:
    """quarantine/<pipeline>/ in the output's bucket, plus the output's own last folder (its interval)."""
    parsed = urlparse(output_uri)
    leaf = parsed.path.rstrip("/").rsplit("/", 1)[-1]
    interval = f"{leaf}/" if "=" in leaf else ""
    base = f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme else ""
    return f"{base}/quarantine/{pipeline_id}/{interval}"


def iso_datetime(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"timestamp without a time zone: {value!r} (pass the UTC offset)")
    return parsed.astimezone(dt.timezone.utc)  # noqa: UP017 (ships to EMR's Python 3.9)


def batch_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pipeline-id", required=True, help="the pipeline spec's id (names the quarantine folder)")
    parser.add_argument("--source", required=True, help="inbound prefix; the job reads <it>/ingest_date=<date>/")
    parser.add_argument("--output", required=True, help="landing folder of this data interval (replaced)")
    parser.add_argument("--interval-start", required=True, type=iso_datetime, help="data interval start, ISO 8601")
    parser.add_argument("--interval-end", required=True, type=iso_datetime, help="data interval end, ISO 8601")
    parser.add_argument("--quarantine", help="quarantine folder (default: quarantine/<pipeline-id>/<interval>/)")
    return parser
