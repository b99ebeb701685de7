"""The deployed trust-boundary check (pipeline_assets/trust_boundary_check), created by DeliveryAudit.

Its role is the only writer of `trusted/trust-boundary/` (tag evidence-writer=trust-boundary-check,
which the evidence bucket's policy requires there). It reads the deployed templates of the boundary
stacks and nothing else; the Build artifact is read with the job's own artifact credentials, which
CodePipeline scopes to this pipeline's artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.suppressions import checkov_skip, nag_suppress, suppress_unreserved_concurrency

from pipeline_assets.ledger import layout

REPO_ROOT = Path(__file__).resolve().parent.parent
# The check and the ledger's store (create-only, locked writes); nothing else of the repository.
ASSET_EXCLUDE = [
    "/*",
    "!/pipeline_assets/",
    "/pipeline_assets/*",
    "!/pipeline_assets/ledger/",
    "!/pipeline_assets/trust_boundary_check/",
    "__pycache__/",
    "*.pyc",
]


class TrustBoundaryCheck(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        evidence_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        retention_days: int,
        boundary_stacks: Sequence[str],
        log_retention: logs.RetentionDays,
        boundary_stacks_elsewhere: Sequence[tuple[str, str, str]] = (),
        reserve_concurrency: bool = False,
    ) -> None:
        """`boundary_stacks_elsewhere`: (stack, role ARN, region) of the stacks self-mutation deploys into other
        accounts; the check reads their templates through that role (the account's CDK lookup role)."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Trust-boundary check: the only writer of trusted/trust-boundary/ in the evidence bucket",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicExecutionRole")
            ],
        )
        tag_key, tag_value = layout.TRUST_BOUNDARY_WRITER
        cdk.Tags.of(role).add(tag_key, tag_value)
        log_group = logs.LogGroup(self, "Logs", encryption_key=encryption_key, retention=log_retention)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="pipeline_assets.trust_boundary_check.handler.handler",
            code=lambda_.Code.from_asset(str(REPO_ROOT), ignore_mode=cdk.IgnoreMode.GIT, exclude=ASSET_EXCLUDE),
            description="Compares what self-mutation would deploy with what is deployed; any difference needs approval",
            role=role,
            environment={
                "EVIDENCE_BUCKET": evidence_bucket.bucket_name,
                "EVIDENCE_RETENTION_DAYS": str(retention_days),
                "EVIDENCE_KMS_KEY_ARN": encryption_key.key_arn,
                "BOUNDARY_STACKS": ",".join(boundary_stacks),
                "BOUNDARY_STACKS_ELSEWHERE": json.dumps(
                    [{"stack": n, "role_arn": r, "region": g} for n, r, g in boundary_stacks_elsewhere]
                ),
            },
            environment_encryption=encryption_key,
            # The Build artifact (the whole cloud assembly) is downloaded to read two templates from it.
            ephemeral_storage_size=cdk.Size.gibibytes(4),
            memory_size=1024,
            timeout=cdk.Duration.minutes(5),
            log_group=log_group,
            # Where the account's config states its quota (stacks/lambda_concurrency.py); two builds at once is plenty.
            reserved_concurrent_executions=2 if reserve_concurrency else None,
            tracing=lambda_.Tracing.ACTIVE,
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadDeployedBoundaryTemplates",
                actions=["cloudformation:GetTemplate"],
                resources=[
                    f"arn:{stack.partition}:cloudformation:{stack.region}:{stack.account}:stack/{name}/*"
                    for name in boundary_stacks
                ],
            )
        )
        if boundary_stacks_elsewhere:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadBoundaryTemplatesElsewhere",
                    actions=["sts:AssumeRole"],
                    resources=sorted({role_arn for _, role_arn, _ in boundary_stacks_elsewhere}),
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteTrustBoundaryVerdicts",
                actions=["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectVersion"],
                resources=[evidence_bucket.arn_for_objects(f"{layout.TRUST_BOUNDARY_PREFIX}*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListEvidence",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[evidence_bucket.bucket_arn],
            )
        )
        encryption_key.grant_encrypt_decrypt(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReportJobResult",
                # Job ids are not resources in IAM: these actions only accept "*".
                actions=["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"],
                resources=["*"],
            )
        )
        if not reserve_concurrency:
            suppress_unreserved_concurrency(self.function)
        cfn = self.function.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        checkov_skip(
            cfn,
            [
                ("CKV_AWS_117", "Calls only S3, KMS, CloudFormation and CodePipeline APIs; nothing in a VPC to reach."),
                (
                    "CKV_AWS_116",
                    "Invoked synchronously by CodePipeline's Lambda invoke action; a failure fails the stage.",
                ),
            ],
        )
        for rule, reason in {
            "NIST.800.53.R5-LambdaInsideVPC": "Calls only S3, KMS, CloudFormation and CodePipeline APIs.",
            "NIST.800.53.R5-LambdaDLQ": "Invoked synchronously by CodePipeline; a failure fails the Build stage.",
        }.items():
            nag_suppress(self.function, rule, reason)
        nag_suppress(
            role,
            "AwsSolutions-IAM4",
            "AWSLambdaBasicExecutionRole only allows writing the function's own logs.",
            applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
        )
        nag_suppress(
            role,
            "AwsSolutions-IAM5",
            "Object access only under the evidence bucket's trusted/trust-boundary/ prefix; GetTemplate on the "
            "boundary stacks by name (the stack id suffix is generated); CodePipeline job results accept only '*'.",
            applies_to=[
                "Resource::*",
                {"regex": "/^Resource::<EvidenceBucket\\.Arn>/trusted/trust-boundary/\\*$/g"},
                {"regex": "/^Resource::arn:<AWS::Partition>:cloudformation:.*:stack/.*/\\*$/g"},
                "Action::kms:GenerateDataKey*",
                "Action::kms:ReEncrypt*",
            ],
            children=True,
        )
        nag_suppress(
            role,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "Default policy generated from this function's grants, scoped to its prefix and the boundary stacks.",
            children=True,
        )
