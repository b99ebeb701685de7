"""Who a principal ARN is, and whether two identities are the same person.

An approval is made by an AWS principal (e.g. `arn:aws:sts::111111111111:assumed-role/
AWSReservedSSO_ReleaseApprovers_0a1b/alice@example.com`); a commit is made by a git identity
(`alice@example.com`). A role session name is chosen by whoever calls AssumeRole, so it proves
nothing: the person is taken only from what the caller cannot choose (`person_of`): the STS
SourceIdentity (CloudTrail `userIdentity.sessionContext.sourceIdentity`, fixed for the session and
its role chain), the session of an IAM Identity Center role (`AWSReservedSSO_*`, whose session name
Identity Center sets to the user name), or an IAM user's name.

Matching is deliberately generous (the full e-mail, its local part, GitHub's noreply form, and
configured aliases): a false match only asks for a different approver, a missed match would let
authors approve their own change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_ARN = re.compile(r"^arn:aws[\w-]*:(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")
SSO_ROLE_PREFIX = "AWSReservedSSO_"
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


@dataclass(frozen=True)
class Person:
    name: str | None  # None: the principal cannot be tied to a person
    source: str  # source-identity | identity-center | iam-user | unverified-session-name


def person_of(principal: Principal, source_identity: str | None) -> Person:
    if source_identity and source_identity.strip():
        return Person(source_identity.strip(), "source-identity")
    if principal.kind == "user":
        return Person(principal.name, "iam-user")
    if principal.kind == "assumed-role" and principal.name.startswith(SSO_ROLE_PREFIX) and principal.session:
        return Person(principal.session, "identity-center")
    return Person(None, "unverified-session-name")


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


def is_mapped(person: str, aliases: Mapping[str, Iterable[str]] | None) -> bool:
    """Whether the alias map ties this AWS-side name to a git e-mail (config approval.identity_aliases)."""
    name = person.strip().lower()
    return any(
        name == key.strip().lower() or name in {v.strip().lower() for v in names}
        for key, names in (aliases or {}).items()
    )


def same_person(
    person: Principal | str,
    author_identities: Iterable[str | None],
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> bool:
    """`person` is a verified name (person_of); a Principal falls back to its ARN's name, as the ledger
    report and the review command still compare by ARN."""
    name = person.person if isinstance(person, Principal) else person
    approver = identities([name], aliases)
    return bool(approver & identities(author_identities, aliases))
