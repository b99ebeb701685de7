"""CloudTrail with log-file validation into an evidence bucket, or the organisation's trail.

Log-file validation writes signed digest files, so an auditor can prove months later that no log
was altered or removed (aws cloudtrail validate-logs).

The trail encrypts with a customer-managed key, which CloudTrail may only use when the key policy
says so (create-kms-key-policy-for-cloudtrail in the CloudTrail user guide): GenerateDataKey* for
this trail's log and digest files, DescribeKey, and Decrypt because the buckets use S3 Bucket Keys.
Without them CreateTrail fails with InsufficientEncryptionPolicyException.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.suppressions import nag_suppress


def trail_arn(stack: cdk.Stack, name: str) -> str:
    return f"arn:{stack.partition}:cloudtrail:{stack.region}:{stack.account}:trail/{name}"


def cloudtrail_key_statements(stack: cdk.Stack, name: str) -> list[iam.PolicyStatement]:
    """What CloudTrail needs on the key, confined by aws:SourceArn to this one trail."""
    cloudtrail_service = iam.ServicePrincipal("cloudtrail.amazonaws.com")
    this_trail = {"aws:SourceArn": trail_arn(stack, name)}
    return [
        iam.PolicyStatement(
            sid="AllowCloudTrailToEncryptLogs",
            principals=[cloudtrail_service],
            actions=["kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={
                "StringEquals": this_trail,
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": (
                        f"arn:{stack.partition}:cloudtrail:*:{stack.account}:trail/*"
                    )
                },
            },
        ),
        iam.PolicyStatement(
            sid="AllowCloudTrailToDescribeKey",
            principals=[cloudtrail_service],
            actions=["kms:DescribeKey"],
            resources=["*"],
            conditions={"StringEquals": this_trail},
        ),
        # With S3 Bucket Keys, CloudTrail must also decrypt to create or update an SSE-KMS trail.
        iam.PolicyStatement(
            sid="AllowCloudTrailToUseBucketKeys",
            principals=[cloudtrail_service],
            actions=["kms:Decrypt"],
            resources=["*"],
            conditions={"StringEquals": this_trail},
        ),
    ]


# CloudTrail's naming rule: 3-128 characters of letters, digits, '.', '_' and '-', starting and ending
# with a letter or digit (CodePipeline names may contain '@', which a trail name may not).
_TRAIL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,126})[A-Za-z0-9]$")


def trail_name_for(base: str) -> str:
    """`<base>-audit` made a valid trail name: characters CloudTrail refuses become '-'."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{base}-audit").strip("._-")[:128]


class AuditTrail(Construct):
    """`self.trail` is the trail created here, or None when the organisation trail covers the account.

    `trail_name` is a fixed name: the key policy must name the trail's ARN, and the key exists before
    the trail does (storage stack, or earlier in the same stack), so a generated name would be a cycle.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mode: str,
        trail_name: str,
        organization_trail_arn: str | None,
        bucket: s3.IBucket,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if not _TRAIL_NAME.match(trail_name):
            raise ValueError(
                f"trail name {trail_name!r} breaks CloudTrail's naming rule (3-128 of A-Z a-z 0-9 . _ -, starting "
                "and ending with a letter or digit); fix: build it with constructs.audit_trail.trail_name_for()"
            )
        self.trail: cloudtrail.Trail | None = None
        if mode == "organization":
            # Nothing to create: the record says which trail is the evidence, for the auditor.
            cdk.CfnOutput(self, "OrganizationTrailArn", value=organization_trail_arn or "")
            return
        stack = cdk.Stack.of(self)
        for statement in cloudtrail_key_statements(stack, trail_name):
            encryption_key.add_to_resource_policy(statement)
        log_group = logs.LogGroup(self, "Logs", encryption_key=encryption_key, retention=log_retention)
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=trail_name,
            bucket=bucket,
            s3_key_prefix="cloudtrail",
            encryption_key=encryption_key,
            enable_file_validation=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            management_events=cloudtrail.ReadWriteType.ALL,
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=log_group,
        )
        nag_suppress(
            self.trail,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "CloudTrail's log-delivery role: one generated statement for this trail's own log group.",
            children=True,
        )
