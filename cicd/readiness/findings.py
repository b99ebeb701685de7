"""What a rule reports, and the suppressions that may silence it: each with a reason, or it is a finding itself.

A suppression sits either on the resource, in its template metadata as cdk-nag's do:

    Metadata:
      deploy_readiness:
        rules_to_suppress:
          - id: RoleNamedBeforeItIsCreated
            reason: why this is safe here
            applies_to: [arn:aws:iam::111111111111:role/x]   # optional: only findings about these

or in the reviewed file `cicd/readiness/suppressions.yaml`, naming the stack and logical id (globs allowed).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_vocabulary.yaml_source import YamlSourceError, load

METADATA_KEY = "deploy_readiness"
SUPPRESSIONS_FILE = "cicd/readiness/suppressions.yaml"
# A reason says why the relation is safe here; a word or two ("ok", "known") does not.
MIN_REASON_LENGTH = 20


@dataclass(frozen=True)
class Finding:
    rule: str
    stack: str  # the stack's construct path
    logical_id: str
    message: str
    fix: str
    template: str  # the template file, for people to open
    subject: str = ""  # what the resource relates to (a role ARN, a key): what `applies_to` narrows on
    severity: str = "error"

    def render(self) -> str:
        return f"{self.stack} {self.logical_id}: [{self.rule}] {self.message} Fix: {self.fix}"

    def as_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "stack": self.stack,
            "logical_id": self.logical_id,
            "message": self.message,
            "fix": self.fix,
            "template": self.template,
            "subject": self.subject,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class Suppression:
    rule: str
    reason: str
    stack: str  # glob on the stack path or stack name
    logical_id: str  # glob
    applies_to: tuple[str, ...] = ()
    source: str = ""  # where it is written: "<file>:<line>" or "<template> metadata of <logical id>"
    in_metadata: bool = False

    def matches(self, finding: Finding, stack_name: str = "") -> bool:
        return (
            finding.rule == self.rule
            and (fnmatch.fnmatchcase(finding.stack, self.stack) or fnmatch.fnmatchcase(stack_name, self.stack))
            and fnmatch.fnmatchcase(finding.logical_id, self.logical_id)
            and (not self.applies_to or any(fnmatch.fnmatchcase(finding.subject, a) for a in self.applies_to))
        )

    @property
    def has_reason(self) -> bool:
        return len(self.reason.strip()) >= MIN_REASON_LENGTH


class SuppressionFileError(Exception):
    """The reviewed suppression file is not what it must be; the message names the file, line and fix."""


def metadata_suppressions(stack_path: str, logical_id: str, body: dict[str, Any], template: str) -> list[Suppression]:
    metadata = (body.get("Metadata") or {}).get(METADATA_KEY) or {}
    entries = metadata.get("rules_to_suppress") or () if isinstance(metadata, dict) else ()
    found = []
    for entry in entries:
        if isinstance(entry, dict):
            found.append(
                Suppression(
                    rule=str(entry.get("id", "")),
                    reason=str(entry.get("reason") or ""),
                    stack=stack_path,
                    logical_id=logical_id,
                    applies_to=tuple(str(a) for a in entry.get("applies_to") or ()),
                    source=f"{template} metadata of {logical_id}",
                    in_metadata=True,
                )
            )
    return found


def load_reviewed(path: Path, name: str = SUPPRESSIONS_FILE) -> list[Suppression]:
    """The reviewed suppressions; a missing file holds none."""
    if not path.is_file():
        return []
    try:
        document = load(path, name)
    except YamlSourceError as exc:
        raise SuppressionFileError(str(exc)) from exc
    data = document.data or {}
    entries = data.get("suppressions") if isinstance(data, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise SuppressionFileError(
            f"{name}: `suppressions` must be a list of entries (rule, stack, logical_id, reason)"
        )
    lines = document.item_lines("suppressions")
    found = []
    for index, entry in enumerate(entries):
        line = lines[index] if index < len(lines) else None
        where = f"{name}:{line}" if line else name
        if not isinstance(entry, dict) or not all(entry.get(key) for key in ("rule", "stack", "logical_id")):
            raise SuppressionFileError(
                f"{where}: each suppression names `rule`, `stack` (path or glob), `logical_id` (or glob) and a "
                "`reason`; add the missing keys"
            )
        applies = entry.get("applies_to") or ()
        found.append(
            Suppression(
                rule=str(entry["rule"]),
                reason=str(entry.get("reason") or ""),
                stack=str(entry["stack"]),
                logical_id=str(entry["logical_id"]),
                applies_to=tuple(str(a) for a in ([applies] if isinstance(applies, str) else applies)),
                source=where,
            )
        )
    return found
