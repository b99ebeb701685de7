"""The separation-of-duties decision, as a pure function of the facts the handler gathered.

Fails closed: an approval whose approver or author cannot be established is rejected, because
"we could not check" must never read as "checked".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline_assets.approval_guard.identity import (
    Person,
    Principal,
    is_mapped,
    parse_principal,
    person_of,
    provider_account,
    same_person,
)

# An approval comment that opens the break-glass path: "BREAK-GLASS: INC-1234 why it cannot wait".
BREAK_GLASS = re.compile(r"^\s*BREAK[-_ ]?GLASS\b\s*[:\-]?\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
INCIDENT = re.compile(r"^(?P<incident>[A-Z][A-Z0-9]*-\d+)\b[\s:,-]*(?P<reason>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Approval:
    approver_arn: str | None
    approved_at: str | None
    comment: str | None
    status: str | None
    source: str  # where the approver identity came from (action-execution / cloudtrail)
    source_identity: str | None = None  # CloudTrail userIdentity.sessionContext.sourceIdentity
    # Why the SourceIdentity proves nothing (the role lets the caller choose it), when it does not.
    source_identity_problem: str | None = None


@dataclass(frozen=True)
class Author:
    email: str | None
    name: str | None
    commit: str | None
    source: str | None  # user-parameters / commit.json / release.json / pipeline-trigger


@dataclass(frozen=True)
class Change:
    """Every identity of the change (evidence.py), or why they could not be established."""

    identities: tuple[str, ...] = ()
    problem: str | None = None
    # The change's authenticated source-provider accounts: each must map to a person, or the approver
    # cannot be shown to be someone else (bots excepted: no person approves as a bot).
    accounts: tuple[dict[str, Any], ...] = ()

    def unmapped(self, aliases: Mapping[str, Iterable[str]] | None) -> list[dict[str, Any]]:
        return [
            a for a in self.accounts if a.get("type") != "Bot" and not is_mapped(provider_account(a["id"]), aliases)
        ]


@dataclass(frozen=True)
class BreakGlassRequest:
    incident: str | None
    reason: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]
    approver: Principal | None
    break_glass: BreakGlassRequest | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    person: Person | None = None
    pending: bool = False  # not decided yet: waiting for CloudTrail (a CodePipeline continuation)

    @property
    def message(self) -> str:
        if self.allowed:
            return "; ".join(self.notes) or "approval accepted"
        return "Approval rejected: " + " ".join(self.reasons)


def break_glass_request(comment: str | None) -> BreakGlassRequest | None:
    match = BREAK_GLASS.match(comment or "")
    if not match:
        return None
    rest = match["rest"].strip()
    incident = INCIDENT.match(rest)
    if not incident:
        return BreakGlassRequest(incident=None, reason=rest)
    return BreakGlassRequest(incident=incident["incident"], reason=incident["reason"].strip())


MembershipCheck = Callable[[Principal, str], bool]


def member_of_any(principal: Principal, allowed_arns: Iterable[str], is_group_member: MembershipCheck) -> bool:
    """Whether the principal acts as one of the allowed roles, is one of the allowed users, or is
    an IAM user in one of the allowed groups."""
    for arn in allowed_arns:
        allowed = parse_principal(arn)
        if allowed.account and principal.account and allowed.account != principal.account:
            continue
        if allowed.kind == "role" and principal.kind == "assumed-role" and principal.name == allowed.name:
            return True
        if allowed.kind == "user" and principal.kind == "user" and principal.name == allowed.name:
            return True
        if allowed.kind == "group" and principal.kind == "user" and is_group_member(principal, allowed.name):
            return True
    return False


def _unverified(approver: Principal) -> str:
    return (
        f"{approver.arn} cannot be tied to a person: its session name '{approver.session or approver.name}' is "
        "chosen by whoever assumes the role, and CloudTrail shows no SourceIdentity for the approval. Fix: "
        "approve through IAM Identity Center (AWSReservedSSO_* role), or require sts:SourceIdentity in the "
        "approvers role's trust policy; if the approval is minutes old, CloudTrail may not have it yet (up to "
        "15 minutes): retry this action."
    )


def _unmapped(person: Person) -> str:
    return (
        f"{person.name} ({person.source}) is not mapped to a git e-mail in approval.identity_aliases, so they "
        "cannot be compared with the change's authors. Fix: add `<their git e-mail>: [" + str(person.name) + "]` "
        "under approval.identity_aliases in config/prod.yaml and deploy the DeliveryAudit stack."
    )


def _missing_facts(approval: Approval | None, author: Author, change: Change, approval_ref: str) -> str | None:
    if approval is None or (approval.status or "").lower() != "succeeded":
        found = f" (its status is {approval.status})" if approval and approval.status else ""
        return (
            f"no approved {approval_ref} was found in this pipeline execution{found}. Fix: run the guard right "
            "after the approval action, and name that action in the guard's UserParameters."
        )
    if not approval.approver_arn:
        return (
            f"the approver of {approval_ref} could not be established (no updatedBy in the action "
            "execution and no PutApprovalResult in CloudTrail). Fix: check the guard role's "
            "codepipeline:ListActionExecutions and cloudtrail:LookupEvents permissions, then retry the stage."
        )
    if change.problem:
        return f"the identities of this change could not be established: {change.problem}"
    if not (author.email or author.name or change.identities):
        return (
            "the commit author of this change could not be established, so the approver cannot be shown "
            "to be someone else. Fix: retry this execution's ChangeEvidence stage, which records them."
        )
    return None


def decide(
    *,
    approval: Approval | None,
    author: Author,
    approvers: tuple[str, ...],
    break_glass_principals: tuple[str, ...],
    is_group_member: MembershipCheck,
    aliases: Mapping[str, Iterable[str]] | None = None,
    approval_ref: str = "the manual approval",
    change: Change | None = None,
) -> Decision:
    change = change or Change()
    missing = _missing_facts(approval, author, change, approval_ref)
    if missing or approval is None or approval.approver_arn is None:
        return Decision(False, (missing or "no approval",), None)
    approver = parse_principal(approval.approver_arn)
    person = person_of(approver, approval.source_identity)
    if approval.source_identity_problem and person.source in ("source-identity", "unverified-session-name"):
        return Decision(False, (approval.source_identity_problem,), approver, person=person)
    if person.name is None:
        return Decision(False, (_unverified(approver),), approver, person=person)
    is_author = same_person(person.name, [author.email, author.name, *change.identities], aliases)
    request = break_glass_request(approval.comment)
    if request is not None:
        return _break_glass(approver, person, request, is_author, break_glass_principals, is_group_member)
    reasons = []
    if not is_mapped(person.name, aliases):
        reasons.append(_unmapped(person))
    for account in change.unmapped(aliases):
        reasons.append(
            f"the source-provider account {account.get('login')} ({provider_account(account['id'])}, "
            f"{', '.join(account.get('roles') or ['of the change'])}) is not mapped to a person, so it cannot be shown "
            f"not to be the approver. Fix: add `{provider_account(account['id'])}` to that person's names under "
            "approval.identity_aliases in config/prod.yaml and deploy the DeliveryAudit stack (through the pipeline)."
        )
    if is_author:
        reasons.append(
            f"{person.name} approved a change they authored or helped author (commit {author.commit or 'unknown'}, "
            f"identities of the change: {', '.join(change.identities) or author.email or author.name}). "
            "Fix: another member of the approvers group approves the stage."
        )
    if not member_of_any(approver, approvers, is_group_member):
        allowed = ", ".join(approvers) or "none configured"
        reasons.append(
            f"{approver.arn} is not in the approvers principal ({allowed}). Fix: approve while signed in "
            "with the approvers role, or ask a member of it to approve."
        )
    if reasons:
        return Decision(False, tuple(reasons), approver, person=person)
    return Decision(True, (), approver, None, (f"approved by {person.name}, who is not the author",), person)


def _break_glass(
    approver: Principal,
    person: Person,
    request: BreakGlassRequest,
    is_author: bool,
    break_glass_principals: tuple[str, ...],
    is_group_member: MembershipCheck,
) -> Decision:
    """Emergency path: the author may approve, but only a break-glass principal, naming an incident,
    and the person must still be known (the retroactive review needs to know who it was)."""
    if request.incident is None:
        return Decision(
            False,
            (
                "a break-glass approval must name its incident. Fix: approve again with a comment like "
                "'BREAK-GLASS: INC-1234 <why this cannot wait>'.",
            ),
            approver,
            request,
            person=person,
        )
    if not member_of_any(approver, break_glass_principals, is_group_member):
        allowed = ", ".join(break_glass_principals) or "none configured"
        return Decision(
            False,
            (
                f"{approver.arn} asked for break-glass but is not a break-glass principal ({allowed}). "
                "Fix: an on-call engineer holding the break-glass role approves, or a regular approver "
                "approves without the BREAK-GLASS marker.",
            ),
            approver,
            request,
            person=person,
        )
    notes = [f"BREAK-GLASS {request.incident} approved by {person.name}"]
    if is_author:
        notes.append("approver is the author (allowed only on the break-glass path)")
    notes.append("a retroactive review is now pending")
    return Decision(True, (), approver, request, tuple(notes), person)
