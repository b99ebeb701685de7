"""The synthetic data generator: determinism, referential integrity, planted edge cases, schema parity."""

from pathlib import Path

import duckdb
import pytest
import yaml

from cicd.data import generate as gen
from cicd.data.schemas import RAW_SCHEMAS, SOURCES


@pytest.fixture(scope="module")
def scale1(tmp_path_factory) -> gen.GenerationResult:
    return gen.generate(tmp_path_factory.mktemp("data") / "a", scale=1, seed=42)


def _sql(result: gen.GenerationResult, query: str):
    conn = duckdb.connect()
    for table in result.tables:
        conn.execute(f"create view {table.source}_{table.table} as select * from read_parquet('{table.path}')")
    return conn.execute(query).fetchall()


def test_same_seed_gives_the_same_bytes(scale1, tmp_path):
    again = gen.generate(tmp_path / "b", scale=1, seed=42)
    assert [(t.source, t.table, t.sha256) for t in again.tables] == [
        (t.source, t.table, t.sha256) for t in scale1.tables
    ]
    for first, second in zip(scale1.tables, again.tables, strict=True):
        assert first.path.read_bytes() == second.path.read_bytes()


def test_another_seed_gives_other_data(scale1, tmp_path):
    other = gen.generate(tmp_path / "c", scale=1, seed=7)
    assert {t.sha256 for t in other.tables}.isdisjoint({t.sha256 for t in scale1.tables})


def test_row_counts_scale_linearly(scale1, tmp_path):
    double = gen.generate(tmp_path / "d", scale=2, seed=42)
    assert 1.9 < double.rows / scale1.rows < 2.1
    assert 9_000 < scale1.rows < 11_000  # ~10k rows per scale unit: scale 1000 is ~10 million


def test_referential_integrity_across_crm_product_and_operations(scale1):
    orphans = {
        "contacts->accounts": "select count(*) from crm_contacts where account_id not in (select id from crm_accounts)",
        "opportunities->accounts": "select count(*) from crm_opportunities "
        "where account_id not in (select id from crm_accounts)",
        "prices->products": "select count(*) from product_product_prices "
        "where product_id not in (select id from product_products)",
        "events->accounts": "select count(*) from operations_events "
        "where account_id not in (select id from crm_accounts)",
        "events->products": "select count(*) from operations_events "
        "where product_id is not null and product_id not in (select id from product_products)",
    }
    assert {name: _sql(scale1, query)[0][0] for name, query in orphans.items()} == dict.fromkeys(orphans, 0)


def test_planted_edge_cases_are_present(scale1):
    checks = {
        # superseded CRM versions to deduplicate
        "account versions": "select count(*) from (select id from crm_accounts group by id having count(*) > 1)",
        # exact duplicate rows from a re-sent extract page
        "contact duplicates": "select count(*) - count(distinct (id, updated_at)) from crm_contacts",
        # Kafka redeliveries: same event_id, another offset
        "redelivered events": "select count(*) from (select event_id from operations_events "
        "group by event_id having count(distinct kafka_offset) > 1)",
        # late arrivals: landed more than a day after they happened
        "late events": "select count(*) from operations_events where loaded_at > occurred_at + interval 1 day",
        "null industries": "select count(*) from crm_accounts where industry is null",
        "null phones": "select count(*) from crm_contacts where phone is null",
        "upper-case e-mails": "select count(*) from crm_contacts where email <> lower(email)",
        "non-ascii names": "select count(*) from crm_contacts where regexp_matches(last_name, '[^\\x00-\\x7F]')",
        "lower-case countries": "select count(*) from crm_accounts where country_code <> upper(country_code)",
        "products without a current price": "select count(*) from product_products p where not exists "
        "(select 1 from product_product_prices r where r.product_id = p.id and r.valid_to is null)",
    }
    counts = {name: _sql(scale1, query)[0][0] for name, query in checks.items()}
    assert all(count > 0 for count in counts.values()), counts


def test_no_real_contact_data(scale1):
    domains = _sql(scale1, "select distinct regexp_extract(lower(email), '\\.([a-z]+)$', 1) from crm_contacts")
    assert {row[0].lower() for row in domains} == {"example"}
    phones = _sql(scale1, "select count(*) from crm_contacts where phone is not null and "
                  "not (phone like '+1 555 01%' or phone like '+44 20 7946 0%')")  # fmt: skip
    assert phones[0][0] == 0


def test_files_match_the_declared_arrow_schemas(scale1):
    import pyarrow.parquet as pq

    for table in scale1.tables:
        assert pq.read_schema(table.path).remove_metadata() == SOURCES[(table.source, table.table)]


def test_generated_columns_match_the_dbt_sources(repo_root):
    """The dbt sources declare exactly the columns the generator writes, in the raw schemas it loads."""
    declared = {}
    for path in (repo_root / "dbt_project" / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            assert source["schema"] == RAW_SCHEMAS[source["name"]], path
            for table in source["tables"]:
                declared[(source["name"], table["name"])] = [c["name"] for c in table["columns"]]
    assert declared == {key: schema.names for key, schema in SOURCES.items()}


def test_cache_is_reused_only_for_the_same_scale_seed_and_generator(scale1):
    assert gen.cached(scale1.out_dir, scale=1, seed=42)
    assert not gen.cached(scale1.out_dir, scale=2, seed=42)
    assert not gen.cached(scale1.out_dir, scale=1, seed=43)
    assert not gen.cached(Path(scale1.out_dir) / "missing", scale=1, seed=42)


def test_scale_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        gen.generate(tmp_path, scale=0, seed=1)
