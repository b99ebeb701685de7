"""The raw source tables as they land (CRM extracts, product catalog, Kafka events).

These are the contract between the generator and dbt's `sources` (dbt_project/models/staging/*/_*__sources.yml):
tests/cicd/data compares the two so the synthetic data can never drift from what the models read.
"""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(18, 2)
TS = pa.timestamp("us")

# (source, table) -> arrow schema. Raw names are the upstream systems' own (`id`, `name`); staging renames.
SOURCES: dict[tuple[str, str], pa.Schema] = {
    ("crm", "accounts"): pa.schema(
        [
            ("id", pa.string()),
            ("name", pa.string()),
            ("industry", pa.string()),
            ("country_code", pa.string()),
            ("owner_email", pa.string()),
            ("annual_revenue", MONEY),
            ("created_at", TS),
            ("updated_at", TS),
            ("loaded_at", TS),
        ]
    ),
    ("crm", "contacts"): pa.schema(
        [
            ("id", pa.string()),
            ("account_id", pa.string()),
            ("first_name", pa.string()),
            ("last_name", pa.string()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("job_title", pa.string()),
            ("created_at", TS),
            ("updated_at", TS),
            ("loaded_at", TS),
        ]
    ),
    ("crm", "opportunities"): pa.schema(
        [
            ("id", pa.string()),
            ("account_id", pa.string()),
            ("name", pa.string()),
            ("stage_name", pa.string()),
            ("amount", MONEY),
            ("currency_code", pa.string()),
            ("close_date", pa.date32()),
            ("created_at", TS),
            ("updated_at", TS),
            ("loaded_at", TS),
        ]
    ),
    ("product", "products"): pa.schema(
        [
            ("id", pa.string()),
            ("sku", pa.string()),
            ("name", pa.string()),
            ("category", pa.string()),
            ("is_active", pa.bool_()),
            ("created_at", TS),
            ("updated_at", TS),
            ("loaded_at", TS),
        ]
    ),
    ("product", "product_prices"): pa.schema(
        [
            ("id", pa.string()),
            ("product_id", pa.string()),
            ("currency_code", pa.string()),
            ("list_price", MONEY),
            ("valid_from", TS),
            ("valid_to", TS),
            ("loaded_at", TS),
        ]
    ),
    ("operations", "events"): pa.schema(
        [
            ("event_id", pa.string()),
            ("event_type", pa.string()),
            ("order_id", pa.string()),
            ("ticket_id", pa.string()),
            ("account_id", pa.string()),
            ("product_id", pa.string()),
            ("quantity", pa.int32()),
            ("amount", MONEY),
            ("occurred_at", TS),
            ("kafka_partition", pa.int32()),
            ("kafka_offset", pa.int64()),
            ("loaded_at", TS),
        ]
    ),
}

# Raw schema names per source (the landing layer: batch ingest and the streaming sink write here).
RAW_SCHEMAS = {"crm": "raw_crm", "product": "raw_product", "operations": "raw_operations"}
