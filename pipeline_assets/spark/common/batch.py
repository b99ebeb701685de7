"""The shape every batch job shares: arguments, extract, pure transform, load with quarantine."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame, SparkSession

from pipeline_assets.spark.common.io import batch_arguments, default_quarantine, overwrite
from pipeline_assets.spark.common.session import job_session
from pipeline_assets.spark.common.tabular import TableSpec, drift_report, split_quarantine


def load(result: DataFrame, *, output_uri: str, quarantine_uri: str) -> None:
    """Valid rows to the interval's output, the rest (with their reasons) to quarantine; both overwritten."""
    valid, quarantined = split_quarantine(result)
    overwrite(valid, output_uri)
    overwrite(quarantined, quarantine_uri)


def run_batch_job(
    *,
    job_id: str,
    description: str,
    argv: Sequence[str] | None,
    table: TableSpec,
    extract: Callable[[SparkSession, str, str], DataFrame],
    transform: Callable[[DataFrame], DataFrame],
) -> int:
    log = logging.getLogger(job_id)
    args = batch_arguments(description).parse_args(argv)
    ingest_date = args.interval_start.date().isoformat()  # the export of the interval's (UTC) day
    spark = job_session(job_id)
    raw = extract(spark, args.source, ingest_date)
    drift = drift_report(raw.columns, table)
    if drift.renamed or drift.unexpected or drift.missing:
        log.warning("schema drift in %s: %s", args.source, drift)
    result = transform(raw).cache()
    quarantine = args.quarantine or default_quarantine(args.output, args.pipeline_id)
    load(result, output_uri=args.output, quarantine_uri=quarantine)
    return 0
