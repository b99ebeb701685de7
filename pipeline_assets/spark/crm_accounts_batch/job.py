"""CRM accounts batch: landing JSON lines -> curated accounts (latest per account) + quarantine."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline_assets.spark.common.batch import run_batch_job
from pipeline_assets.spark.common.io import read_landing
from pipeline_assets.spark.common.tabular import ColumnSpec, TableSpec, transform_table

JOB_ID = "crm_accounts_batch"

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


def extract(spark: SparkSession, source_uri: str, ingest_date: str) -> DataFrame:
    return read_landing(spark, source_uri, ingest_date, "json")


def transform(raw: DataFrame) -> DataFrame:
    """Accounts conformed, validated and deduplicated; quarantined rows carry quarantine_reason."""
    result = transform_table(raw, ACCOUNTS)
    return result.withColumn("account_status", F.lower("account_status"))


def main(argv: Sequence[str] | None = None) -> int:
    return run_batch_job(
        job_id=JOB_ID, description=__doc__ or JOB_ID, argv=argv, table=ACCOUNTS, extract=extract, transform=transform
    )
