"""Avro schema compatibility: the reader/writer resolution rules of the Avro specification.

`can_read(reader, writer)` answers "can data written with `writer` be decoded with `reader`?"
following "Schema Resolution" in the Avro 1.11 specification (the same rules as the Java
SchemaCompatibility class and the `avro` package's ReaderWriterCompatibilityChecker). On top of
it, `check()` applies a schema-registry compatibility mode (BACKWARD, FORWARD, FULL, their
transitive variants, NONE) against the released history.

Why not a library: the `avro` package's checker is pairwise only, reports JSON-pointer locations
rather than field names, and is not in the pinned toolchain; fastavro resolves schemas at read
time but has no static checker. The tests cross-check every verdict against fastavro actually
decoding generated data, so the two cannot silently drift apart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})

# Writer type -> reader types it may be promoted to (Avro spec, "Schema Resolution").
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class Rule(str, enum.Enum):
    """Rule ids, stable: they appear in gate findings and docs."""

    TYPE_MISMATCH = "avro-type-mismatch"
    FIELD_NO_DEFAULT = "avro-reader-field-missing-default"
    ENUM_SYMBOL_MISSING = "avro-enum-symbol-missing"
    UNION_BRANCH_MISSING = "avro-union-branch-missing"
    NAME_MISMATCH = "avro-name-mismatch"
    FIXED_SIZE_MISMATCH = "avro-fixed-size-mismatch"


FIXES: dict[Rule, str] = {
    Rule.TYPE_MISMATCH: "keep the field's type, use an allowed promotion (int→long→float→double, string↔bytes), "
    "or add a new field with a new name",
    Rule.FIELD_NO_DEFAULT: "give the field a default (e.g. make it a union with null first and default null)",
    Rule.ENUM_SYMBOL_MISSING: 'keep every released symbol, or give the enum a "default" symbol readers fall back to',
    Rule.UNION_BRANCH_MISSING: "keep the union's existing branches; add new branches instead of replacing them",
    Rule.NAME_MISMATCH: "keep the type's full name, or list the old full name in the new type's \"aliases\"",
    Rule.FIXED_SIZE_MISMATCH: "a fixed type's size cannot change; add a new field with a new fixed type",
}


class Mode(str, enum.Enum):
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def new_reads_old(self) -> bool:  # consumers upgrade first
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def old_reads_new(self) -> bool:  # producers upgrade first
        return self.value.startswith(("FORWARD", "FULL"))


class SchemaError(ValueError):
    """The schema is not valid Avro (unknown type, undefined name, missing attribute)."""


@dataclass(frozen=True)
class Incompatibility:
    rule: Rule
    path: str  # where in the reader schema, e.g. "OperationEvent.event_type"
    message: str

    @property
    def fix(self) -> str:
        return FIXES[self.rule]


@dataclass(frozen=True)
class Violation:
    """An incompatibility found while checking a new schema against one released version."""

    incompatibility: Incompatibility
    against_version: int
    direction: str  # "new schema reading version N data" or "version N reading new data"

    def describe(self) -> str:
        i = self.incompatibility
        return f"{i.path}: {i.message} ({self.direction})"


# --- parsing into a resolved graph -------------------------------------------------------


@dataclass(eq=False)
class Node:
    """One schema node with named references resolved (records may refer to themselves)."""

    type: str
    name: str | None = None  # full name of a named type
    aliases: frozenset[str] = frozenset()
    fields: tuple[FieldNode, ...] = ()
    symbols: tuple[str, ...] = ()
    enum_default: str | None = None
    size: int | None = None
    items: Node | None = None
    values: Node | None = None
    branches: tuple[Node, ...] = ()

    @property
    def short_name(self) -> str:
        return (self.name or self.type).rsplit(".", 1)[-1]

    def label(self) -> str:
        return self.name if self.name else self.type


@dataclass(eq=False)
class FieldNode:
    name: str
    type: Node
    has_default: bool
    aliases: frozenset[str]


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


class _Parser:
    def __init__(self) -> None:
        self.names: dict[str, Node] = {}

    def parse(self, schema: Any, namespace: str | None) -> Node:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return Node(type=schema)
            for candidate in (_full(schema, namespace), schema):
                if candidate in self.names:
                    return self.names[candidate]
            raise SchemaError(f"type {schema!r} is neither a primitive nor a named type defined before its use")
        if isinstance(schema, list):
            return Node(type="union", branches=tuple(self.parse(branch, namespace) for branch in schema))
        if not isinstance(schema, dict) or "type" not in schema:
            raise SchemaError(f"not an Avro schema: {schema!r}")
        kind = schema["type"]
        if isinstance(kind, (dict, list)) or kind not in PRIMITIVES | NAMED | {"array", "map"}:
            return self.parse(kind, namespace)  # {"type": {...}} or {"type": "SomeNamedType"}
        if kind in PRIMITIVES:
            return Node(type=kind)  # logical types resolve on their underlying type
        if kind == "array":
            return Node(type="array", items=self.parse(schema["items"], namespace))
        if kind == "map":
            return Node(type="map", values=self.parse(schema["values"], namespace))
        return self._named(schema, namespace)

    def _named(self, schema: dict[str, Any], namespace: str | None) -> Node:
        kind = "record" if schema["type"] == "error" else schema["type"]
        if "name" not in schema:
            raise SchemaError(f"a {kind} needs a name")
        name = schema["name"]
        own_namespace = name.rsplit(".", 1)[0] if "." in name else schema.get("namespace", namespace)
        full = _full(name, own_namespace)
        node = Node(
            type=kind,
            name=full,
            aliases=frozenset(_full(a, own_namespace) for a in schema.get("aliases", [])),
        )
        self.names[full] = node  # registered before its fields so that recursive records resolve
        if kind == "record":
            node.fields = tuple(
                FieldNode(
                    name=field["name"],
                    type=self.parse(field["type"], own_namespace),
                    has_default="default" in field,
                    aliases=frozenset(field.get("aliases", [])),
                )
                for field in schema.get("fields", [])
            )
        elif kind == "enum":
            node.symbols = tuple(schema["symbols"])
            node.enum_default = schema.get("default")
        elif kind == "fixed":
            node.size = int(schema["size"])
        return node


def parse(schema: Any) -> Node:
    try:
        return _Parser().parse(schema, None)
    except KeyError as exc:
        raise SchemaError(f"missing attribute {exc.args[0]!r}") from exc


# --- resolution -------------------------------------------------------------------------


class _Resolver:
    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.found: list[Incompatibility] = []

    def report(self, rule: Rule, path: str, message: str) -> None:
        self.found.append(Incompatibility(rule, path, message))

    def ok(self, reader: Node, writer: Node) -> bool:
        """A side-effect-free probe (for picking a union branch)."""
        probe = _Resolver()
        probe.seen = set(self.seen)
        probe.check(reader, writer, "")
        return not probe.found

    def check(self, reader: Node, writer: Node, path: str) -> None:
        key = (id(reader), id(writer))
        if key in self.seen:  # a recursive type already being compared: assume compatible
            return
        self.seen.add(key)
        if writer.type == "union":
            # Every branch the writer may use must be readable.
            for index, branch in enumerate(writer.branches):
                if reader.type == "union":
                    if not any(self.ok(candidate, branch) for candidate in reader.branches):
                        self.report(
                            Rule.UNION_BRANCH_MISSING,
                            path or reader.label(),
                            f"the writer's union branch {index} ({branch.label()}) has no matching branch in the "
                            f"reader's union",
                        )
                elif branch.type == reader.type:
                    self.check(reader, branch, path)  # same kind: report what inside it differs
                elif not self.ok(reader, branch):
                    self.report(
                        Rule.UNION_BRANCH_MISSING,
                        path or reader.label(),
                        f"the writer's union branch {index} ({branch.label()}) may be written but the reader "
                        f"expects only {reader.label()}",
                    )
            return
        if reader.type == "union":
            for candidate in reader.branches:
                if self.ok(candidate, writer):
                    self.check(candidate, writer, path)
                    return
            self.report(
                Rule.UNION_BRANCH_MISSING,
                path or reader.label(),
                f"the reader's union has no branch that reads the writer's {writer.label()}",
            )
            return
        if reader.type != writer.type:
            if reader.type in PROMOTIONS.get(writer.type, frozenset()):
                return
            self.report(
                Rule.TYPE_MISMATCH,
                path or reader.label(),
                f"{writer.label()} written, {reader.label()} expected: not a type the Avro rules promote",
            )
            return
        here = path or reader.short_name
        if reader.type in ("record", "enum", "fixed") and not self._names_match(reader, writer):
            self.report(
                Rule.NAME_MISMATCH,
                here,
                f"{reader.type} named {reader.name} cannot read {writer.name} (no alias names it)",
            )
            return
        if reader.type == "record":
            self._record(reader, writer, here)
        elif reader.type == "enum":
            missing = [s for s in writer.symbols if s not in reader.symbols]
            if missing and reader.enum_default is None:
                self.report(
                    Rule.ENUM_SYMBOL_MISSING,
                    here,
                    f"symbols {', '.join(missing)} may be written but the reader's enum {reader.short_name} lacks "
                    "them and has no default",
                )
        elif reader.type == "fixed":
            if reader.size != writer.size:
                self.report(Rule.FIXED_SIZE_MISMATCH, here, f"fixed size {writer.size} written, {reader.size} expected")
        elif reader.type == "array":
            assert reader.items is not None and writer.items is not None
            self.check(reader.items, writer.items, f"{here}[]")
        elif reader.type == "map":
            assert reader.values is not None and writer.values is not None
            self.check(reader.values, writer.values, f"{here}{{}}")

    @staticmethod
    def _names_match(reader: Node, writer: Node) -> bool:
        return reader.short_name == writer.short_name or writer.name in reader.aliases

    def _record(self, reader: Node, writer: Node, path: str) -> None:
        by_name = {f.name: f for f in writer.fields}
        for field in reader.fields:
            source = by_name.get(field.name) or next((by_name[a] for a in sorted(field.aliases) if a in by_name), None)
            field_path = f"{path}.{field.name}"
            if source is None:
                if not field.has_default:
                    self.report(
                        Rule.FIELD_NO_DEFAULT,
                        field_path,
                        f"field {field.name!r} is absent from the written data and has no default",
                    )
                continue
            self.check(field.type, source.type, field_path)


def can_read(reader: Any, writer: Any) -> list[Incompatibility]:
    """Incompatibilities met when `reader` decodes data written with `writer` (empty: compatible)."""
    resolver = _Resolver()
    resolver.check(parse(reader), parse(writer), "")
    return resolver.found


def check(new: Any, history: list[tuple[int, Any]], mode: Mode) -> list[Violation]:
    """Check a new schema against released versions [(version, schema)], oldest first, under a mode."""
    if mode is Mode.NONE or not history:
        return []
    against = history if mode.transitive else history[-1:]
    violations: list[Violation] = []
    for version, old in against:
        if mode.new_reads_old:
            direction = f"new schema reading version {version} data"
            violations += [Violation(i, version, direction) for i in can_read(new, old)]
        if mode.old_reads_new:
            direction = f"version {version} reading new data"
            violations += [Violation(i, version, direction) for i in can_read(old, new)]
    return violations
