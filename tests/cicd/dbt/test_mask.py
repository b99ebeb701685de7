"""Masking: PII tags from the manifest, fail-closed checks, and the SQL run on the Snowflake emulator."""

from pathlib import Path

import pytest

from cicd.dbt import mask

ROOT = Path(__file__).resolve().parents[3]


def source(name, columns, schema="raw_crm"):
    return {
        "unique_id": f"source.data_platform.crm.{name}",
        "source_name": "crm",
        "name": name,
        "schema": schema,
        "identifier": name,
        "columns": columns,
    }


MANIFEST = {
    "sources": {
        "source.data_platform.crm.contacts": source(
            "contacts",
            {
                "id": {"name": "id"},
                "account_id": {"name": "account_id"},
                "email": {"name": "email", "config": {"meta": {"pii": True, "masking": "email"}}},
                "first_name": {"name": "first_name", "meta": {"pii": True}},
                "phone": {"name": "phone", "config": {"meta": {"pii": True, "masking": "redact"}}},
                "notes": {"name": "notes", "config": {"meta": {"pii": True, "masking": "null"}}},
            },
        )
    }
}


def test_pii_columns_and_strategies_come_from_meta():
    [table] = mask.tables_from_manifest(MANIFEST)
    assert [(c.name, c.strategy) for c in table.columns] == [
        ("id", None),
        ("account_id", None),
        ("email", "email"),
        ("first_name", "token"),
        ("phone", "redact"),
        ("notes", "null"),
    ]


def test_unknown_strategy_is_refused():
    bad = {
        "sources": {"s": source("contacts", {"email": {"name": "email", "meta": {"pii": True, "masking": "rot13"}}})}
    }
    with pytest.raises(mask.MaskError, match="rot13"):
        mask.tables_from_manifest(bad)


def test_job_identifiers_are_validated():
    with pytest.raises(mask.MaskError):
        mask.MaskJob("raw;drop", "raw_masked")
    with pytest.raises(mask.MaskError):
        mask.MaskJob("raw", "raw masked")


KEY = "7f3a9c1e5b2d8f4a6c0e9b3d7a1f5c8e2b6d0a4f8c3e7b1d5a9f2c6e0b4d8a3f"  # 32 random bytes, hex
OTHER_KEY = "c4e8a2f6b0d3e7a1f5c9b2d6e0a4f8c3b7d1e5a9f2c6b0d4e8a3f7c1b5d9e2a6"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is not set: there is no default masking key"),
        ("", "is not set"),
        ("correct horse battery staple", "neither hex nor base64"),
        ("00ff" * 8, "holds 16 bytes, fewer than 32"),
        ("ab" * 32, "does not look random"),
        ("0102" * 16, "does not look random"),
        (b"prod-only-secret".hex() * 2, "does not look random"),
    ],
)
def test_a_missing_or_weak_key_is_refused_naming_the_variable_and_the_fix(value, problem):
    environ = {} if value is None else {"MASK_KEY": value}
    with pytest.raises(mask.MaskError) as caught:
        mask.masking_key(environ, "MASK_KEY")
    message = str(caught.value)
    assert message.startswith("$MASK_KEY ") and problem in message
    assert "secrets.token_hex(32)" in message and "$MASK_KEY" in message.rsplit(";", 1)[1]


def test_a_random_key_is_accepted_hex_or_base64_and_never_shown():
    import base64

    key = mask.masking_key({mask.KEY_VARIABLE: KEY})
    assert key.secret == bytes.fromhex(KEY)
    assert mask.masking_key({mask.KEY_VARIABLE: base64.b64encode(key.secret).decode()}) == key
    assert mask.masking_key({mask.KEY_VARIABLE: base64.urlsafe_b64encode(key.secret).decode().rstrip("=")}) == key
    assert KEY not in repr(key) and "7f3a" not in repr(key)


def test_tokens_are_hmac_sha256_same_value_same_token_other_key_other_token():
    import hashlib
    import hmac

    token = mask.hmac_token(KEY, "Ada Lovelace")
    assert token == hmac.new(bytes.fromhex(KEY), b"Ada Lovelace", hashlib.sha256).hexdigest()
    assert mask.hmac_token(KEY, "Ada Lovelace") == token
    assert mask.hmac_token(OTHER_KEY, "Ada Lovelace") != token
    assert mask.hmac_token(KEY, "Ada Lovelace ") != token
    assert mask.hmac_token(KEY, None) is None


