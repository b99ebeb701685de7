import io
import itertools

import fastavro
import pytest
from fastavro.utils import generate_many

from cicd.schemas.compat import Mode, Rule, SchemaError, can_read, check


def record(*fields, name="Event", namespace="com.example", **extra):
    return {"type": "record", "name": name, "namespace": namespace, "fields": list(fields), **extra}


def f(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


COLOR_V1 = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}
COLOR_V2 = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}
COLOR_V2_DEFAULT = {**COLOR_V2, "default": "RED"}
COLOR_V1_DEFAULT = {**COLOR_V1, "default": "RED"}

BASE = record(f("id", "string"), f("count", "int"))

# (case id, reader, writer, expected rules found when the reader decodes the writer's data)
CASES = [
    ("same", BASE, BASE, set()),
    (
        "reader adds field with default",
        record(f("id", "string"), f("count", "int"), f("note", ["null", "string"], default=None)),
        BASE,
        set(),
    ),
    (
        "reader adds field without default",
        record(f("id", "string"), f("count", "int"), f("note", "string")),
        BASE,
        {Rule.FIELD_NO_DEFAULT},
    ),
    ("reader drops a field", record(f("id", "string")), BASE, set()),
    ("int promoted to long", record(f("id", "string"), f("count", "long")), BASE, set()),
    ("int promoted to double", record(f("id", "string"), f("count", "double")), BASE, set()),
    ("long narrowed to int", BASE, record(f("id", "string"), f("count", "long")), {Rule.TYPE_MISMATCH}),
    ("string read as bytes", record(f("id", "bytes"), f("count", "int")), BASE, set()),
    ("string read as int", record(f("id", "int"), f("count", "int")), BASE, {Rule.TYPE_MISMATCH}),
    ("enum writer adds symbol", record(f("c", COLOR_V1)), record(f("c", COLOR_V2)), {Rule.ENUM_SYMBOL_MISSING}),
    ("enum writer adds symbol, reader has default", record(f("c", COLOR_V1_DEFAULT)), record(f("c", COLOR_V2)), set()),
    ("enum reader adds symbol", record(f("c", COLOR_V2_DEFAULT)), record(f("c", COLOR_V1)), set()),
    (
        "optional made required",
        record(f("id", "string")),
        record(f("id", ["null", "string"])),
        {Rule.UNION_BRANCH_MISSING},
    ),
    ("required made optional", record(f("id", ["null", "string"])), record(f("id", "string")), set()),
    (
        "union gains a branch on the reader",
        record(f("v", ["null", "string", "long"])),
        record(f("v", ["null", "string"])),
        set(),
    ),
    (
        "union loses a branch on the reader",
        record(f("v", ["null", "string"])),
        record(f("v", ["null", "string", "long"])),
        {Rule.UNION_BRANCH_MISSING},
    ),
    ("union branch promoted", record(f("v", ["null", "long"])), record(f("v", ["null", "int"])), set()),
    (
        "array items promoted",
        record(f("xs", {"type": "array", "items": "double"})),
        record(f("xs", {"type": "array", "items": "float"})),
        set(),
    ),
    (
        "array items mismatch",
        record(f("xs", {"type": "array", "items": "int"})),
        record(f("xs", {"type": "array", "items": "string"})),
        {Rule.TYPE_MISMATCH},
    ),
    (
        "map values mismatch",
        record(f("m", {"type": "map", "values": "long"})),
        record(f("m", {"type": "map", "values": "boolean"})),
        {Rule.TYPE_MISMATCH},
    ),
    (
        "fixed size changed",
        record(f("h", {"type": "fixed", "name": "Hash", "size": 16})),
        record(f("h", {"type": "fixed", "name": "Hash", "size": 32})),
        {Rule.FIXED_SIZE_MISMATCH},
    ),
    (
        "nested record gains required field",
        record(f("inner", record(f("a", "int"), f("b", "int"), name="Inner"))),
        record(f("inner", record(f("a", "int"), name="Inner"))),
        {Rule.FIELD_NO_DEFAULT},
    ),
    ("field renamed with alias", record(f("identifier", "string", aliases=["id"]), f("count", "int")), BASE, set()),
    (
        "field renamed without alias",
        record(f("identifier", "string"), f("count", "int")),
        BASE,
        {Rule.FIELD_NO_DEFAULT},
    ),
]


@pytest.mark.parametrize(("case", "reader", "writer", "expected"), CASES, ids=[c[0] for c in CASES])
def test_resolution_rules(case, reader, writer, expected):
    found = {i.rule for i in can_read(reader, writer)}
    assert found == expected


