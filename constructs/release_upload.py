"""Uploads a release bundle to its immutable prefix, releases/<release_id>/ of the release bucket."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct
from constructs.suppressions import (
    BASIC_EXECUTION_ROLE,
    KMS_GRANT_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    arn_token,
    cdk_singleton,
    function_resource,
    nag_suppress,
    suppress_grants,
    suppress_inline_policy,
    suppress_lambda,
)

# CDK's bootstrap asset bucket (cdk-<qualifier>-assets-<account>-<region>), where the bundle zip waits.
ASSET_BUCKET_OBJECTS = {"regex": r"/^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-\d{12}-[a-z0-9-]+\/\*$/g"}


class ReleaseUpload(Construct):
    """Copies the bundle directory as-is; never prunes and never deletes on stack deletion.

    The prefix is content-addressed (the id is the bundle's hash), so uploading the same release
    again writes the same bytes, and an older release stays in place for a rollback to find.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bundle_dir: Path,
        release_id: str,
        release_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = f"releases/{release_id}/"
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=log_key, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[s3deploy.Source.asset(str(bundle_dir))],
            destination_bucket=release_bucket,
            destination_key_prefix=self.prefix,
            prune=False,
            retain_on_delete=True,
            memory_limit=1024,  # the AWS CLI sync inside is CPU-bound on zip extraction; memory buys CPU
            log_group=self.log_group,
        )
        suppress_bucket_deployment(
            self,
            release_bucket,
            what="read of the bundle zip in CDK's asset bucket, write of the release bucket",
            runs="Runs only while this stack deploys a release, once per deployment.",
        )


def suppress_bucket_deployment(scope: Construct, destination: s3.IBucket, *, what: str, runs: str) -> None:
    """cdk-nag findings of the one function (the AWS CLI in a layer) BucketDeployment shares per stack."""
    function = cdk_singleton(scope, "Custom::CDKBucketDeployment")
    suppress_grants(
        function,
        what=what,
        actions=(*S3_READ_ACTIONS, *S3_WRITE_ACTIONS, *KMS_GRANT_ACTIONS),
        resources=(ASSET_BUCKET_OBJECTS, f"Resource::{arn_token(destination)}/*"),
    )
    nag_suppress(
        function,
        "AwsSolutions-IAM4",
        "aws-cdk-lib's BucketDeployment function role; the managed policy only allows CloudWatch Logs writes.",
        applies_to=[BASIC_EXECUTION_ROLE],
        children=True,
    )
    nag_suppress(
        function_resource(function),
        "AwsSolutions-L1",
        "The runtime is chosen by aws-cdk-lib's BucketDeployment and moves with the pinned aws-cdk-lib.",
    )
    suppress_inline_policy(function, "aws-cdk-lib's BucketDeployment function role holds only its grants.")
    suppress_lambda(
        function,
        concurrency_reason=runs,
        env_reason="The only environment variable is a path inside the function's AWS CLI layer; no secrets.",
    )
