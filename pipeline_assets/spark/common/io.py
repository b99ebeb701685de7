"""Reads and idempotent writes shared by the jobs."""

from __future__ import annotations

import argparse
import datetime as dt

from pyspark.sql import DataFrame, SparkSession


def partition_path(base_uri: str, column: str, value: str) -> str:
    return f"{base_uri.rstrip('/')}/{column}={value}"


def overwrite_partition(df: DataFrame, base_uri: str, column: str, value: str) -> str:
    """Replace exactly one partition (a rerun for the same date leaves the same data, other dates untouched).

    Written to the partition's own path rather than with partitionBy + dynamic overwrite: an empty
    result must still replace what a previous run of the same date wrote there.
    """
    path = partition_path(base_uri, column, value)
    df.write.mode("overwrite").parquet(path)
    return path


def read_landing(spark: SparkSession, source_uri: str, run_date: str, fmt: str) -> DataFrame:
    """The landing folder of one ingest date, every value read as text (types are the transform's job)."""
    path = partition_path(source_uri, "ingest_date", run_date)
    if fmt == "json":
        return spark.read.option("primitivesAsString", "true").option("mode", "PERMISSIVE").json(path)
    if fmt == "csv":
        return spark.read.option("header", "true").option("mode", "PERMISSIVE").csv(path)
    raise ValueError(f"unsupported landing format {fmt!r}")


def iso_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def batch_arguments(description: str) -> argparse.ArgumentParser:
    """The arguments every batch job takes; the DAG passes its logical date and the environment's prefixes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run-date", required=True, type=iso_date, help="logical date (the DAG's ds), YYYY-MM-DD")
    parser.add_argument(
        "--source-uri", required=True, help="landing prefix; the job reads <it>/ingest_date=<run-date>/"
    )
    parser.add_argument(
        "--target-uri", required=True, help="curated table prefix; writes <it>/snapshot_date=<run-date>/"
    )
    parser.add_argument("--quarantine-uri", required=True, help="quarantine prefix; writes <it>/run_date=<run-date>/")
    return parser