def _decodes_everything(reader, writer, count=300):
    """fastavro actually resolving: write generated data with the writer, read it with the reader."""
    parsed_writer = fastavro.parse_schema(writer)
    parsed_reader = fastavro.parse_schema(reader)
    for datum in generate_many(parsed_writer, count):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed_writer, datum)
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, parsed_writer, parsed_reader)
        except Exception:
            return False
    return True


@pytest.mark.parametrize(("case", "reader", "writer", "expected"), CASES, ids=[c[0] for c in CASES])
def test_verdicts_agree_with_fastavro_decoding_generated_data(case, reader, writer, expected):
    assert _decodes_everything(reader, writer) == (not can_read(reader, writer))


def test_field_path_names_the_nested_field():
    reader = record(f("inner", record(f("a", "int"), f("b", "int"), name="Inner")))
    writer = record(f("inner", record(f("a", "int"), name="Inner")))
    [problem] = can_read(reader, writer)
    assert problem.path == "Event.inner.b"
    assert "'b'" in problem.message
    assert "default" in problem.fix


def test_enum_message_names_the_missing_symbols():
    [problem] = can_read(record(f("c", COLOR_V1)), record(f("c", COLOR_V2)))
    assert problem.rule is Rule.ENUM_SYMBOL_MISSING
    assert "BLUE" in problem.message and problem.path == "Event.c"


def test_record_renamed_without_alias_is_a_name_mismatch_and_alias_fixes_it():
    renamed = record(f("id", "string"), f("count", "int"), name="Happening")
    assert {i.rule for i in can_read(renamed, BASE)} == {Rule.NAME_MISMATCH}
    aliased = {**renamed, "aliases": ["com.example.Event"]}
    assert can_read(aliased, BASE) == []


def test_recursive_records_resolve():
    node = record(f("value", "int"), f("next", ["null", "Node"], default=None), name="Node")
    promoted = record(f("value", "long"), f("next", ["null", "Node"], default=None), name="Node")
    assert can_read(promoted, node) == []
    assert {i.rule for i in can_read(node, promoted)} == {Rule.TYPE_MISMATCH}


def test_undefined_named_type_is_a_schema_error():
    with pytest.raises(SchemaError, match="Missing"):
        can_read(record(f("x", "Missing")), BASE)


V1 = record(f("id", "string"))
V2 = record(f("id", "string"), f("a", ["null", "string"], default=None))
V3_DROPS_A_DEFAULTLESS = record(f("id", "string"), f("b", "string", default="x"))  # reads v1, v2; v2 reads it
V3_REQUIRED = record(f("id", "string"), f("a", ["null", "string"], default=None), f("b", "string"))


@pytest.mark.parametrize(
    ("mode", "new", "expected_versions"),
    [
        (Mode.BACKWARD, V3_REQUIRED, {2}),
        (Mode.BACKWARD_TRANSITIVE, V3_REQUIRED, {1, 2}),
        (Mode.FORWARD, V3_REQUIRED, set()),  # old readers ignore the extra field
        (Mode.FULL, V3_REQUIRED, {2}),
        (Mode.FULL_TRANSITIVE, V3_REQUIRED, {1, 2}),
        (Mode.NONE, V3_REQUIRED, set()),
        (Mode.FULL_TRANSITIVE, V3_DROPS_A_DEFAULTLESS, set()),
    ],
)
def test_modes_pick_direction_and_history(mode, new, expected_versions):
    violations = check(new, [(1, V1), (2, V2)], mode)
    assert {v.against_version for v in violations} == expected_versions


def test_forward_catches_a_field_old_readers_need():
    old = record(f("id", "string"), f("count", "int"))
    new = record(f("id", "string"))
    [violation] = check(new, [(1, old)], Mode.FORWARD)
    assert violation.incompatibility.rule is Rule.FIELD_NO_DEFAULT
    assert violation.incompatibility.path == "Event.count"
    assert violation.direction == "version 1 reading new data"
    assert check(new, [(1, old)], Mode.BACKWARD) == []


def test_transitive_sees_what_pairwise_misses():
    # v2 drops the default of a field v1 never had; v3 is fine against v2 only.
    v1 = record(f("id", "string"))
    v2 = record(f("id", "string"), f("x", "int", default=0))
    v3 = record(f("id", "string"), f("x", "int"))
    assert check(v3, [(1, v1), (2, v2)], Mode.BACKWARD) == []
    [violation] = check(v3, [(1, v1), (2, v2)], Mode.BACKWARD_TRANSITIVE)
    assert violation.against_version == 1


def test_every_pair_of_repository_versions_is_symmetric_in_full_mode():
    versions = [V1, V2, V3_DROPS_A_DEFAULTLESS]
    for a, b in itertools.permutations(versions, 2):
        assert (not can_read(a, b)) == _decodes_everything(a, b)
