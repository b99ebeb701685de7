"""pydantic's validation errors as problems a person can act on: file, line, field, rule and fix.

The config loader (config/loader.py) and the pipeline specs (platform_vocabulary/pipeline_spec.py) both read
YAML into a pydantic model; this turns what pydantic reports into the same kind of message for both:

- an unknown key names the nearest field of the model ("did you mean `retries`?"), from the model
  itself, so a new field is suggested the day it exists;
- a missing field points at the line of the mapping it belongs in (`spark:`), since it has none of
  its own;
- every problem carries a rule id that says what kind of mistake it is (`missing-field`,
  `unknown-field`, `value-not-allowed`, ... or the rule a model validator names by raising
  `RuleViolation`), never a placeholder.

Shipped to MWAA inside the DAG folder with the rest of yaml_source: pydantic (an Airflow dependency)
and the standard library only.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from platform_vocabulary.yaml_source import YamlDocument, YamlSourceError


class RuleViolation(ValueError):  # noqa: N818  (a ValueError pydantic reports; the name says what it carries)
    """Raised by a model validator to name the rule it enforces; the message may start with `field.path: `."""

    def __init__(self, rule: str, message: str, fix: str | None = None):
        self.rule, self.fix = rule, fix
        super().__init__(message)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a YAML file. `field` is the dotted path ("spark.size"), "" for the whole file."""

    file: str
    field: str
    message: str
    line: int | None = None
    rule: str = "invalid-value"
    fix: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


# pydantic's error types, grouped into the rule ids people see.
RULES_BY_TYPE: Mapping[str, str] = {
    "missing": "missing-field",
    "union_tag_not_found": "missing-field",
    "extra_forbidden": "unknown-field",
    "literal_error": "value-not-allowed",
    "enum": "value-not-allowed",
    "union_tag_invalid": "value-not-allowed",
    "string_pattern_mismatch": "value-format",
    "greater_than": "value-out-of-range",
    "greater_than_equal": "value-out-of-range",
    "less_than": "value-out-of-range",
    "less_than_equal": "value-out-of-range",
    "too_short": "value-out-of-range",
    "too_long": "value-out-of-range",
    "string_too_short": "value-out-of-range",
    "string_too_long": "value-out-of-range",
    "model_type": "wrong-type",
    "model_attributes_type": "wrong-type",
    "dict_type": "wrong-type",
    "list_type": "wrong-type",
    "tuple_type": "wrong-type",
}


def _rule_of(error_type: str) -> str:
    if error_type in RULES_BY_TYPE:
        return RULES_BY_TYPE[error_type]
    # int_parsing, bool_type, date_from_datetime_parsing, ...: a value of the wrong kind.
    return "wrong-type" if error_type.endswith(("_type", "_parsing")) else "invalid-value"


def from_source_error(exc: YamlSourceError) -> Problem:
    """A file that is not YAML we accept (syntax, anchors, duplicate keys): the rule is the loader's."""
    return Problem(exc.file, "", exc.message, exc.line, rule=exc.rule, fix=exc.fix)


def not_a_mapping(file: str, what: str) -> Problem:
    return Problem(file, "", f"must be a mapping of {what} (`key: value` lines)", 1, rule="not-a-mapping")


def problems_from(
    error: ValidationError,
    document: YamlDocument,
    model: type[BaseModel],
    *,
    rules_at: str,
    anchor_fields: Collection[str] = (),
    noun: str = "field",
) -> list[Problem]:
    """Every error of `error` as a Problem of `document`'s file.

    `rules_at` names where the rules live (for fixes that can only point there); `anchor_fields` are
    fields whose line stands in for a model-level rule about a section that is not there at all;
    `noun` is what the file's keys are called in messages ("field", "setting").
    """
    lines = document.key_lines()
    top_line = document.node.start_mark.line + 1 if document.node is not None else 1
    translator = _Translator(model, lines, top_line, rules_at, tuple(anchor_fields), noun)
    return [translator.problem(document.file, item) for item in error.errors()]


