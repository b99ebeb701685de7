"""Fixes and findings for what CDK Pipelines generates: its policies and its resources.

CDK Pipelines builds roles and policies we cannot configure: the permission-broadening check's
auto-approve Lambda, the connection grants of the source and CodeBuild roles, the artifact bucket.
The fixes edit the generated policy documents in place (the statement that needs it, by index in
the resolved document); the suppressions name each rule, the narrowest construct and its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import pipelines
from constructs import Construct, IConstruct
from constructs.suppressions import (
    KMS_GRANT_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    checkov_skip,
    nag_suppress,
    suppress_lambda,
)


def confine_auto_approval(
    pipeline: pipelines.CodePipeline, *, pipeline_arn: str, approval_stages: Sequence[str]
) -> None:
    """ConfirmPermissionsBroadening's Lambda may approve any approval action of a tagged pipeline.

    Narrow PutApprovalResult to its own Confirm actions, so the promotion approval stays with the
    approvers role. The Lambda first calls GetPipelineState (on the pipeline, not on an action ARN)
    to find the approval token: grant exactly that, on this pipeline only.
    """
    check = pipeline.node.find_child("PipelinesSecurityCheck")
    [role] = [c for c in check.node.find_all() if isinstance(c, iam.Role) and "AutoApprove" in c.node.path]
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["codepipeline:GetPipelineState"], resources=[pipeline_arn])
    )
    confirm = [f"{pipeline_arn}/{name}/ConfirmPermissionsBroadening.Confirm" for name in approval_stages]
    for policy, index, _ in statements_with(cdk.Stack.of(pipeline), "codepipeline:PutApprovalResult", under=check):
        # Built from the fixed name: a Ref to the pipeline here would be a dependency cycle.
        policy.add_property_override(f"PolicyDocument.Statement.{index}.Action", "codepipeline:PutApprovalResult")
        policy.add_property_override(f"PolicyDocument.Statement.{index}.Resource", confirm)


def allow_both_connection_namespaces(stack: cdk.Stack) -> None:
    """CDK grants only codestar-connections:UseConnection; a codeconnections ARN is authorized under
    the new prefix. Grant both, on the same connection, to every role that uses it."""
    for policy, index, statement in statements_with(stack, "codestar-connections:UseConnection", under=stack):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        policy.add_property_override(
            f"PolicyDocument.Statement.{index}.Action",
            sorted({*actions, "codeconnections:UseConnection"}),
        )


def statements_with(
    stack: cdk.Stack, action: str, *, under: IConstruct
) -> list[tuple[iam.CfnPolicy, int, dict[str, Any]]]:
    found = []
    for policy in under.node.find_all():
        if not isinstance(policy, iam.CfnPolicy) or cdk.Stack.of(policy) is not stack:
            continue  # the environments' Stages are children too, with their own stacks
        for index, statement in enumerate(stack.resolve(policy.policy_document)["Statement"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                found.append((policy, index, statement))
    return found


def suppress_generated_findings(pipeline: pipelines.CodePipeline, pull_requests: Construct) -> None:
    """Findings on what CDK Pipelines generates, each on its narrowest construct with its reason."""
    _suppress_artifact_bucket(pipeline)
    _suppress_generated_roles(pipeline)
    _suppress_inline_policies(cdk.Stack.of(pipeline))
    _suppress_grant_wildcards(pipeline, pull_requests)


def _suppress_artifact_bucket(pipeline: pipelines.CodePipeline) -> None:
    artifacts = pipeline.pipeline.artifact_bucket.node.default_child
    assert isinstance(artifacts, cdk.CfnResource)
    for rule, reason in {
        "NIST.800.53.R5-S3BucketLoggingEnabled": "access to build artifacts is recorded by CloudTrail data "
        "events of the delivery account's trail; the bucket is CDK Pipelines' own",
        "NIST.800.53.R5-S3BucketVersioningEnabled": "artifacts are immutable per execution (new keys per run); "
        "the release itself is kept, versioned, in each environment's release bucket",
        "NIST.800.53.R5-S3BucketReplicationEnabled": "transient build artifacts; single-region delivery account",
    }.items():
        nag_suppress(artifacts, rule, reason)
    checkov_skip(
        artifacts,
        [
            ("CKV_AWS_18", "CDK Pipelines' artifact bucket; access is in the CloudTrail data events"),
            ("CKV_AWS_21", "artifacts are written once per execution under new keys"),
        ],
    )
    nag_suppress(
        artifacts,
        "AwsSolutions-S1",
        "CDK Pipelines' artifact bucket; access is recorded by the delivery account's CloudTrail.",
    )


def _suppress_generated_roles(pipeline: pipelines.CodePipeline) -> None:
    generated = pipeline.node
    generated_roles = {
        "Assets": "publishes this app's file assets to the target accounts' bootstrap buckets through the "
        "cdk-*-file-publishing roles; CDK Pipelines scopes it to its artifact bucket and build logs",
        "UpdatePipeline": "self-mutation runs `cdk deploy` of this stack, assuming only the cdk-* bootstrap roles",
        "PipelinesSecurityCheck": "CDK Pipelines' permission-broadening check: reads the artifact bucket and "
        "approves only its own Confirm action (narrowed in _confine_auto_approval)",
    }
    for child_id, reason in generated_roles.items():
        child = generated.try_find_child(child_id)
        if child is None:
            continue
        for rule in ("AwsSolutions-IAM5", "AwsSolutions-IAM4", "NIST.800.53.R5-IAMNoInlinePolicy"):
            nag_suppress(child, rule, f"Generated by CDK Pipelines: {reason}.", children=True)
        for resource in child.node.find_all():
            if isinstance(resource, lambda_.CfnFunction):
                suppress_lambda(
                    resource,
                    concurrency_reason="invoked once per prod promotion by CodePipeline; no burst to bound",
                )


def _suppress_inline_policies(stack: cdk.Stack) -> None:
    # Inline default policies come from grants on each CodeBuild/CodePipeline role.
    for resource in stack.node.find_all():
        if isinstance(resource, iam.CfnPolicy) and "IntegrationTests/PolicyDocument" in resource.node.path:
            checkov_skip(
                resource,
                [
                    (
                        "CKV_AWS_111",
                        "CodeBuild in a VPC must create and delete its own network interfaces; "
                        "EC2 does not support resource-level constraints for CreateNetworkInterface/Describe*.",
                    )
                ],
            )
        if isinstance(resource, iam.CfnPolicy) and "/Assets/FileRole/" in resource.node.path:
            checkov_skip(
                resource,
                [
                    (
                        "CKV_AWS_111",
                        "Generated by CDK Pipelines: asset publishing writes only through the target "
                        "accounts' cdk-*-file-publishing roles and its own build logs.",
                    )
                ],
            )
        if isinstance(resource, iam.CfnPolicy):
            nag_suppress(
                resource,
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "Default policy generated from CDK grants, scoped to this role's own resources.",
            )


def _suppress_grant_wildcards(pipeline: pipelines.CodePipeline, pull_requests: Construct) -> None:
    # Roles of the pipeline itself and of every CodeBuild action: grants on the artifact bucket, the
    # build key, the toolchain cache and the evidence inbox; CodeBuild's own log/report groups; VPC ENIs.
    nag_suppress(
        pipeline.pipeline,
        "AwsSolutions-IAM5",
        "CDK grant action groups on the pipeline's artifact bucket and key, the toolchain cache, the evidence "
        "bucket's write-only incoming/ prefix, each project's own log and report groups, the approval guard "
        "function's versions, and the network interfaces of the in-VPC integration-test build.",
        applies_to=[
            *S3_READ_ACTIONS,
            *S3_WRITE_ACTIONS,
            *KMS_GRANT_ACTIONS,
            {"regex": "/^Resource::<PipelineArtifactsBucket[A-F0-9]+\\.Arn>\\/\\*$/g"},
            {"regex": "/^Resource::<ToolchainCacheBucket[A-F0-9]+\\.Arn>\\/\\*$/g"},
            {"regex": "/^Resource::<EvidenceBucket\\.Arn>\\/incoming\\/\\*$/g"},
            {"regex": "/^Resource::<EvidenceApprovalGuard[A-F0-9]+\\.Arn>:\\*$/g"},
            {"regex": "/^Resource::arn:<AWS::Partition>:logs:[a-z0-9-]+:\\d{12}:log-group:\\/aws\\/codebuild\\/.*$/g"},
            {"regex": "/^Resource::arn:<AWS::Partition>:codebuild:[a-z0-9-]+:\\d{12}:report-group\\/.*$/g"},
            "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*",
            "Resource::*",
        ],
        children=True,
    )
    nag_suppress(
        pull_requests,
        "AwsSolutions-IAM5",
        "CodeBuild's own log-group/report-group wildcards and grants on its own pull-request cache bucket "
        "and the build key.",
        children=True,
    )
