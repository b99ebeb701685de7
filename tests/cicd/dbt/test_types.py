"""One Snowflake type normaliser for the compatibility check and the data-service build."""

from __future__ import annotations

import pytest

from cicd.dataservices.build import assistant_type
from cicd.dbt import compat
from cicd.dbt.types import normalize_type


@pytest.mark.parametrize(
    ("raw", "base", "params"),
    [
        ("number", "integer", ()),  # Snowflake: NUMBER = NUMBER(38, 0)
        ("DECIMAL", "integer", ()),
        ("number(10)", "integer", ()),
        ("numeric(18, 2)", "numeric", (18, 2)),
        ("number(38,4)", "numeric", (38, 4)),
        ("character varying(20)", "string", (20,)),
        ("STRING", "string", ()),
        ("timestamp_ntz(9)", "timestamp_ntz", (9,)),
        ("datetime", "timestamp_ntz", ()),
        ("timestamp with local time zone", "timestamp_ltz", ()),
        ("real", "float", ()),
        ("variant", "variant", ()),
        ("not a type", "not a type", ()),  # unknown: compared as written
    ],
)
def test_snowflake_aliases_fall_into_one_family(raw, base, params):
    normalised = normalize_type(raw)
    assert (normalised.base, normalised.params, str(normalised)) == (base, params, raw)


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_no_type_is_none(raw):
    assert normalize_type(raw) is None


def test_a_bare_number_and_number_38_0_are_the_same_contract_type():
    """The compatibility check called NUMBER -> NUMBER(38, 0) a type change; Snowflake stores them alike."""
    assert compat.normalize_type("number").base == compat.normalize_type("NUMBER(38,0)").base == "integer"


@pytest.mark.parametrize("raw", ["number", "decimal", "numeric", "number(12,0)", "numeric(12, 2)", "text", "uuid"])
def test_the_compat_check_and_the_data_service_build_agree(raw):
    """Same column, same family: a whole-number column is no float in one and an integer in the other."""
    family = normalize_type(raw).base
    expected = {"integer": "integer", "numeric": "float", "string": "string"}[family]
    assert assistant_type(raw) == expected
