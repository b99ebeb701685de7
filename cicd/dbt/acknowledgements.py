"""Reviewed acknowledgements of intended changes to dbt models, one YAML file per kind of change.

The schema-compatibility check (dbt_project/schema_changes.yml) and the data diff (dbt_project/data_changes.yml)
read their files the same way: a list of `{model, change, [column], reason, approved_by, [ticket]}` entries. A
malformed entry acknowledges nothing and is an error naming its line; an entry that matches no change is a
warning, so it gets deleted once the change is part of what the check compares against (that is how an
acknowledgement expires).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from platform_vocabulary import yaml_source
from platform_vocabulary.findings import Finding

MIN_REASON = 15
OPTIONAL_KEYS = ("column", "ticket")
REQUIRED_KEYS = ("model", "change", "reason", "approved_by")


@dataclass(frozen=True)
class AckFile:
    """Where one kind of acknowledgement lives and what it may acknowledge."""

    path: Path  # repository-relative, as findings name it
    rules: Mapping[str, str]  # change id -> what it means
    rule_prefix: str  # findings are <prefix>:ack-invalid / <prefix>:ack-unused
    compared_with: str  # what the check compares against, for the unused warning ("the baseline")


@dataclass(frozen=True)
class Acknowledgement:
    model: str
    change: str
    column: str | None
    reason: str
    approved_by: str
    line: int | None

    def matches(self, model: str, change: str, column: str | None = None) -> bool:
        return self.model == model and self.change == change and (self.column or None) == (column or None)


def _invalid(spec: AckFile, message: str, line: int | None, fix: str) -> Finding:
    return Finding(f"{spec.rule_prefix}:ack-invalid", message, spec.path.as_posix(), line, fix=fix)


def _problem(entry: object, spec: AckFile) -> str | None:
    if not isinstance(entry, dict):
        return "is not a mapping"
    missing = [k for k in REQUIRED_KEYS if not str(entry.get(k) or "").strip()]
    unknown = sorted(set(entry) - {*REQUIRED_KEYS, *OPTIONAL_KEYS})
    if missing:
        return f"missing {', '.join(missing)}"
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}"
    if entry["change"] not in spec.rules:
        return f"change {entry['change']!r} is not one of {', '.join(spec.rules)}"
    if len(str(entry["reason"]).strip()) < MIN_REASON:
        return "the reason is too short to tell a reviewer why consumers are not broken"
    return None


def load(path: Path, spec: AckFile) -> tuple[list[Acknowledgement], list[Finding]]:
    """Reviewed acknowledgements, and findings for malformed ones (which acknowledge nothing)."""
    if not path.exists():
        return [], []
    rel = spec.path.as_posix()
    try:
        document = yaml_source.load(path, rel)
    except yaml_source.YamlSourceError as exc:
        return [], [_invalid(spec, exc.message, exc.line, "fix the YAML syntax")]
    data = document.data or {}
    entries = data.get("acknowledgements") or [] if isinstance(data, dict) else None
    if not isinstance(entries, list):
        message = "expected a mapping with an `acknowledgements` list"
        return [], [_invalid(spec, message, 1, "see the example at the top of the file")]
    lines: list[int | None] = [*document.item_lines("acknowledgements")] or [None] * len(entries)
    acks: list[Acknowledgement] = []
    findings: list[Finding] = []
    for entry, line in zip(entries, lines, strict=False):
        problem = _problem(entry, spec)
        if problem:
            fix = "give model, change, column (for column changes), reason and approved_by"
            findings.append(_invalid(spec, f"acknowledgement {problem}", line, fix))
            continue
        column = entry.get("column")
        acks.append(
            Acknowledgement(
                str(entry["model"]),
                str(entry["change"]),
                str(column).lower() if column else None,
                str(entry["reason"]),
                str(entry["approved_by"]),
                line,
            )
        )
    return acks, findings


def unused(acks: Sequence[Acknowledgement], used: set[int], spec: AckFile) -> list[Finding]:
    """A warning per acknowledgement that matched nothing: the change is in what we compare with, or reverted."""
    return [
        Finding(
            rule=f"{spec.rule_prefix}:ack-unused",
            message=f"acknowledgement for {ack.model} {ack.change} {ack.column or ''} matches no "
            f"change against {spec.compared_with}",
            file=spec.path.as_posix(),
            line=ack.line,
            fix=f"remove it ({spec.compared_with} already includes the change, or the change was reverted)",
            severity="warning",
        )
        for index, ack in enumerate(acks)
        if index not in used
    ]
