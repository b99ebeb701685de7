import datetime as dt
from decimal import Decimal

from pipeline_assets.spark.product_catalog_batch import job

HEADER = "sku,product_name,category,list_price,currency_code,is_active,updated_at"


def land(tmp_path, date, text):
    folder = tmp_path / "landing" / f"ingest_date={date}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "export.csv").write_text(text)
    return str(tmp_path / "landing")


def test_csv_export_is_typed_deduplicated_and_bad_rows_quarantined(spark, tmp_path):
    source = land(
        tmp_path,
        "2024-05-01",
        "\n".join(
            [
                HEADER,
                "SKU-1,Widget,tools,10.00,USD,true,2024-04-30 10:00:00",
                "SKU-1,Widget v2,tools,12.50,USD,yes,2024-05-01 09:00:00",
                "SKU-2,Gadget,toys,-1,USD,true,2024-05-01 09:00:00",
                "SKU-3,Gizmo,toys,5,dollars,false,2024-05-01 09:00:00",
                ",Nameless,toys,5,USD,true,2024-05-01 09:00:00",
                "SKU-4,Doohickey,toys,five,EUR,maybe,2024-05-01 09:00:00",
            ]
        ),
    )
    rows = job.transform(job.extract(spark, source, "2024-05-01")).collect()
    valid = {r.sku: r for r in rows if r.quarantine_reason is None}
    assert list(valid) == ["SKU-1"]
    assert (valid["SKU-1"].product_name, valid["SKU-1"].list_price, valid["SKU-1"].is_active) == (
        "Widget v2",
        Decimal("12.50"),
        True,
    )
    assert valid["SKU-1"].updated_at == dt.datetime(2024, 5, 1, 9, 0)
    reasons = sorted(r.quarantine_reason for r in rows if r.quarantine_reason)
    assert reasons == [
        "invalid_currency_code",
        "invalid_decimal(12,2):list_price;invalid_boolean:is_active",
        "missing_required:sku",
        "negative_list_price",
    ]


def test_drifted_header_maps_aliases_and_ignores_new_columns(spark, tmp_path):
    source = land(
        tmp_path,
        "2024-05-02",
        "Item SKU,Title,Price,Currency,Active,Last Updated,Brand\nSKU-9,Thing,3.5,ARS,1,2024-05-02T00:00:00Z,Acme\n",
    )
    [row] = job.transform(job.extract(spark, source, "2024-05-02")).collect()
    assert row.quarantine_reason is None
    assert (row.sku, row.product_name, row.list_price, row.currency_code, row.is_active) == (
        "SKU-9",
        "Thing",
        Decimal("3.50"),
        "ARS",
        True,
    )
    assert row.category is None and "Brand" not in row.asDict()
