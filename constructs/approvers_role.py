"""The approvers role: the only identity that may approve a production promotion.

Created here, in the delivery account, with the name config gives (approval.approvers_role_arn), so
the ARN in config and the role that exists are the same thing by construction. It holds no
permissions of its own: the delivery pipeline attaches the approval permissions for its own
approval actions (constructs/approver_access.py). Its trust policy admits only the configured
identity source (config delivery.approver_identity), and only sessions whose sts:SourceIdentity is
the person as the identity source asserts them, never a value the caller picks:
- account (IAM users with MFA): SourceIdentity must equal `${aws:username}`, the caller's own user name;
- identity-center: SourceIdentity must equal the caller's principal tag `approver_tag`, which IAM
  Identity Center sets from the user's attributes (attributes for access control, README);
- saml: AssumeRoleWithSAML takes SourceIdentity only from the assertion's SourceIdentity attribute.
The person then stays on the session, in CloudTrail and in the ledger's approval records, whatever
role chain led there; the approval guard re-reads this trust policy before it believes a session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):role/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]+)$")
# SAML federation's sign-in endpoint: the audience every AWS SAML assertion must name.
SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"
SESSION = cdk.Duration.hours(1)


@dataclass(frozen=True)
class RoleName:
    name: str
    path: str


def approvers_role_name(arn: str, *, delivery_account: str, config_file: str) -> RoleName:
    """The name and path of the role to create, or an error naming the file, the rule and the fix."""
    match = ROLE_ARN.match(arn)
    if match is None or match["account"] != delivery_account:
        raise ValueError(
            f"{config_file}: approval.approvers_role_arn is {arn!r}; it must be a role in the delivery account "
            f"{delivery_account} (rule: the DeliveryAudit stack creates the approvers role there, trusted only by "
            f"delivery.approver_identity); fix: arn:aws:iam::{delivery_account}:role/<name>"
        )
    return RoleName(name=match["name"], path="/" + match["path"])


def _trusted_principal(
    stack: cdk.Stack, *, source: str, saml_provider_arn: str | None, permission_set: str | None, approver_tag: str
) -> iam.IPrincipal:
    """The configured identity source, with its conditions (they travel into every trust statement)."""
    person_named: dict[str, object] = {"Null": {"sts:SourceIdentity": "false"}}
    if source == "saml":
        assert saml_provider_arn is not None  # the config model guarantees it
        return iam.FederatedPrincipal(
            saml_provider_arn,
            {**person_named, "StringEquals": {"SAML:aud": SAML_AUDIENCE}},
            "sts:AssumeRoleWithSAML",
        )
    account = iam.AccountPrincipal(stack.account)
    if source == "identity-center":
        assert permission_set is not None  # the config model guarantees it
        # MFA is enforced at Identity Center sign-in; its sessions carry no MFA key to test here.
        sso_roles = (
            f"arn:{stack.partition}:iam::{stack.account}:role/aws-reserved/sso.amazonaws.com/"
            f"*AWSReservedSSO_{permission_set}_*"
        )
        tagged = {"StringEquals": {"sts:SourceIdentity": f"${{aws:PrincipalTag/{approver_tag}}}"}}
        return account.with_conditions({**person_named, **tagged, "ArnLike": {"aws:PrincipalArn": sso_roles}})
    own_name = {"StringEquals": {"sts:SourceIdentity": "${aws:username}"}}
    return account.with_conditions({**person_named, **own_name, "Bool": {"aws:MultiFactorAuthPresent": "true"}})


class ApproversRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: RoleName,
        source: str,
        saml_provider_arn: str | None = None,
        permission_set: str | None = None,
        approver_tag: str = "approver-name",
    ) -> None:
        super().__init__(scope, construct_id)
        principal = _trusted_principal(
            cdk.Stack.of(self),
            source=source,
            saml_provider_arn=saml_provider_arn,
            permission_set=permission_set,
            approver_tag=approver_tag,
        )
        # A fixed name: config names it, and the pipeline stack attaches the approval permissions by it.
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name.name,
            path=role_name.path,
            assumed_by=principal,
            description="Approves production promotions of the delivery pipeline; permissions come from the pipeline",
            max_session_duration=SESSION,
        )
        assert self.role.assume_role_policy is not None
        # The caller must also be allowed to name the person on the session (same principal, same conditions).
        self.role.assume_role_policy.add_statements(
            iam.PolicyStatement(principals=[principal], actions=["sts:SetSourceIdentity"])
        )
