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
authors approve their own change. Before comparing, every identity is normalised (`normalise`):
Unicode NFKC (a fullwidth `ａlice` is `alice`), case-folded, a `+tag` dropped from an e-mail's local
part (`alice+rel@` is `alice@`: nearly every provider delivers subaddresses to the mailbox). Dots in
the local part are dropped only for the domains whose provider documents that it ignores them
(Gmail): elsewhere `a.lice@example.com` and `alice@example.com` can be two people, and merging them
would block the wrong approver while proving nothing. A change's authenticated accounts at the
source provider are compared by their numeric user id (`github:<id>`), which a commit cannot forge;
config's identity_aliases ties those ids to people.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_ARN = re.compile(r"^arn:aws[\w-]*:(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")
SSO_ROLE_PREFIX = "AWSReservedSSO_"
_GITHUB_NOREPLY = re.compile(r"^(?:(?P<id>\d+)\+)?(?P<login>[^@]+)@users\.noreply\.github\.com$", re.IGNORECASE)
# Providers that document that dots in an address's local part do not matter, and their canonical domain.
DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
PROVIDER_ACCOUNT = re.compile(r"^github:(?P<id>\d+)$")


def provider_account(user_id: int | str) -> str:
    """How a source-provider account is named in identities and in config's identity_aliases."""
    return f"github:{int(user_id)}"


def normalise(identity: str) -> str:
    """One spelling per identity: NFKC, case-folded, no +tag, no dots where the provider ignores them."""
    value = unicodedata.normalize("NFKC", identity).casefold().strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or _GITHUB_NOREPLY.match(value):
        return value
    local = local.split("+", 1)[0] or local
    domain = DOTS_IGNORED.get(domain, domain)
    if domain in DOTS_IGNORED.values():
        local = local.replace(".", "")
    return f"{local}@{domain}"


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
    value = normalise(identity)
    if not value:
        return set()
    found = {value}
    noreply = _GITHUB_NOREPLY.match(value)
    if noreply:
        found.add(noreply["login"])
        if noreply["id"]:
            found.add(provider_account(noreply["id"]))  # the noreply address names the account itself
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
        for group in _groups(aliases):
            if found & group:
                for name in group:
                    found |= _variants(name)
    return found


def _groups(aliases: Mapping[str, Iterable[str]]) -> list[set[str]]:
    return [{normalise(key), *(normalise(a) for a in names)} for key, names in aliases.items()]


def is_mapped(person: str, aliases: Mapping[str, Iterable[str]] | None) -> bool:
    """Whether the alias map ties this name (an AWS-side name, or a provider account `github:<id>`) to a
    person (config approval.identity_aliases)."""
    name = normalise(person)
    return any(name in group for group in _groups(aliases or {}))


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