class _Translator:
    def __init__(
        self,
        model: type[BaseModel],
        lines: dict[str, int],
        top_line: int,
        rules_at: str,
        anchors: tuple[str, ...],
        noun: str,
    ):
        self.model, self.lines, self.top_line, self.rules_at, self.anchors = model, lines, top_line, rules_at, anchors
        self.noun = noun

    def problem(self, file: str, item: Any) -> Problem:
        raw_loc = tuple(item["loc"])
        parts, parent_model = self._walk(raw_loc)
        field = ".".join(parts)
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        violation = (item.get("ctx") or {}).get("error")
        rule = getattr(violation, "rule", None) or _rule_of(kind)
        if kind in ("missing", "union_tag_not_found"):
            return self._missing(file, parts, parent_model, item)
        if kind == "extra_forbidden":
            return self._unknown(file, parts, parent_model)
        if kind == "union_tag_invalid":
            expected = item["ctx"]["expected_tags"]
            field = ".".join([*parts, item["ctx"]["discriminator"].strip("'")])
            message = f"must be one of {expected} (got {item['ctx']['tag']!r})"
            return Problem(file, field, message, self._line(field), rule, f"use one of {expected}")
        if not field:
            # A model-level rule says which field it is about as "field.path: message".
            named, _, rest = message.partition(": ")
            if rest and " " not in named:
                field, message = named, rest
        elif "input" in item and not isinstance(item["input"], dict) and "(got" not in message:
            message += f" (got {item['input']!r})"
        fix = getattr(violation, "fix", None) or self._fix(rule, field)
        return Problem(file, field, message, self._line(field), rule, fix)

    def _walk(self, loc: tuple[Any, ...]) -> tuple[list[str], type[BaseModel] | None]:
        """The loc as people write it (no union tags, no indexes) and the model that owns its last part."""
        parts: list[str] = []
        current: Any = self.model
        owner: type[BaseModel] | None = self.model
        for step in loc:
            if isinstance(step, int):
                current = _element(current)
                continue
            member = _union_member(current, str(step))
            if member is not None:  # a discriminated union's tag: pydantic's, not a key in the file
                current, owner = member, member
                continue
            parts.append(str(step))
            owner = current if _is_model(current) else None
            current = _field_type(current, str(step))
        return parts, owner

    def _line(self, field: str) -> int:
        """The field's own line, else its nearest written ancestor's, else an anchor's, else the top."""
        path = field
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return next((self.lines[a] for a in self.anchors if a in self.lines), self.top_line)

    def _missing(self, file: str, parts: list[str], owner: type[BaseModel] | None, item: Any) -> Problem:
        allowed = None
        if item["type"] == "union_tag_not_found":
            discriminator = str(item["ctx"]["discriminator"]).strip("'")
            members = _field_type(owner, parts[-1]) if owner else None
            if isinstance(members, tuple):
                allowed = ", ".join(str(_allowed_values(member, discriminator)) for member in members)
            parts, owner = [*parts, discriminator], None
        name, parent = parts[-1], ".".join(parts[:-1])
        where = f"`{parent}`" if parent else "the file"
        allowed = allowed or (_allowed_values(owner, name) if owner else None)
        line = self._line(parent) if parent else self.top_line
        message = f"required {self.noun} `{name}` is missing from {where}"
        fix = f"add `{name}:` " + (f"under `{parent}:` (line {line})" if parent else "to the file")
        fix += f"; one of {allowed}" if allowed else ""
        return Problem(file, ".".join(parts), message, line, "missing-field", fix)

    def _unknown(self, file: str, parts: list[str], owner: type[BaseModel] | None) -> Problem:
        name, parent = parts[-1], ".".join(parts[:-1])
        # pydantic names the model that forbade the key: the fields of the section the key sits in.
        import difflib  # only for a file with a mistake: DAG files import this module on every parse

        known = sorted(_field_names(owner)) if owner else []
        guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        where = f"`{parent}`" if parent else "the file"
        message = f"unknown {self.noun} `{name}` in {where}" + (f"; did you mean `{guess[0]}`?" if guess else "")
        fix = f"rename it to `{guess[0]}`" if guess else f"remove it; {where} takes: {', '.join(known)}"
        return Problem(file, ".".join(parts), message, self._line(".".join(parts)), "unknown-field", fix)

    def _fix(self, rule: str, field: str) -> str:
        target = f"`{field}`" if field else "the value"
        if rule == "value-not-allowed":
            return f"set {target} to one of the values the message lists"
        if rule == "wrong-type":
            return f"give {target} the kind of value it takes (see {self.rules_at})"
        return f"correct {target}; the rule is in {self.rules_at}"


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _unwrapped(annotation: Any) -> list[Any]:
    """The types an annotation can hold: Optional, Annotated and unions opened up."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrapped(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [t for arg in typing.get_args(annotation) for t in _unwrapped(arg) if t is not type(None)]
    return [annotation]


def _field_type(owner: Any, name: str) -> Any:
    if not _is_model(owner) or name not in owner.model_fields:
        return None
    candidates = _unwrapped(owner.model_fields[name].annotation)
    models = [c for c in candidates if _is_model(c)]
    if len(models) > 1:
        return tuple(models)  # a discriminated union: the next loc part picks the member
    return models[0] if models else candidates[0] if candidates else None


def _element(container: Any) -> Any:
    args = [a for a in typing.get_args(container) if a is not Ellipsis]
    return _unwrapped(args[-1])[0] if args else None


def _union_member(current: Any, tag: str) -> type[BaseModel] | None:
    if not isinstance(current, tuple):
        return None
    for member in current:
        for info in member.model_fields.values():
            if typing.get_origin(info.annotation) is typing.Literal and typing.get_args(info.annotation) == (tag,):
                return member
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _allowed_values(owner: type[BaseModel], name: str) -> str | None:
    info = owner.model_fields.get(name)
    if info is None:
        return None
    for candidate in _unwrapped(info.annotation):
        if typing.get_origin(candidate) is typing.Literal:
            return ", ".join(str(value) for value in typing.get_args(candidate))
    return info.description
