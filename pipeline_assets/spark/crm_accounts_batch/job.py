"""CRM accounts batch: landing JSON lines -> curated accounts (latest per account) + quarantine."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from pipeline_assets.spark.common.io import batch_arguments, overwrite_partition, read_landing
from pipeline_assets.spark.common.session import job_session
from pipeline_assets.spark.common.tabular import ColumnSpec, TableSpec, drift_report, split_quarantine, transform_table

JOB_ID = "crm_accounts_batch"
log = logging.getLogger(JOB_ID)

ACCOUNTS = TableSpec(
    columns=(
        ColumnSpec("account_id", "string", required=True, aliases=("id", "account_number")),
        ColumnSpec("account_name", "string", required=True, aliases=("name",)),
        ColumnSpec("industry", "string"),
        ColumnSpec("country_code", "string", aliases=("country",)),
        ColumnSpec("annual_revenue", "decimal(18,2)", aliases=("revenue",)),
        ColumnSpec("employee_count", "long", aliases=("employees", "number_of_employees")),
        ColumnSpec("owner_email", "string", aliases=("owner",)),
        ColumnSpec("account_status", "string", aliases=("status",)),
        ColumnSpec("created_at", "timestamp", aliases=("created_date",)),
        ColumnSpec("updated_at", "timestamp", required=True, aliases=("last_modified_date", "modified_at")),
    ),
    key=("account_id",),
    latest_by="updated_at",
    rules=(
        ("invalid_country_code", lambda: ~F.col("country_code").rlike("^[A-Z]{2}$")),
        ("negative_annual_revenue", lambda: F.col("annual_revenue") < 0),
        ("negative_employee_count", lambda: F.col("employee_count") < 0),
        ("invalid_owner_email", lambda: ~F.col("owner_email").rlike(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")),
        ("unknown_account_status", lambda: ~F.lower(F.col("account_status")).isin("prospect", "active", "churned")),
    ),
)


def extract(spark: SparkSession, source_uri: str, run_date: str) -> DataFrame:
    return read_landing(spark, source_uri, run_date, "json")


def transform(raw: DataFrame) -> DataFrame:
    """Accounts conformed, validated and deduplicated; quarantined rows carry quarantine_reason."""
    result = transform_table(raw, ACCOUNTS)
    return result.withColumn("account_status", F.lower("account_status"))


def load(result: DataFrame, *, target_uri: str, quarantine_uri: str, run_date: str) -> None:
    valid, quarantined = split_quarantine(result)
    overwrite_partition(valid, target_uri, "snapshot_date", run_date)
    overwrite_partition(quarantined, quarantine_uri, "run_date", run_date)


def main(argv: Sequence[str] | None = None) -> int:
    args = batch_arguments(__doc__ or JOB_ID).parse_args(argv)
    spark = job_session(JOB_ID)
    raw = extract(spark, args.source_uri, args.run_date)
    drift = drift_report(raw.columns, ACCOUNTS)
    if drift.renamed or drift.unexpected or drift.missing:
        log.warning("schema drift in %s: %s", args.source_uri, drift)
    result = transform(raw).cache()
    load(result, target_uri=args.target_uri, quarantine_uri=args.quarantine_uri, run_date=args.run_date)
    return 0
