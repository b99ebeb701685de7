"""Product catalog batch: landing CSV -> curated products (latest per SKU) + quarantine."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline_assets.spark.common.batch import run_batch_job
from pipeline_assets.spark.common.io import read_landing
from pipeline_assets.spark.common.tabular import ColumnSpec, TableSpec, transform_table

JOB_ID = "product_catalog_batch"

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


def main(argv: Sequence[str] | None = None) -> int:
    return run_batch_job(
        job_id=JOB_ID, description=__doc__ or JOB_ID, argv=argv, table=PRODUCTS, extract=extract, transform=transform
    )
