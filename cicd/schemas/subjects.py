"""The repository's event schemas as subjects: declared mode, current schema, released history.

Layout (pipeline_assets/schemas/):
  subjects.json                    subject -> topic, schema file, compatibility mode
  <subject>.avsc                   the schema the next release ships
  released/<subject>.json          the released history, append-only, oldest first

"Released" means merged to main: main is what the release pipeline builds and promotes, so a
schema on main may already be on the wire. `schemas baseline` records the current schema as the
next version once it passes the check; the check re-verifies the whole history on every run and
refuses a history that was rewritten (compared with the base ref when one is given).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from cicd.schemas.compat import Mode, SchemaError, Violation, check, parse
from platform_vocabulary.git import git

SCHEMAS_DIR = Path("pipeline_assets/schemas")
SUBJECTS_FILE = SCHEMAS_DIR / "subjects.json"
RELEASED_DIR = SCHEMAS_DIR / "released"
SPARK_DIR = Path("pipeline_assets/spark")
DEFAULT_MODE = Mode.BACKWARD


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str
    file: str
    fix: str
    line: int | None = None
    severity: str = "error"


@dataclass
class Subject:
    name: str
    topic: str
    mode: Mode
    schema_file: Path  # repository-relative
    schema: Any
    released: list[dict[str, Any]] = field(default_factory=list)

    @property
    def released_file(self) -> Path:
        return RELEASED_DIR / f"{self.name}.json"


def fingerprint(schema: Any) -> str:
    """CRC-64-AVRO (Rabin) of the Parsing Canonical Form: the id single-object encoding puts on the wire."""
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(schema, _write_hint=False))
    return fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")


def _load_json(root: Path, rel: Path) -> Any:
    return json.loads((root / rel).read_text(encoding="utf-8"))


def line_of(root: Path, rel: Path, field_path: str) -> int | None:
    """The line that declares the last component of a field path, so the finding opens at the field."""
    leaf = re.split(r"[.\[\]{}]", field_path.strip(".[]{}"))[-1]
    if not leaf:
        return None
    pattern = re.compile(rf'"name"\s*:\s*"{re.escape(leaf)}"')
    try:
        for number, text in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(text):
                return number
    except OSError:
        return None
    return None


def load(root: Path) -> tuple[list[Subject], list[Problem]]:
    problems: list[Problem] = []
    try:
        declared = _load_json(root, SUBJECTS_FILE)
    except (OSError, json.JSONDecodeError) as exc:
        return [], [Problem("schema-registry-unreadable", str(exc), str(SUBJECTS_FILE), "restore subjects.json")]
    subjects: list[Subject] = []
    for name, entry in sorted(declared.items()):
        mode_name = entry.get("compatibility", DEFAULT_MODE.value)
        try:
            mode = Mode(mode_name)
        except ValueError:
            problems.append(
                Problem(
                    "schema-unknown-compatibility",
                    f"subject {name} declares compatibility {mode_name!r}",
                    str(SUBJECTS_FILE),
                    f"use one of {', '.join(m.value for m in Mode)}",
                )
            )
            continue
        schema_file = SCHEMAS_DIR / entry["schema"]
        try:
            schema = _load_json(root, schema_file)
            fastavro.parse_schema(schema, _write_hint=False)
            parse(schema)
        except (OSError, json.JSONDecodeError, SchemaParseException, UnknownType, SchemaError) as exc:
            problems.append(Problem("avro-invalid-schema", f"{name}: {exc}", str(schema_file), "fix the Avro schema"))
            continue
        subject = Subject(name=name, topic=entry["topic"], mode=mode, schema_file=schema_file, schema=schema)
        if (root / subject.released_file).exists():
            subject.released = list(_load_json(root, subject.released_file)["versions"])
        subjects.append(subject)
    return subjects, problems


def referenced_topics(root: Path) -> dict[str, str]:
    """Topics the streaming jobs subscribe to (from their query contracts) -> the contract file."""
    topics: dict[str, str] = {}
    for contract in sorted((root / SPARK_DIR).glob("*/query.json")):
        rel = contract.relative_to(root).as_posix()
        for source in json.loads(contract.read_text(encoding="utf-8")).get("sources", []):
            for topic in source.get("topics", []):
                topics.setdefault(topic, rel)
    return topics


def _history_at(root: Path, ref: str, rel: Path) -> list[dict[str, Any]] | None:
    shown = git(root, "show", f"{ref}:{rel.as_posix()}")
    if not shown.ok:
        return None  # the file did not exist at the base ref: nothing to protect yet
    return list(json.loads(shown.text)["versions"])


def _history_problems(root: Path, subject: Subject, base_ref: str | None) -> list[Problem]:
    problems: list[Problem] = []
    rel = str(subject.released_file)
    for index, version in enumerate(subject.released, start=1):
        if version.get("version") != index:
            problems.append(
                Problem(
                    "schema-history-order",
                    f"{subject.name}: entry {index} is numbered {version.get('version')}",
                    rel,
                    "versions are 1, 2, 3… in order; restore the file from main",
                )
            )
        if version.get("fingerprint") != fingerprint(version["schema"]):
            problems.append(
                Problem(
                    "schema-history-tampered",
                    f"{subject.name} version {version.get('version')}: the schema no longer matches its "
                    "recorded fingerprint (a released schema was edited)",
                    rel,
                    "released versions are immutable: restore it and change the .avsc instead",
                )
            )
    if base_ref:
        before = _history_at(root, base_ref, subject.released_file)
        if before is not None and subject.released[: len(before)] != before:
            problems.append(
                Problem(
                    "schema-history-rewritten",
                    f"{subject.name}: versions released at {base_ref} were changed or removed",
                    rel,
                    f"restore it (`git checkout {base_ref} -- {rel}`); only append new versions",
                )
            )
    return problems


def violations_for(subject: Subject) -> tuple[list[Violation], bool]:
    """Violations of the current schema against the history; second item: is it already recorded."""
    history = [(v["version"], v["schema"]) for v in subject.released]
    recorded = bool(history) and subject.released[-1]["fingerprint"] == fingerprint(subject.schema)
    if recorded:
        history = history[:-1]  # it is the latest release: check it against the ones before it
    return check(subject.schema, history, subject.mode), recorded


def check_repository(root: Path, *, base_ref: str | None = None) -> list[Problem]:
    subjects, problems = load(root)
    try:
        declared_topics = {entry.get("topic") for entry in _load_json(root, SUBJECTS_FILE).values()}
    except (OSError, json.JSONDecodeError):
        declared_topics = set()  # already reported by load()
    for topic, contract in referenced_topics(root).items():
        if topic not in declared_topics:
            problems.append(
                Problem(
                    "schema-missing-for-topic",
                    f"topic {topic} is consumed but has no Avro subject",
                    contract,
                    f"add pipeline_assets/schemas/{topic}-value.avsc and declare it in subjects.json",
                )
            )
    for subject in subjects:
        problems += _history_problems(root, subject, base_ref)
        violations, recorded = violations_for(subject)
        for violation in violations:
            incompatibility = violation.incompatibility
            problems.append(
                Problem(
                    rule=incompatibility.rule.value,
                    message=f"{subject.name} is not {subject.mode.value} compatible: {violation.describe()}",
                    file=str(subject.schema_file),
                    line=line_of(root, subject.schema_file, incompatibility.path),
                    fix=incompatibility.fix,
                )
            )
        if not recorded and not violations:
            problems.append(
                Problem(
                    "schema-not-recorded",
                    f"{subject.name} changed since its last recorded version ({len(subject.released)} released)",
                    str(subject.schema_file),
                    "run `cicd schemas baseline` and commit released/ with the change",
                    severity="warning",
                )
            )
    return problems


def record_baseline(root: Path) -> list[str]:
    """Append each subject's current schema to its released history when it is new and compatible."""
    problems = [p for p in check_repository(root) if p.severity == "error"]
    if problems:
        raise ValueError("; ".join(f"{p.file}: [{p.rule}] {p.message}" for p in problems))
    subjects, _ = load(root)
    recorded: list[str] = []
    for subject in subjects:
        digest = fingerprint(subject.schema)
        if subject.released and subject.released[-1]["fingerprint"] == digest:
            continue
        version = len(subject.released) + 1
        subject.released.append({"version": version, "fingerprint": digest, "schema": subject.schema})
        path = root / subject.released_file
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"subject": subject.name, "compatibility": subject.mode.value, "versions": subject.released}
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        recorded.append(f"{subject.name} v{version} ({digest})")
    return recorded
