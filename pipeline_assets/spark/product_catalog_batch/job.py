"""Product catalog batch: landing CSV -> curated products (latest per SKU) + quarantine."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from pipeline_assets.spark.common.io import batch_arguments, overwrite_partition, read_landing
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


def extract(spark: SparkSession, source_uri: str, run_date: str) -> DataFrame:
    return read_landing(spark, source_uri, run_date, "csv")


def transform(raw: DataFrame) -> DataFrame:
    """Products conformed, validated and deduplicated; quarantined rows carry quarantine_reason."""
    return transform_table(raw, PRODUCTS)


def load(result: DataFrame, *, target_uri: str, quarantine_uri: str, run_date: str) -> None:
    valid, quarantined = split_quarantine(result)
    overwrite_partition(valid, target_uri, "snapshot_date", run_date)
    overwrite_partition(quarantined, quarantine_uri, "run_date", run_date)


def main(argv: Sequence[str] | None = None) -> int:
    args = batch_arguments(__doc__ or JOB_ID).parse_args(argv)
    spark = job_session(JOB_ID)
    raw = extract(spark, args.source_uri, args.run_date)
    drift = drift_report(raw.columns, PRODUCTS)
    if drift.renamed or drift.unexpected or drift.missing:
        log.warning("schema drift in %s: %s", args.source_uri, drift)
    result = transform(raw).cache()
    load(result, target_uri=args.target_uri, quarantine_uri=args.quarantine_uri, run_date=args.run_date)
    return 0
