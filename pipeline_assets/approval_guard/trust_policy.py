"""Does the approving role bind sts:SourceIdentity to who the identity source says the caller is?

A SourceIdentity is whatever the caller of AssumeRole passes, unless the role's trust policy ties it to
something the caller cannot choose: the IAM user's own name (`${aws:username}`), a principal tag the
identity source sets (`${aws:PrincipalTag/...}`, e.g. an IAM Identity Center attribute), or a SAML
assertion (AssumeRoleWithSAML takes SourceIdentity only from the assertion). The DeliveryAudit stack
creates the approvers role that way (constructs/approvers_role.py); the guard reads the role's trust
policy at decision time, so a role loosened by hand, or an older deployment, is not believed.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

ASSERTED = re.compile(r"^\$\{aws:(?:username|PrincipalTag/[\w+=,.@:/-]+)\}$")
SET_BY_CALLER = {"sts:assumerole", "sts:setsourceidentity", "sts:*", "*"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _binds(statement: dict[str, Any]) -> bool:
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator not in ("StringEquals", "StringLike"):
            continue
        for key, values in keys.items():
            if key.lower() == "sts:sourceidentity" and all(ASSERTED.match(str(v)) for v in _list(values)):
                return True
    return False


def unbound_statements(document: dict[str, Any] | str) -> list[str]:
    """Sids (or indexes) of the Allow statements that let a caller choose sts:SourceIdentity."""
    parsed: dict[str, Any] = json.loads(urllib.parse.unquote(document)) if isinstance(document, str) else document
    loose = []
    for index, statement in enumerate(_list(parsed.get("Statement") or [])):
        actions = {str(a).lower() for a in _list(statement.get("Action") or [])}
        principal = statement.get("Principal") or {}
        federated_only = isinstance(principal, dict) and set(principal) == {"Federated"}
        if statement.get("Effect") != "Allow" or not actions & SET_BY_CALLER or federated_only:
            continue  # a SAML or web-identity assertion sets SourceIdentity; the caller cannot
        if not _binds(statement):
            loose.append(str(statement.get("Sid") or index))
    return loose


def source_identity_problem(iam: Any, role_name: str) -> str | None:
    """Why the SourceIdentity of a session of `role_name` proves nothing, or None when the role binds it."""
    try:
        document = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    except Exception as exc:
        return f"the trust policy of role {role_name} could not be read ({exc}), so its SourceIdentity is unproven"
    loose = unbound_statements(document)
    if not loose:
        return None
    return (
        f"role {role_name} lets whoever assumes it choose sts:SourceIdentity (trust statement(s) "
        f"{', '.join(loose)}), so the name on the session proves nothing. Fix: let DeliveryAudit manage the role "
        "(constructs/approvers_role.py ties SourceIdentity to ${aws:username}, the Identity Center attribute or "
        "the SAML assertion), then approve again."
    )
