"""CloudTrail with log-file validation into an evidence bucket, or the organisation's trail.

Log-file validation writes signed digest files, so an auditor can prove months later that no log
was altered or removed (aws cloudtrail validate-logs).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.suppressions import nag_suppress


class AuditTrail(Construct):
    """`self.trail` is the trail created here, or None when the organisation trail covers the account."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        mode: str,
        organization_trail_arn: str | None,
        bucket: s3.IBucket,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.trail: cloudtrail.Trail | None = None
        if mode == "organization":
            # Nothing to create: the record says which trail is the evidence, for the auditor.
            cdk.CfnOutput(self, "OrganizationTrailArn", value=organization_trail_arn or "")
            return
        log_group = logs.LogGroup(self, "Logs", encryption_key=encryption_key, retention=log_retention)
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
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
