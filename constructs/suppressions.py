"""Suppressions in one shape: every one names the rule, the narrowest resource and a specific reason.

cdk-nag findings on IAM wildcards are suppressed with `applies_to` (the exact action group or
resource ARN), so a new wildcard on the same role is still reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from cdk_nag import NagSuppressions
from constructs import IConstruct

from cicd.readiness.findings import METADATA_KEY, MIN_REASON_LENGTH

AppliesTo = str | dict[str, str]

# What CDK's grant_* methods write as action groups; each stays confined to the resources granted.
S3_READ_ACTIONS = ("Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*")
S3_WRITE_ACTIONS = ("Action::s3:Abort*", "Action::s3:DeleteObject*")
KMS_GRANT_ACTIONS = ("Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
BASIC_EXECUTION_ROLE = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
GRANT_REASON = (
    "CDK grant_* action groups (S3 object read/write, KMS data-key use) on the resources listed in the "
    "same statement only: {what}"
)
NIST_LAMBDA_RULES = {
    "NIST.800.53.R5-LambdaInsideVPC": "calls only AWS APIs (S3, SSM, CloudFormation, Lambda); there is nothing in "
    "the VPC to reach, and VPC attachment would make deploys depend on NAT or endpoints",
    "NIST.800.53.R5-LambdaDLQ": "invoked synchronously by CloudFormation or the provider framework; failures are "
    "returned to CloudFormation, which fails and rolls back the deployment, so there is no async event to keep",
}
CHECKOV_LAMBDA = {
    "CKV_AWS_117": NIST_LAMBDA_RULES["NIST.800.53.R5-LambdaInsideVPC"],
    "CKV_AWS_116": NIST_LAMBDA_RULES["NIST.800.53.R5-LambdaDLQ"],
}


UNRESERVED_CONCURRENCY = (
    "reserved concurrency is configuration (functions.concurrency_quota in config/*.yaml): unset for this account, "
    "so nothing is reserved; a reservation fails on accounts that would keep fewer than 100 unreserved executions"
)


def suppress_unreserved_concurrency(function: IConstruct) -> None:
    """The concurrency rules on a function left unreserved because its account's config reserves nothing."""
    resource = function_resource(function)
    nag_suppress(resource, "NIST.800.53.R5-LambdaConcurrency", UNRESERVED_CONCURRENCY)
    checkov_skip(resource, [("CKV_AWS_115", UNRESERVED_CONCURRENCY)])


def checkov_skip(resource: cdk.CfnResource, skips: Sequence[tuple[str, str]]) -> None:
    """Add `Metadata: checkov: skip:` entries (check id, reason) to one CloudFormation resource."""
    metadata = resource.get_metadata("checkov") or {}
    entries = list(metadata.get("skip", []))
    known = {entry["id"] for entry in entries}
    for check_id, reason in skips:
        if not reason.strip():
            raise ValueError(f"checkov skip {check_id} on {resource.node.path} needs a reason")
        if check_id not in known:
            entries.append({"id": check_id, "comment": reason})
            known.add(check_id)
    resource.add_metadata("checkov", {"skip": entries})


def readiness_suppress(resource: cdk.CfnResource, rule: str, reason: str, *, applies_to: Sequence[str] = ()) -> None:
    """One deploy-readiness suppression (cicd/readiness) in the resource's metadata, with its reason."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"suppression of {rule} on {resource.node.path} needs a reason (what makes it safe)")
    metadata = resource.get_metadata(METADATA_KEY) or {}
    entries = [e for e in metadata.get("rules_to_suppress", []) if e.get("id") != rule]
    entry: dict[str, object] = {"id": rule, "reason": reason}
    if applies_to:
        entry["applies_to"] = list(applies_to)
    resource.add_metadata(METADATA_KEY, {"rules_to_suppress": [*entries, entry]})


def nag_suppress(
    construct: IConstruct,
    rule: str,
    reason: str,
    *,
    applies_to: Sequence[AppliesTo] = (),
    children: bool = False,
) -> None:
    """One cdk-nag suppression on one construct; `applies_to` narrows IAM findings to named findings."""
    if not reason.strip():
        raise ValueError(f"suppression of {rule} on {construct.node.path} needs a reason")
    suppression: dict[str, object] = {"id": rule, "reason": reason}
    if applies_to:
        suppression["applies_to"] = list(applies_to)
    NagSuppressions.add_resource_suppressions(construct, [suppression], apply_to_children=children)


def arn_token(resource: IConstruct) -> str:
    """How cdk-nag prints a resource's ARN in a finding: <LogicalId.Arn>, also across stacks."""
    cfn = resource if isinstance(resource, cdk.CfnResource) else resource.node.default_child
    if not isinstance(cfn, cdk.CfnResource):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    return f"<{cdk.Stack.of(cfn).resolve(cfn.logical_id)}.Arn>"


def suppress_grants(
    policy_owner: IConstruct, *, what: str, resources: Sequence[AppliesTo], actions: Sequence[str]
) -> None:
    """IAM5 for CDK grants: the action groups used and the object-ARN wildcards they were granted on."""
    nag_suppress(
        policy_owner,
        "AwsSolutions-IAM5",
        GRANT_REASON.format(what=what),
        applies_to=[*actions, *resources],
        children=True,
    )


def suppress_inline_policy(role: IConstruct, reason: str) -> None:
    nag_suppress(role, "NIST.800.53.R5-IAMNoInlinePolicy", reason, children=True)


def function_resource(function: IConstruct) -> cdk.CfnResource:
    child = function if isinstance(function, cdk.CfnResource) else function.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError(f"{function.node.path} has no CloudFormation resource")
    return child


def suppress_lambda(
    function: IConstruct, *, concurrency_reason: str | None = None, env_reason: str | None = None
) -> None:
    """The VPC and DLQ rules for a function CloudFormation invokes synchronously (see NIST_LAMBDA_RULES)."""
    resource = function_resource(function)
    for rule, reason in NIST_LAMBDA_RULES.items():
        nag_suppress(resource, rule, reason)
    skips = list(CHECKOV_LAMBDA.items())
    if concurrency_reason:
        nag_suppress(resource, "NIST.800.53.R5-LambdaConcurrency", concurrency_reason)
        skips.append(("CKV_AWS_115", concurrency_reason))
    if env_reason:
        # CKV_AWS_45 guesses at secrets from the variables' values; env_reason says what they hold.
        skips += [("CKV_AWS_173", env_reason), ("CKV_AWS_45", env_reason)]
    checkov_skip(resource, skips)


def cdk_singleton(scope: IConstruct, id_prefix: str) -> IConstruct:
    """A singleton function that an aws-cdk-lib construct creates at the top of the stack."""
    stack = cdk.Stack.of(scope)
    found = [child for child in stack.node.children if child.node.id.startswith(id_prefix)]
    if len(found) != 1:
        raise LookupError(f"expected one {id_prefix}* singleton in {stack.node.path}, found {len(found)}")
    return found[0]
