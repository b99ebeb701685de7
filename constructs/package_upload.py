"""Uploads of the staged packages (docs/packages.md): Spark jars beside the releases, MWAA's plugins.zip.

Both live in the platform lane: packages change rarely, and a platform rollback must find the jars
and the plugins.zip version the previous template pointed at.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import custom_resources as cr
from constructs import Construct
from constructs.release_upload import suppress_bucket_deployment
from constructs.suppressions import suppress_inline_policy
from constructs.versioned_object import PROVIDER_TIMEOUT, require_provider_timeout, suppress_custom_resource_provider

PLUGINS_COPY_TIMEOUT = cdk.Duration.minutes(5)


class JarUpload(Construct):
    """Copies the staged jars to `prefix` of the release bucket, where `spark.jars` points.

    prune=False and retain_on_delete: a jar the lock dropped stays, so a rollback to an older DAG
    or template that still names it finds it; each file name carries its version, so nothing is
    overwritten with different bytes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        jar_dir: Path,
        release_bucket: s3.IBucket,
        prefix: str,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=log_key, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deployment",
            sources=[s3deploy.Source.asset(str(jar_dir))],
            destination_bucket=release_bucket,
            destination_key_prefix=prefix,
            prune=False,
            retain_on_delete=True,
            log_group=log_group,
        )
        suppress_bucket_deployment(
            self,
            release_bucket,
            what="read of the staged jars' zip in CDK's asset bucket, write of the release bucket",
            runs="Runs only when the staged jars change, once per deployment of this stack.",
        )


class PluginsUpload(Construct):
    """Copies plugins.zip to `key` of MWAA's source bucket and exposes the object version it got.

    MWAA pins plugins.zip by object version (PluginsS3ObjectVersion), which a BucketDeployment cannot
    return: the zip travels as a CDK asset and one CopyObject call puts it at the key. A changed zip
    is a new asset key, so the call runs again and writes a new version; a stack rollback copies the
    previous asset again, so the environment gets the previous wheels back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plugins_zip: Path,
        bucket: s3.IBucket,
        key: str,
        log_group: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        asset = s3_assets.Asset(self, "Asset", path=str(plugins_zip))
        copy = cr.AwsSdkCall(
            service="S3",
            action="copyObject",
            parameters={
                "Bucket": bucket.bucket_name,
                "Key": key,
                "CopySource": f"{asset.s3_bucket_name}/{asset.s3_object_key}",
                "ContentType": "application/zip",
                "MetadataDirective": "REPLACE",
            },
            output_paths=["VersionId"],
            physical_resource_id=cr.PhysicalResourceId.from_response("VersionId"),
        )
        self.resource = cr.AwsCustomResource(
            self,
            "Copy",
            on_create=copy,
            on_update=copy,
            # No on_delete: old versions stay so that a rollback of the environment can still find them.
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)]
                    ),
                    iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(key)]),
                ]
            ),
            install_latest_aws_sdk=False,  # synth and deploy must not reach npm
            log_group=log_group,
            timeout=PROVIDER_TIMEOUT,  # shared with the stack's other custom resources; sized for this copy
        )
        # A copy of a few hundred MB of wheels: fails synth if an earlier caller shrank the shared provider.
        require_provider_timeout(self, PLUGINS_COPY_TIMEOUT, caller=self.node.path)
        if bucket.encryption_key is not None:
            bucket.encryption_key.grant_encrypt(self.resource)
        self.version_id = self.resource.get_response_field("VersionId")
        suppress_inline_policy(self.resource, "The policy holds the asset read and the single PutObject of this copy.")
        suppress_custom_resource_provider(self)
