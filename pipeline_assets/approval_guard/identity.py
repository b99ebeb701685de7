"""Who a principal ARN is, and whether two identities are the same person.

An approval is made by an AWS principal (e.g. `arn:aws:sts::111111111111:assumed-role/
AWSReservedSSO_ReleaseApprovers_0a1b/alice@example.com`); a commit is made by a git identity
(`alice@example.com`). The person behind an assumed role is its session name (IAM Identity Center
puts the user name there); behind an IAM user, the user name.

Matching is deliberately generous (the full e-mail, its local part, GitHub's noreply form, and
configured aliases): a false match only asks for a different approver, a missed match would let
authors approve their own change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_ARN = re.compile(r"^arn:aws[\w-]*:(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")
_GITHUB_NOREPLY = re.compile(r"^(?:\d+\+)?(?P<login>[^@]+)@users\.noreply\.github\.com$", re.IGNORECASE)


@dataclass(frozen=True)
class Principal:
    arn: str
    account: str | None
    kind: str  # assumed-role | user | role | group | federated-user | root | unknown
    name: str  # role, user or group name (last path segment)
    session: str | None = None

    @property
    def person(self) -> str:
        """The human behind the principal, as best the ARN tells."""
        if self.kind in ("assumed-role", "federated-user") and self.session:
            return self.session
        return self.name


def parse_principal(arn: str) -> Principal:
    match = _ARN.match(arn.strip())
    if not match:
        return Principal(arn=arn, account=None, kind="unknown", name=arn.strip())
    account, resource = match["account"], match["resource"]
    if resource == "root":
        return Principal(arn, account, "root", "root")
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        role, _, session = rest.partition("/")
        return Principal(arn, account, "assumed-role", role, session or None)
    if kind == "federated-user":
        return Principal(arn, account, "federated-user", rest, rest)
    if kind in ("user", "role", "group"):
        return Principal(arn, account, kind, rest.rsplit("/", 1)[-1])
    return Principal(arn, account, "unknown", resource)


def _variants(identity: str) -> set[str]:
    value = identity.strip().lower()
    if not value:
        return set()
    found = {value}
    noreply = _GITHUB_NOREPLY.match(value)
    if noreply:
        found.add(noreply["login"])
    elif "@" in value:
        found.add(value.split("@", 1)[0])
    return found


def identities(values: Iterable[str | None], aliases: Mapping[str, Iterable[str]] | None = None) -> set[str]:
    """All normalised forms of the given identities, expanded through the alias map (both ways)."""
    found: set[str] = set()
    for value in values:
        if value:
            found |= _variants(value)
    if aliases:
        normalised = {k.strip().lower(): {a.strip().lower() for a in v} for k, v in aliases.items()}
        for key, names in normalised.items():
            group = {key, *names}
            if found & group:
                for name in group:
                    found |= _variants(name)
    return found


def same_person(
    principal: Principal, author_identities: Iterable[str | None], aliases: Mapping[str, Iterable[str]] | None = None
) -> bool:
    approver = identities([principal.person], aliases)
    return bool(approver & identities(author_identities, aliases))
