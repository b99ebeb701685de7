"""CSV export from real DB-API cursors (DuckDB, and Snowflake's connector on fakesnow), with limits."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from pipeline_assets.dataservices.bundle import Limits
from pipeline_assets.dataservices.export import ExportError, csv_value, export_dataset


@pytest.fixture
def dataset(customer_health):
    return customer_health.service.datasets[0]


def read_rows(export):
    rows = []
    for part in export.parts:
        rows += list(csv.reader(io.StringIO(part.path.read_text())))[1:]
    return rows


def test_exports_the_published_columns_in_order(warehouse, dataset, tmp_path):
    export = export_dataset(warehouse.cursor(), dataset, tmp_path, Limits())
    assert len(export.parts) == 1 and export.rows == 3
    text = export.parts[0].path.read_text()
    assert text.splitlines()[0] == ",".join(c.name for c in dataset.columns)
    assert [r[0] for r in read_rows(export)] == ["acc_001", "acc_002", "acc_004"]  # order_by account_id
    assert export.size_bytes == len(text.encode())


def test_the_same_data_gives_the_same_digest(warehouse, dataset, tmp_path):
    first = export_dataset(warehouse.cursor(), dataset, tmp_path / "a", Limits())
    second = export_dataset(warehouse.cursor(), dataset, tmp_path / "b", Limits())
    assert first.sha256() == second.sha256()
    warehouse.execute("update main.customer_health set segment = 'smb' where account_id = 'acc_001'")
    assert export_dataset(warehouse.cursor(), dataset, tmp_path / "c", Limits()).sha256() != first.sha256()


def test_parts_respect_the_file_limit_and_repeat_the_header(warehouse, dataset, tmp_path):
    warehouse.execute(
        "insert into main.customer_health select 'acc_' || lpad(cast(i as varchar), 4, '0'), 'Name ' || i, "
        "'smb', i / 10, 'watch', false, i, null, date '2026-11-27', null from range(10, 500) t(i)"
    )
    export = export_dataset(warehouse.cursor(), dataset, tmp_path, Limits(max_file_bytes=4096), batch_rows=37)
    assert len(export.parts) > 5
    header = ",".join(c.name for c in dataset.columns)
    for part in export.parts:
        data = part.path.read_bytes()
        assert len(data) <= 4096 and part.size_bytes == len(data)
        assert data.decode().splitlines()[0] == header
    ids = [r[0] for r in read_rows(export)]
    assert len(ids) == export.rows == 493 and ids == sorted(ids)  # every row once, in order


def test_one_row_larger_than_a_file_fails_clearly(warehouse, dataset, tmp_path):
    warehouse.execute("update main.customer_health set account_name = repeat('x', 3000) where account_id = 'acc_001'")
    with pytest.raises(ExportError, match=r"one row is \d+ bytes, more than a whole file may hold"):
        export_dataset(warehouse.cursor(), dataset, tmp_path, Limits(max_file_bytes=2048))


def test_the_total_limit_stops_the_export(warehouse, dataset, tmp_path):
    with pytest.raises(ExportError, match="passed 1024 bytes, the limit for one published dataset"):
        warehouse.execute(
            "insert into main.customer_health select 'acc_' || i, repeat('y', 100), 'smb', 1.0, 'watch', false, "
            "0, null, date '2026-11-27', null from range(10, 40) t(i)"
        )
        export_dataset(warehouse.cursor(), dataset, tmp_path, Limits(max_total_bytes=1024))


def test_a_mart_that_no_longer_matches_the_release_is_refused(warehouse, dataset, tmp_path):
    warehouse.execute("alter table main.customer_health rename column segment to customer_segment")
    with pytest.raises(ExportError, match="the mart customer_health no longer matches the release"):
        export_dataset(warehouse.cursor(), dataset, tmp_path, Limits())


def test_an_empty_mart_exports_a_header_only_file(warehouse, dataset, tmp_path):
    warehouse.execute("delete from main.customer_health")
    export = export_dataset(warehouse.cursor(), dataset, tmp_path, Limits())
    assert export.rows == 0 and len(export.parts) == 1
    assert export.parts[0].path.read_text().count("\n") == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (dt.date(2026, 11, 27), "2026-11-27"),
        (dt.datetime(2026, 11, 27, 10, 0, 5), "2026-11-27T10:00:05"),
        (dt.datetime(2026, 11, 27, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2026-11-27T10:00:00+00:00"),
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+2"), "100"),
        (0.1, "0.1"),
        (float("nan"), ""),
        ("a,b", "a,b"),
    ],
)
def test_values_become_unambiguous_text(value, text):
    assert csv_value(value) == text


@pytest.mark.slow  # fakesnow's emulator takes ~10 s to start on this machine
def test_exports_through_the_snowflake_connector_on_fakesnow(dataset, tmp_path):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    with fakesnow.patch(), snowflake.connector.connect(database="ANALYTICS", schema="MAIN") as connection:
        cursor = connection.cursor()
        cursor.execute("create schema if not exists analytics.main")
        cursor.execute(
            "create table analytics.main.customer_health (account_id varchar, account_name varchar, "
            "segment varchar, health_score double, health_band varchar, is_at_risk boolean, "
            "open_ticket_count integer, last_activity_at timestamp_ntz, snapshot_date date, contact_email varchar)"
        )
        cursor.execute(
            "insert into analytics.main.customer_health values "
            "('acc_2', 'Globex', 'smb', 41.5, 'at_risk', true, 7, '2026-10-02 08:00:00', '2026-11-27', 'x@y'), "
            "('acc_1', 'Acme', 'enterprise', null, 'unknown', false, 0, null, '2026-11-27', null)"
        )
        export = export_dataset(connection.cursor(), dataset, tmp_path, Limits())  # Snowflake returns UPPER names
    assert export.parts[0].path.read_text().splitlines() == [
        ",".join(c.name for c in dataset.columns),
        "acc_1,Acme,enterprise,,unknown,false,0,,2026-11-27",
        "acc_2,Globex,smb,41.5,at_risk,true,7,2026-10-02T08:00:00,2026-11-27",
    ]