def test_the_snowflake_function_runs_the_same_source():
    job = mask.MaskJob("raw", "raw_masked")
    assert "def hmac_token(key_hex: str, value: str | None)" in job.function_sql()
    assert "handler = 'hmac_token'" in job.function_sql()
    copy = "\n".join(job.copy_sql(mask.tables_from_manifest(MANIFEST)[0]))
    assert "mask_hmac(masking_key.key_hex, cast(first_name as varchar))" in copy
    assert "sha2" not in copy


@pytest.mark.parametrize(
    ("column", "meta", "strategy"),
    [
        ("first_name", {}, "token"),
        ("last_name", {"pii": False}, "token"),
        ("full_name", {}, "token"),
        ("contact_name", {}, "token"),
        ("surname", {}, "token"),
        ("notes", {}, "null"),
        ("internal_comments", {}, "null"),
        ("billing_address_line_1", {}, "null"),
        ("street", {}, "null"),
        ("last_name", {"pii": True, "masking": "redact"}, "redact"),  # a tag may choose another masking
        ("account_id", {}, None),
        ("stage_name", {}, None),
    ],
)
def test_names_and_free_text_never_pass_through_tagged_or_not(column, meta, strategy):
    manifest = {"sources": {"s": source("people", {column: {"name": column, "meta": meta}})}}
    [table] = mask.tables_from_manifest(manifest)
    assert table.columns[0].strategy == strategy


def test_the_project_tags_contact_and_owner_pii_on_the_sources(repo_root):
    import yaml

    sources = yaml.safe_load((repo_root / "dbt_project/models/staging/crm/_crm__sources.yml").read_text())
    tagged = {
        (table["name"], column["name"])
        for table in sources["sources"][0]["tables"]
        for column in table["columns"]
        if (column.get("config") or {}).get("meta", {}).get("pii")
    }
    assert tagged == {
        ("accounts", "owner_email"),
        ("contacts", "first_name"),
        ("contacts", "last_name"),
        ("contacts", "email"),
        ("contacts", "phone"),
    }


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    """Raw contacts (with an undeclared-free schema) and a key table on fakesnow, masked once."""
    import pyarrow.parquet as pq
    from duckdb.sqltypes import VARCHAR

    from cicd.data.generate import contacts
    from cicd.dbt.emulator import connect, patched
    from pipeline_assets.dbt_wap.wap import snowflake_executor

    raw = contacts(1, 42)
    path = tmp_path_factory.mktemp("raw") / "contacts.parquet"
    pq.write_table(raw, path)
    with patched():
        # Imported under the patch: fakesnow replaces write_pandas where it is looked up.
        from snowflake.connector.pandas_tools import write_pandas

        conn = connect("RAW")
        # fakesnow cannot create Python functions: the one the job creates is registered with DuckDB from the
        # same Python function, and its CREATE statement (an emulator gap) is skipped.
        conn._duck_conn.create_function(mask.MASK_FUNCTION, mask.hmac_token, [VARCHAR, VARCHAR], VARCHAR)
        raw_execute = snowflake_executor(conn)

        def execute(sql, params=None):
            return [] if sql.startswith("create or replace temporary function") else raw_execute(sql, params)

        execute("create schema if not exists raw.raw_crm")
        execute(
            "create or replace table raw.raw_crm.contacts (id varchar, account_id varchar, first_name varchar, "
            "last_name varchar, email varchar, phone varchar, job_title varchar, created_at timestamp_ntz, "
            "updated_at timestamp_ntz, loaded_at timestamp_ntz)"
        )
        frame = pq.read_table(path).to_pandas()
        frame.columns = [c.upper() for c in frame.columns]
        write_pandas(conn, frame, "CONTACTS", database="RAW", schema="RAW_CRM")
        execute("create database if not exists raw_masked")
        tables = [t for t in mask.tables_from_manifest(project_sources()) if t.table == "contacts"]
        job = mask.MaskJob("raw", "raw_masked")
        key = mask.masking_key({mask.KEY_VARIABLE: KEY})
        result = mask.run(job, tables, key=key, executor=execute)
        again = mask.run(job, tables, key=key, executor=execute)  # idempotent, deterministic re-run
        masked = execute("select * from raw_masked.raw_crm.contacts order by id, updated_at")
        original = execute("select * from raw.raw_crm.contacts order by id, updated_at")
        execute("alter table raw.raw_crm.contacts add column nickname varchar")
        with pytest.raises(mask.MaskError) as undeclared:
            mask.run(job, tables, key=key, executor=execute)
        yield {"result": result, "again": again, "masked": masked, "original": original,
               "undeclared": str(undeclared.value), "statements": result.statements}  # fmt: skip


