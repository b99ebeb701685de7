"""Freshness canary: raw landing partitions in moto S3, dbt results in S3, and Snowflake through fakesnow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_assets.canaries.canary import freshness
from pipeline_assets.canaries.canary.core import CanaryError

NS = "DataPlatform/Freshness"


def put(aws, bucket: str, key: str, body: bytes = b"x") -> datetime:
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=body)
    return aws["s3"].head_object(Bucket=bucket, Key=key)["LastModified"].astimezone(UTC)


def invoke(aws, pipelines, now, context=None, **kwargs):
    return freshness.handler(
        {"time": now.isoformat(), "pipelines": pipelines},
        context,
        s3=aws["s3"],
        ssm=aws["ssm"],
        cloudwatch=aws["cloudwatch"],
        **kwargs,
    )


def test_latest_partition_decides_not_the_newest_write_elsewhere(aws, releases, read_metric):
    raw = releases.raw_bucket
    put(aws, raw, "landing/crm_accounts/interval_start=20260101T020000/part-0.parquet")
    newest = put(aws, raw, "landing/crm_accounts/interval_start=20260102T020000/part-0.parquet")
    put(aws, raw, "landing/crm_accounts/interval_start=20260102T020000/_SUCCESS", b"")
    # Spark's bookkeeping and a rerun of an old interval must not count as the latest load.
    put(aws, raw, "landing/crm_accounts/_spark_metadata/0", b"{}")
    now = newest + timedelta(minutes=90)

    summary = invoke(aws, [{"id": "crm_accounts", "source": "s3", "max_age_minutes": 60}], now)

    assert summary["details"]["crm_accounts"]["where"].startswith(
        "landing/crm_accounts/interval_start=20260102T020000/"
    )
    assert read_metric(NS, "FreshnessMinutes", Pipeline="crm_accounts") == pytest.approx(90, abs=0.5)
    assert read_metric(NS, "FreshnessBudgetUsed", Pipeline="crm_accounts") == pytest.approx(1.5, abs=0.01)
    assert read_metric(NS, "StalePipelines") == 1
    assert read_metric(NS, "FreshnessCheckFailed", Pipeline="crm_accounts") == 0


def test_streaming_landing_reports_lag_and_nested_partitions(aws, releases, read_metric):
    raw = releases.raw_bucket
    put(aws, raw, "landing/operations_events/event_date=2026-01-01/hour=23/part-1.parquet")
    put(aws, raw, "landing/operations_events/event_date=2026-01-02/hour=9/part-1.parquet")
    newest = put(aws, raw, "landing/operations_events/event_date=2026-01-02/hour=10/part-2.parquet")
    pipeline = {"id": "operations_events", "source": "s3", "max_age_minutes": 120, "streaming": True}

    summary = invoke(aws, [pipeline], newest + timedelta(minutes=3))

    # hour=10 beats hour=9 numerically (as text "9" > "10").
    assert "hour=10/" in summary["details"]["operations_events"]["where"]
    assert read_metric(NS, "StreamingLagSeconds", Pipeline="operations_events") == pytest.approx(180, abs=1)
    assert read_metric(NS, "StalePipelines") == 0


def test_one_unmeasurable_pipeline_is_reported_and_the_others_still_measured(aws, releases, read_metric):
    landed = put(aws, releases.raw_bucket, "landing/product_catalog/interval_start=20260101T000000/a.parquet")
    pipelines = [
        {"id": "never_landed", "source": "s3", "max_age_minutes": 60},
        {"id": "product_catalog", "source": "s3", "max_age_minutes": 300},
    ]

    summary = invoke(aws, pipelines, landed + timedelta(minutes=5))

    assert summary["unmeasured"] == 1 and summary["problems"] == {"MissingData": 1}
    assert read_metric(NS, "FreshnessCheckFailed", Pipeline="never_landed") == 1
    assert read_metric(NS, "FreshnessMinutes", Pipeline="never_landed") is None  # no invented number
    assert read_metric(NS, "FreshnessMinutes", Pipeline="product_catalog") == pytest.approx(5, abs=0.5)
    assert read_metric(NS, "UnmeasuredPipelines") == 1
    assert read_metric("DataPlatform/Release", "CanaryError", Canary="freshness", Reason="MissingData") == 1
    assert read_metric("DataPlatform/Release", "CanaryFailed", Canary="freshness") == 0  # partial, not a failed run


def run_results(statuses: dict[str, str], generated_at: str) -> bytes:
    return json.dumps(
        {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                "generated_at": generated_at,
            },
            "results": [{"unique_id": uid, "status": status} for uid, status in statuses.items()],
        }
    ).encode()


def test_dbt_pipelines_use_the_newest_successful_run_across_releases(aws, releases, read_metric):
    releases.activate("r-0000000000000001")
    releases.activate("r-0000000000000002")  # active; its only run failed
    bucket = releases.bucket
    now = datetime.now(UTC).replace(microsecond=0)
    good, bad = (now - timedelta(hours=26)).isoformat(), (now - timedelta(hours=2)).isoformat()
    put(
        aws,
        bucket,
        "dbt-results/r-0000000000000001/customer_health/run-1/run_results.json",
        run_results({"model.p.customer_health": "success", "test.p.unique": "pass"}, good),
    )
    put(aws, bucket, "dbt-results/r-0000000000000002/customer_health/run-2/run_results.json",
        run_results({"model.p.customer_health": "error"}, bad))  # fmt: skip

    summary = invoke(aws, [{"id": "customer_health", "source": "dbt", "max_age_minutes": 1620}], now)

    assert read_metric(NS, "FreshnessMinutes", Pipeline="customer_health") is not None
    assert summary["details"]["customer_health"]["minutes"] == pytest.approx(26 * 60, abs=1)
    assert "r-0000000000000001" in summary["details"]["customer_health"]["where"]


@pytest.mark.slow  # fakesnow: Snowflake's SQL on an embedded emulator (~10 s of imports)
def test_snowflake_max_loaded_at_through_fakesnow(aws, releases, read_metric):
    import fakesnow
    import snowflake.connector

    now = datetime.now(UTC).replace(microsecond=0)
    loaded = (now - timedelta(minutes=150)).replace(tzinfo=None)  # TIMESTAMP_NTZ, UTC by convention
    with fakesnow.patch():
        setup = snowflake.connector.connect(database="ANALYTICS", schema="RAW_CRM")
        cur = setup.cursor()
        cur.execute("create schema if not exists RAW_CRM")
        cur.execute("create table RAW_CRM.ACCOUNTS (ACCOUNT_ID int, LOADED_AT timestamp_ntz)")
        cur.execute("insert into RAW_CRM.ACCOUNTS values (1, %s), (2, %s)", (loaded - timedelta(hours=1), loaded))

        def connect():
            return snowflake.connector.connect(database="ANALYTICS", schema="RAW_CRM")

        pipeline = {
            "id": "crm_accounts",
            "source": "snowflake",
            "table": "RAW_CRM.ACCOUNTS",
            "column": "LOADED_AT",
            "max_age_minutes": 600,
        }
        summary = invoke(aws, [pipeline], now, snowflake_connect=connect)

    assert summary["details"]["crm_accounts"]["minutes"] == pytest.approx(150)
    assert read_metric(NS, "FreshnessBudgetUsed", Pipeline="crm_accounts") == pytest.approx(0.25)


def test_snowflake_without_a_connector_in_the_package_fails_loudly(aws, releases, read_metric):
    def no_connector():
        raise CanaryError("SnowflakeUnavailable", "snowflake-connector-python is not in this Lambda package")

    pipeline = {"id": "crm_accounts", "source": "snowflake", "table": "RAW_CRM.ACCOUNTS", "max_age_minutes": 60}
    summary = invoke(aws, [pipeline], datetime.now(UTC), snowflake_connect=no_connector)

    assert summary["problems"] == {"SnowflakeUnavailable": 1}
    assert read_metric("DataPlatform/Release", "CanaryError", Canary="freshness", Reason="SnowflakeUnavailable") == 1


def test_running_out_of_time_marks_every_remaining_pipeline_unmeasured(aws, releases, context, read_metric):
    pipelines = [{"id": f"p{i}", "source": "s3", "max_age_minutes": 60} for i in range(3)]
    summary = invoke(aws, pipelines, datetime.now(UTC), context(seconds_left=3))
    assert summary["unmeasured"] == 3 and summary["problems"] == {"Timeout": 3}
    assert read_metric(NS, "FreshnessCheckFailed", Pipeline="p2") == 1


@pytest.mark.parametrize(
    "pipelines",
    [
        None,
        [],
        [{"id": "x", "source": "ftp", "max_age_minutes": 5}],
        [{"id": "x", "source": "snowflake", "table": "a; drop table b", "max_age_minutes": 5}],
    ],
)
def test_a_bad_schedule_input_fails_the_run_with_a_misconfigured_metric(aws, releases, read_metric, pipelines):
    with pytest.raises(CanaryError):
        invoke(aws, pipelines, datetime.now(UTC))
    assert read_metric("DataPlatform/Release", "CanaryError", Canary="freshness", Reason="Misconfigured") == 1
