"""Avro schemas of the Kafka topics, their declared compatibility, and the released history.

Read with importlib.resources so that the same loader works from the repository and from the
Spark job's deps.zip (the streaming job resolves writer schemas from the released history).
Standard library only: this package ships inside Spark bundles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SUBJECTS_FILE = "subjects.json"
RELEASED_DIR = "released"
DEFAULT_COMPATIBILITY = "BACKWARD"


@dataclass(frozen=True)
class Subject:
    name: str  # "<topic>-value" (the topic-name strategy)
    topic: str
    schema_file: str
    compatibility: str


def _text(*parts: str) -> str:
    node = resources.files(__name__)
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def subjects() -> dict[str, Subject]:
    raw = json.loads(_text(SUBJECTS_FILE))
    return {
        name: Subject(
            name=name,
            topic=entry["topic"],
            schema_file=entry["schema"],
            compatibility=entry.get("compatibility", DEFAULT_COMPATIBILITY),
        )
        for name, entry in sorted(raw.items())
    }


def subject_for_topic(topic: str) -> Subject:
    for subject in subjects().values():
        if subject.topic == topic:
            return subject
    raise KeyError(f"no Avro subject is declared for topic {topic!r} in pipeline_assets/schemas/{SUBJECTS_FILE}")


def current_schema(subject: str) -> Any:
    return json.loads(_text(subjects()[subject].schema_file))


def released_versions(subject: str) -> list[dict[str, Any]]:
    """The released history, oldest first: [{"version", "fingerprint", "schema"}]. Empty before the first release."""
    try:
        raw = json.loads(_text(RELEASED_DIR, f"{subject}.json"))
    except FileNotFoundError:
        return []
    return list(raw["versions"])
