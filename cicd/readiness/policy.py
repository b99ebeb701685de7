"""IAM policy documents, resolved, and the few questions the rules ask of them.

Deliberately coarse where coarseness cannot hide a failure: conditions are not evaluated (a statement
with a condition still counts as allowing), and an explicit Deny counts only without a condition. What the
rules look for is a grant that is missing altogether, which no condition can supply.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cicd.readiness.assembly import PARTITION, Assembly, Resource

# AWS managed policies that grant everything their name says; any other managed policy is not read.
ALLOW_ALL_MANAGED = ("AdministratorAccess",)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: tuple[tuple[str, str], ...]  # (kind, value): ("Service", "logs.amazonaws.com"), ("AWS", "*")
    any_principal: bool  # Principal "*" or NotPrincipal (which admits nearly everyone)
    conditional: bool
    sid: str

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    def grants(self, action: str) -> bool:
        if self.actions:
            return any(action_matches(pattern, action) for pattern in self.actions)
        return bool(self.not_actions) and not any(action_matches(pattern, action) for pattern in self.not_actions)

    def covers(self, resource: str) -> bool:
        if self.resources:
            return any(resource_matches(pattern, resource) for pattern in self.resources)
        if self.not_resources:
            return not any(resource_matches(pattern, resource) for pattern in self.not_resources)
        return True  # resource policies may omit Resource: the resource they are attached to

    def admits_service(self, service: str) -> bool:
        return self.any_principal or any(
            (kind == "Service" and value == service) or (kind == "AWS" and value == "*")
            for kind, value in self.principals
        )

    def admits_arn(self, arn: str) -> bool:
        return self.any_principal or any(kind == "AWS" and value in ("*", arn) for kind, value in self.principals)

    def admits_account(self, account: str) -> bool:
        root = f"arn:{PARTITION}:iam::{account}:root"
        return self.any_principal or any(
            kind == "AWS" and value in ("*", root, account) for kind, value in self.principals
        )


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def resource_matches(pattern: str, resource: str) -> bool:
    return pattern == "*" or pattern == resource or fnmatch.fnmatchcase(resource, pattern.replace("[", "[[]"))


def statements(document: Any) -> list[Statement]:
    """The statements of a resolved policy document (one statement or a list of them)."""
    if not isinstance(document, dict):
        return []
    raw = document.get("Statement") or []
    found = []
    for item in raw if isinstance(raw, list) else [raw]:
        if not isinstance(item, dict):
            continue
        principal = item.get("Principal")
        pairs: list[tuple[str, str]] = []
        if isinstance(principal, dict):
            for kind, values in principal.items():
                pairs += [(str(kind), value) for value in _strings(values)]
        found.append(
            Statement(
                effect=str(item.get("Effect", "")),
                actions=_strings(item.get("Action")),
                not_actions=_strings(item.get("NotAction")),
                resources=_strings(item.get("Resource")),
                not_resources=_strings(item.get("NotResource")),
                principals=tuple(pairs),
                any_principal=principal == "*" or "NotPrincipal" in item,
                conditional=bool(item.get("Condition")),
                sid=str(item.get("Sid", "")),
            )
        )
    return found


def allowed(found: Iterable[Statement], action: str, resource: str = "*") -> bool:
    """An Allow for the action on the resource, and no unconditional Deny of it."""
    found = list(found)
    if any(not s.allows and not s.conditional and s.grants(action) and s.covers(resource) for s in found):
        return False
    return any(s.allows and s.grants(action) and s.covers(resource) for s in found)


class IdentityPolicies:
    """Every identity policy statement of every role the assembly creates, wherever the policy is defined."""

    def __init__(self, assembly: Assembly) -> None:
        self.assembly = assembly
        self._by_role: dict[Resource, list[Statement]] = defaultdict(list)
        self._managed: dict[Resource, list[str]] = defaultdict(list)
        for role in assembly.resources("AWS::IAM::Role"):
            for inline in role.props.get("Policies") or ():
                document = assembly.deep(role.stack, (inline or {}).get("PolicyDocument"))
                self._by_role[role] += statements(document)
            for arn in role.props.get("ManagedPolicyArns") or ():
                self._managed[role].append(assembly.text(role.stack, arn))
        for policy in assembly.resources("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            document = statements(assembly.deep(policy.stack, policy.props.get("PolicyDocument")))
            names = policy.props.get("Roles") or ([policy.props["RoleName"]] if "RoleName" in policy.props else [])
            for name in names:
                attached = self.role_named(policy, assembly.text(policy.stack, name))
                if attached is not None:
                    self._by_role[attached] += document
            if policy.type == "AWS::IAM::ManagedPolicy":
                arn = assembly.arn(policy)
                for role, arns in self._managed.items():
                    if arn in arns:
                        self._by_role[role] += document

    def role_named(self, where: Resource, name: str) -> Resource | None:
        found = self.assembly.resource_for(name)
        if found is not None and found.type == "AWS::IAM::Role":
            return found
        return self.assembly.named("AWS::IAM::Role", name, where.stack.account, where.stack.region)

    def of(self, role: Resource) -> list[Statement]:
        return self._by_role.get(role, [])

    def allows(self, role: Resource, action: str, resource: str) -> bool:
        if any(arn.rsplit("/", 1)[-1] in ALLOW_ALL_MANAGED for arn in self._managed.get(role, ())):
            return True
        return allowed(self.of(role), action, resource)

    def roles_granted(self, action: str, resource: str) -> list[Resource]:
        """Roles whose own statements name the resource (not merely "*") for the action."""
        return [
            role
            for role, found in self._by_role.items()
            if any(
                s.allows and s.grants(action) and any(p != "*" and resource_matches(p, resource) for p in s.resources)
                for s in found
            )
        ]


def key_policy(assembly: Assembly, key: Resource) -> list[Statement]:
    return statements(assembly.deep(key.stack, key.props.get("KeyPolicy")))


def key_allows_service(assembly: Assembly, key: Resource, service: str, action: str) -> bool:
    return allowed((s for s in key_policy(assembly, key) if s.admits_service(service)), action)


def key_allows_role(
    assembly: Assembly, identities: IdentityPolicies, key: Resource, role_arn: str, role: Resource | None, action: str
) -> bool:
    """The key policy names the role, or delegates to its account's IAM and the role's own policy grants it."""
    found = key_policy(assembly, key)
    if allowed((s for s in found if s.admits_arn(role_arn)), action):
        return True
    if not allowed((s for s in found if s.admits_account(key.stack.account)), action):
        return False
    if role is None:
        return True  # a role created outside the assembly: its own policy cannot be seen
    return role.stack.account == key.stack.account and identities.allows(role, action, assembly.arn(key) or "")


def denied_to_everyone(found: Iterable[Statement], action: str, resource: str) -> bool:
    """An unconditional Deny of the action on the resource to Principal "*": it binds CloudFormation's role too."""
    return any(
        s.effect == "Deny" and not s.conditional and s.admits_arn("*") and s.grants(action) and s.covers(resource)
        for s in found
    )
