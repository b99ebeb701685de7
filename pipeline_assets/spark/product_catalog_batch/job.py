"""Product catalog batch: landing CSV -> curated products (latest per SKU) + quarantine."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline_assets.spark.common.io import batch_arguments, default_quarantine, overwrite, read_landing
from pipeline_assets.spark.common.session import job_session
from pipeline_assets.spark.common.tabular import ColumnSpec, TableSpec, drift_report, split_quarantine, transform_table

JOB_ID = "product_catalog_batch"
log = logging.getLogger(JOB_ID)

PRODUCTS = TableSpec(
    columns=(
        ColumnSpec("sku", "string", required=True, aliases=("item_sku", "product_sku")),
        ColumnSpec("product_name", "string", required=True, aliases=("name", "title")),
        ColumnSpec("category", "string", aliases=("product_category",)),
        ColumnSpec("list_price", "decimal(12,2)", required=True, aliases=("price",)),
        ColumnSpec("currency_code", "string", required=True, aliases=("currency",)),
        ColumnSpec("is_active", "boolean", aliases=("active",)),
        ColumnSpec("updated_at", "timestamp", required=True, aliases=("last_updated",)),
    ),
    key=("sku",),
    latest_by="updated_at",
    rules=(
        ("negative_list_price", lambda: F.col("list_price") < 0),
        ("invalid_currency_code", lambda: ~F.col("currency_code").rlike("^[A-Z]{3}$")),
    ),
)


def extract(spark: SparkSession, source_uri: str, ingest_date: str) -> DataFrame:
    return read_landing(spark, source_uri, ingest_date, "csv")


def transform(raw: DataFrame) -> DataFrame:
    """Products conformed, validated and deduplicated; quarantined rows carry quarantine_reason."""
    return transform_table(raw, PRODUCTS)


def load(result: DataFrame, *, output_uri: str, quarantine_uri: str) -> None:
    valid, quarantined = split_quarantine(result)
    overwrite(valid, output_uri)
    overwrite(quarantined, quarantine_uri)


def main(argv: Sequence[str] | None = None) -> int:
    args = batch_arguments(__doc__ or JOB_ID).parse_args(argv)
    ingest_date = args.interval_start.date().isoformat()  # the export of the interval's (UTC) day
    spark = job_session(JOB_ID)
    raw = extract(spark, args.source, ingest_date)
    drift = drift_report(raw.columns, PRODUCTS)
    if drift.renamed or drift.unexpected or drift.missing:
        log.warning("schema drift in %s: %s", args.source, drift)
    result = transform(raw).cache()
    quarantine = args.quarantine or default_quarantine(args.output, args.pipeline_id)
    load(result, output_uri=args.output, quarantine_uri=quarantine)
    return 0