def project_sources() -> dict:
    """The contacts source as the project declares it (columns and PII tags), without running dbt."""
    import yaml

    declared = yaml.safe_load((ROOT / "dbt_project/models/staging/crm/_crm__sources.yml").read_text())
    table = next(t for t in declared["sources"][0]["tables"] if t["name"] == "contacts")
    return {"sources": {"s": source("contacts", {c["name"]: c for c in table["columns"]})}}


COLUMNS = ["id", "account_id", "first_name", "last_name", "email", "phone", "job_title", "created_at", "updated_at",
           "loaded_at"]  # fmt: skip


@pytest.mark.slow
def test_masked_copy_keeps_rows_and_non_pii_columns(emulated):
    assert emulated["result"].tables == {"raw_crm.contacts": len(emulated["original"])}
    for masked, original in zip(emulated["masked"], emulated["original"], strict=True):
        for name in ("id", "account_id", "job_title", "created_at", "updated_at", "loaded_at"):
            assert masked[COLUMNS.index(name)] == original[COLUMNS.index(name)]


@pytest.mark.slow
def test_no_raw_pii_value_reaches_the_masked_copy(emulated):
    raw_values = {row[COLUMNS.index(c)] for row in emulated["original"] for c in ("first_name", "last_name", "email",
                  "phone")} - {None}  # fmt: skip
    masked_values = {value for row in emulated["masked"] for value in row if isinstance(value, str)}
    assert raw_values.isdisjoint(masked_values)
    emails = {row[COLUMNS.index("email")] for row in emulated["masked"]}
    assert all(e.endswith("@masked.invalid") for e in emails)
    assert {row[COLUMNS.index("phone")] for row in emulated["masked"]} == {"redacted", None}


@pytest.mark.slow
def test_tokens_are_deterministic_and_keep_joins_and_nulls(emulated):
    index = COLUMNS.index
    pairs = {(o[index("last_name")], m[index("last_name")]) for o, m in zip(emulated["original"], emulated["masked"],
                                                                              strict=True)}  # fmt: skip
    # one token per distinct value, and distinct values stay distinct: joins and counts are preserved
    assert len(pairs) == len({o for o, _ in pairs}) == len({m for _, m in pairs})
    # e-mails tokenise case-insensitively, like the lower-casing staging model joins on
    by_lower: dict[str, set[str]] = {}
    for o, m in zip(emulated["original"], emulated["masked"], strict=True):
        by_lower.setdefault(o[index("email")].lower(), set()).add(m[index("email")])
    assert all(len(tokens) == 1 for tokens in by_lower.values())
    nulls = [(o[index("phone")] is None) == (m[index("phone")] is None) for o, m in
             zip(emulated["original"], emulated["masked"], strict=True)]  # fmt: skip
    assert all(nulls)
    assert emulated["again"].tables == emulated["result"].tables


@pytest.mark.slow
def test_fails_closed_on_undeclared_columns_and_keeps_the_key_out_of_its_statements(emulated):
    assert "nickname" in emulated["undeclared"] and "does not declare" in emulated["undeclared"]
    assert not [s for s in emulated["statements"] if KEY in s]


@pytest.mark.slow
def test_tokens_are_the_hmac_of_the_value(emulated):
    first = COLUMNS.index("first_name")
    for original, masked in zip(emulated["original"], emulated["masked"], strict=True):
        assert masked[first] == "tok_" + mask.hmac_token(KEY, original[first])[:24]


@pytest.mark.slow
def test_mask_value_shows_a_value_as_the_masked_copy_holds_it(emulated):
    """The data diff masks its examples in Python: they must look exactly like the masked copy's values."""
    index = COLUMNS.index
    for original, masked in zip(emulated["original"], emulated["masked"], strict=True):
        assert mask.mask_value("token", KEY, original[index("first_name")]) == masked[index("first_name")]
        assert mask.mask_value("email", KEY, original[index("email")]) == masked[index("email")]
        assert mask.mask_value("redact", KEY, original[index("phone")]) == masked[index("phone")]
        assert mask.mask_value(None, KEY, original[index("job_title")]) == masked[index("job_title")]
    assert mask.mask_value("null", KEY, "free text") is None
