"""The one YAML loader: file:line in every error, no anchors or aliases (billion laughs), no duplicate keys."""

import time
from pathlib import Path

import pytest

from platform_vocabulary import yaml_source

BOMB = Path(__file__).resolve().parents[2] / "fixtures" / "yaml" / "billion_laughs.yaml"


def test_a_billion_laughs_file_fails_fast_naming_the_file_and_the_first_anchor():
    assert BOMB.stat().st_size < 1000
    started = time.perf_counter()
    with pytest.raises(yaml_source.YamlSourceError) as caught:
        yaml_source.load(BOMB, "bomb.yaml")
    assert time.perf_counter() - started < 5
    assert str(caught.value).startswith("bomb.yaml:3: YAML anchor &l0 is not allowed")
    assert "write the value out in full" in str(caught.value)


def test_an_alias_without_its_anchor_on_the_same_line_is_named_at_its_own_line():
    text = "base:\n  region: eu-west-1\nother: *base\n"  # undefined alias: refused as an alias, not a YAML error
    with pytest.raises(yaml_source.YamlSourceError, match=r"^f.yaml:3: YAML alias \*base is not allowed"):
        yaml_source.parse(text, "f.yaml")


def test_merge_keys_are_aliases_too():
    with pytest.raises(yaml_source.YamlSourceError, match=r"f\.yaml:1: YAML anchor &d"):
        yaml_source.parse("d: &d {a: 1}\ne:\n  <<: *d\n", "f.yaml")


def test_data_and_key_lines():
    document = yaml_source.parse("a: 1\nb:\n  c: [1, 2]\nitems:\n  - x: 1\n  - x: 2\n", "f.yaml")
    assert document.data == {"a": 1, "b": {"c": [1, 2]}, "items": [{"x": 1}, {"x": 2}]}
    assert document.key_lines() == {"a": 1, "b": 2, "b.c": 3, "items": 4}
    assert document.item_lines("items") == [5, 6]


def test_an_empty_file_is_none():
    assert yaml_source.parse("", "f.yaml").data is None


def test_invalid_yaml_and_missing_files_name_the_file(tmp_path):
    with pytest.raises(yaml_source.YamlSourceError, match=r"^f.yaml:3: not valid YAML") as caught:
        yaml_source.parse("a: 1\nb: [1\n", "f.yaml")
    assert "in f.yaml, line 2" in str(caught.value)
    with pytest.raises(yaml_source.YamlSourceError, match=r"missing\.yaml: file not found"):
        yaml_source.load(tmp_path / "missing.yaml", "missing.yaml")


@pytest.mark.parametrize(
    ("text", "line", "first"),
    [
        ("retries: 2\nowner: crm-data\nretries: 5\n", 3, 1),  # the example: the second one won, silently
        ("spark:\n  job: a\n  size: small\n  size: large\n", 4, 3),
        ("items:\n  - x: 1\n    y: 2\n    x: 3\n", 4, 2),
    ],
    ids=["top-level", "nested", "in-a-list-item"],
)
def test_a_key_written_twice_in_one_mapping_is_refused_at_its_second_line(text, line, first):
    with pytest.raises(yaml_source.YamlSourceError) as caught:
        yaml_source.parse(text, "f.yaml")
    error = caught.value
    assert (error.line, error.rule) == (line, "duplicate-key")
    assert f"(also on line {first})" in error.message and "keep only the last" in error.message
    assert error.fix and "delete the other" in error.fix
    assert str(error).startswith(f"f.yaml:{line}: duplicate key")


def test_the_same_key_in_different_mappings_is_fine():
    document = yaml_source.parse("a:\n  name: x\nb:\n  name: y\nitems:\n  - name: 1\n  - name: 2\n", "f.yaml")
    assert document.data["b"] == {"name": "y"}


def test_errors_carry_a_rule_id_and_no_placeholder(tmp_path):
    with pytest.raises(yaml_source.YamlSourceError) as caught:
        yaml_source.parse("a: 1\nb: [1\n", "f.yaml")
    assert caught.value.rule == "yaml-syntax"
    with pytest.raises(yaml_source.YamlSourceError) as caught:
        yaml_source.load(tmp_path / "missing.yaml")
    assert caught.value.rule == "file-not-found"
