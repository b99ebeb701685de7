"""Names, types and the metadata schema the assistant's documentation implies."""

import json

import pytest
from jsonschema import Draft202012Validator

from cicd.dataservices.build import assistant_type
from pipeline_assets.dataservices import metadata as md
from pipeline_assets.dataservices.names import DATASET_NAME, part_code, version_code, versioned_name

DIGEST = "0123456789abcdef" * 4


@pytest.mark.parametrize("name", ["customer_health", "products", "a_b_c"])
def test_dataset_names_that_follow_the_documented_rule(name):
    assert DATASET_NAME.match(name)


@pytest.mark.parametrize("name", ["CustomerHealth", "customer-health", "health_v2", "_x", "x_", "a__b", ""])
def test_dataset_names_that_break_it(name):
    assert not DATASET_NAME.match(name)


def test_versions_and_parts_are_spelled_in_letters():
    assert version_code(DIGEST) == "abcdefghij"
    assert version_code("FEDCBA9876" + "0" * 10) == "ponmlkjihg"
    assert [part_code(i) for i in (0, 1, 25, 26, 675)] == ["aa", "ab", "az", "ba", "zz"]
    assert versioned_name("customer_health", DIGEST, 0, 1) == "customer_health_v_abcdefghij"
    assert versioned_name("customer_health", DIGEST, 2, 3) == "customer_health_v_abcdefghij_part_ac"
    assert DATASET_NAME.match(versioned_name("customer_health", DIGEST, 675, 676))


def test_version_and_part_bounds():
    with pytest.raises(ValueError, match="hexadecimal"):
        version_code("xyz")
    with pytest.raises(ValueError, match="at most 676 parts"):
        part_code(676)


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        ("varchar", "string"),
        ("VARCHAR(255)", "string"),
        ("text", "string"),
        ("integer", "integer"),
        ("number", "integer"),
        ("NUMBER(38,0)", "integer"),
        ("numeric(18, 2)", "float"),
        ("decimal(12,2)", "float"),
        ("decimal", "integer"),  # Snowflake: DECIMAL without arguments is NUMBER(38, 0)
        ("uuid", "string"),
        ("datetime", "datetime"),
        ("double precision", "float"),
        ("float", "float"),
        ("boolean", "boolean"),
        ("date", "date"),
        ("timestamp_ntz(9)", "datetime"),
        ("timestamp with time zone", "datetime"),
        ("variant", None),
        ("array", None),
        ("object", None),
        ("binary", None),
        ("geography", None),
        ("time", None),
        ("", None),
        (None, None),
    ],
)
def test_type_mapping(data_type, expected):
    assert assistant_type(data_type) == expected


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(json.loads(md.SCHEMA_PATH.read_text()))


def good() -> dict:
    return {
        "da_version": "2.0",
        "customer_health": md.dataset_entry(
            "customer_health", "One row per account with health signals.", [("account_id", "The account.", "string")]
        ),
    }


def test_a_rendered_document_validates():
    document = good()
    assert md.schema_errors(document) == []
    assert document["customer_health"]["column explanations"] == {"account_id": "The account. Type: string."}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(da_version="1.0"), "da_version: '2.0' was expected"),
        (lambda d: d.pop("da_version"), "(document): 'da_version' is a required property"),
        (
            lambda d: d.update(CustomerHealth=d.pop("customer_health")),
            "'CustomerHealth' does not match any of the regexes",
        ),
        (lambda d: d["customer_health"].pop("description"), "'description' is a required property"),
        (lambda d: d["customer_health"].update(extra="x"), "Additional properties are not allowed ('extra'"),
        (lambda d: d["customer_health"]["column explanations"].clear(), "should be non-empty"),
        (lambda d: d["customer_health"]["column explanations"].update(Bad="x"), "'Bad' does not match"),
        (lambda d: d["customer_health"].update({"dataframe name": "other"}), "must equal the entry's key"),
        (lambda d: d.pop("customer_health"), "does not have enough properties"),
    ],
)
def test_schema_violations_are_named(change, expected):
    document = good()
    change(document)
    problems = md.schema_errors(document)
    assert any(expected in p for p in problems), problems


def test_a_chunked_dataset_becomes_one_dataframe_per_part():
    document = md.for_published_version(
        good(), {"customer_health": ["customer_health_v_a_part_aa", "customer_health_v_a_part_ab"]}
    )
    assert list(document) == ["da_version", "customer_health_v_a_part_aa", "customer_health_v_a_part_ab"]
    first = document["customer_health_v_a_part_aa"]
    assert first["dataframe name"] == "customer_health_v_a_part_aa"
    assert "Part 1 of 2 of the customer_health dataset" in first["description"]
    assert "continue in customer_health_v_a_part_ab" in first["description"]
    assert md.schema_errors(document) == []
