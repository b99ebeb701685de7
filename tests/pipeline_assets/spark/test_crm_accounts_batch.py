import datetime as dt
import json
from decimal import Decimal

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from pipeline_assets.spark.common.tabular import drift_report
from pipeline_assets.spark.crm_accounts_batch import job


def raw(spark, rows):
    """Rows as read_landing gives them: every value text, columns as the source named them."""
    columns = sorted({key for row in rows for key in row})
    schema = StructType([StructField(c, StringType()) for c in columns])
    return spark.createDataFrame([[row.get(c) for c in columns] for row in rows], schema)


GOOD = {
    "account_id": "A-1",
    "account_name": "Acme",
    "industry": "Retail",
    "country_code": "AR",
    "annual_revenue": "1,250,000.50",
    "employee_count": "120",
    "owner_email": "owner@example.com",
    "account_status": "Active",
    "created_at": "2024-01-02T10:00:00Z",
    "updated_at": "2024-05-01T08:00:00Z",
}


def by_key(rows, key="account_id"):
    return {r[key]: r for r in rows}


def test_valid_rows_are_typed_and_normalised(spark):
    [row] = job.transform(raw(spark, [GOOD])).collect()
    assert row.quarantine_reason is None
    assert row.annual_revenue == Decimal("1250000.50")
    assert row.employee_count == 120
    assert row.account_status == "active"
    assert row.updated_at == dt.datetime(2024, 5, 1, 8, 0)  # session time zone is UTC


def test_latest_version_per_account_wins_and_exact_duplicates_collapse(spark):
    older = {**GOOD, "account_name": "Acme Old", "updated_at": "2024-04-01T00:00:00Z"}
    newer = {**GOOD, "account_name": "Acme New", "updated_at": "2024-05-02T00:00:00Z"}
    other = {**GOOD, "account_id": "A-2"}
    rows = job.transform(raw(spark, [older, newer, newer, other])).collect()
    assert sorted(r.account_id for r in rows) == ["A-1", "A-2"]
    assert by_key(rows)["A-1"].account_name == "Acme New"


def test_bad_rows_are_quarantined_with_every_reason_and_the_raw_record(spark):
    bad = {
        **GOOD,
        "account_id": "A-9",
        "annual_revenue": "lots",
        "country_code": "Argentina",
        "owner_email": "nobody",
        "account_status": "dormant",
    }
    missing = {k: v for k, v in GOOD.items() if k != "account_name"} | {"account_id": "A-8"}
    rows = by_key(job.transform(raw(spark, [GOOD, bad, missing])).collect())
    assert rows["A-1"].quarantine_reason is None
    assert set(rows["A-9"].quarantine_reason.split(";")) == {
        "invalid_decimal(18,2):annual_revenue",
        "invalid_country_code",
        "invalid_owner_email",
        "unknown_account_status",
    }
    assert json.loads(rows["A-9"].raw_record)["annual_revenue"] == "lots"
    assert rows["A-8"].quarantine_reason == "missing_required:account_name"


def test_a_quarantined_newer_version_does_not_hide_the_valid_older_one(spark):
    newer_bad = {**GOOD, "updated_at": "2024-06-01T00:00:00Z", "employee_count": "-5"}
    rows = job.transform(raw(spark, [GOOD, newer_bad])).collect()
    reasons = sorted((r.account_id, str(r.quarantine_reason)) for r in rows)
    assert reasons == [("A-1", "None"), ("A-1", "negative_employee_count")]


def test_schema_drift_renamed_added_and_missing_columns(spark):
    drifted = {
        "Id": "A-3",
        "accountName": "Drift Co",
        "Country": "BR",
        "revenue": "10",
        "Last Modified Date": "2024-05-01 00:00:00",
        "favourite_colour": "teal",
    }
    frame = raw(spark, [drifted])
    report = drift_report(frame.columns, job.ACCOUNTS)
    assert report.renamed == {
        "Id": "account_id",
        "accountName": "account_name",
        "Country": "country_code",
        "revenue": "annual_revenue",
        "Last Modified Date": "updated_at",
    }
    assert report.unexpected == ("favourite_colour",)
    assert set(report.missing) == {"industry", "employee_count", "owner_email", "account_status", "created_at"}
    [row] = job.transform(frame).collect()
    assert row.quarantine_reason is None
    assert (row.account_id, row.country_code, row.annual_revenue) == ("A-3", "BR", Decimal("10.00"))
    assert "favourite_colour" not in row.asDict()


def test_malformed_json_line_is_quarantined_not_dropped(spark, tmp_path):
    landing = tmp_path / "landing" / "ingest_date=2024-05-01"
    landing.mkdir(parents=True)
    (landing / "part-0.json").write_text(json.dumps(GOOD) + "\n{not json\n")
    frame = job.extract(spark, str(tmp_path / "landing"), "2024-05-01")
    rows = job.transform(frame).collect()
    assert sorted(str(r.quarantine_reason) for r in rows) == ["None", "malformed_record"]
    assert next(r for r in rows if r.quarantine_reason).raw_record == "{not json"


@pytest.mark.slow  # main() end to end three times: read, transform, write, quarantine (~5 s)
def test_main_replaces_only_its_interval_and_reruns_are_idempotent(spark, tmp_path):
    def land(date, rows):
        folder = tmp_path / "inbound" / f"ingest_date={date}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in rows))

    land("2024-05-01", [GOOD, {**GOOD, "account_id": "A-2", "country_code": "xx"}])
    land("2024-05-02", [{**GOOD, "account_id": "A-3"}])

    def run(day):
        # The arguments the DAG factory renders for a daily interval.
        return job.main(
            [
                "--pipeline-id", "crm_accounts",
                "--source", str(tmp_path / "inbound"),
                "--output", str(tmp_path / "landing" / "crm_accounts" / f"interval_start=202405{day}T020000"),
                "--interval-start", f"2024-05-{day}T02:00:00+00:00",
                "--interval-end", f"2024-05-{int(day) + 1:02d}T02:00:00+00:00",
                "--quarantine", str(tmp_path / "quarantine" / "crm_accounts" / f"interval_start=202405{day}T020000"),
            ]
        )  # fmt: skip

    assert run("01") == 0
    assert run("02") == 0
    assert run("01") == 0  # a rerun of the same interval
    landing = spark.read.parquet(str(tmp_path / "landing" / "crm_accounts"))
    counts = {r.interval_start: r["count"] for r in landing.groupBy("interval_start").count().collect()}
    assert counts == {"20240501T020000": 1, "20240502T020000": 1}
    quarantine = spark.read.parquet(str(tmp_path / "quarantine" / "crm_accounts")).collect()
    assert [(r.interval_start, r.quarantine_reason) for r in quarantine] == [
        ("20240501T020000", "invalid_country_code")
    ]


def test_default_quarantine_sits_beside_the_landing_folder():
    from pipeline_assets.spark.common.io import default_quarantine

    output = "s3://raw-bucket/landing/crm_accounts/interval_start=20240501T020000/"
    assert (
        default_quarantine(output, "crm_accounts")
        == "s3://raw-bucket/quarantine/crm_accounts/interval_start=20240501T020000/"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [("01/05/2024", "not an ISO 8601 timestamp"), ("2024-05-01T02:00:00", "without a time zone")],
)
def test_main_rejects_bad_interval_bounds(capsys, value, message):
    with pytest.raises(SystemExit):
        job.main(
            ["--pipeline-id", "p", "--source", "s", "--output", "o", "--interval-start", value, "--interval-end", value]
        )
    assert message in capsys.readouterr().err
