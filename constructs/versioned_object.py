"""A small text file written to a versioned bucket, exposing the S3 version id it got."""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct
from constructs.suppressions import (
    BASIC_EXECUTION_ROLE,
    KMS_GRANT_ACTIONS,
    cdk_singleton,
    nag_suppress,
    suppress_grants,
    suppress_inline_policy,
    suppress_lambda,
)

# Every AwsCustomResource of a stack runs on one shared provider function, created with the timeout
# of whichever caller came first; a later caller's own `timeout` is silently ignored. So all callers
# pass this one value, sized for the slowest call (PluginsUpload's copy of a few hundred MB of wheels).
PROVIDER_TIMEOUT = cdk.Duration.minutes(5)
PROVIDER_ID_PREFIX = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")


def require_provider_timeout(scope: Construct, needed: cdk.Duration, *, caller: str) -> None:
    """Refuse at synth a custom resource whose call needs longer than the stack's shared provider allows."""
    function = cdk_singleton(scope, PROVIDER_ID_PREFIX)
    resource = function.node.default_child
    seconds = getattr(resource, "timeout", None)
    if seconds is None or seconds < needed.to_seconds():
        raise ValueError(
            f"{caller} needs {needed.to_seconds():.0f} s but the stack's shared AwsCustomResource provider "
            f"({function.node.path}) was created with {seconds} s by an earlier custom resource (rule: one "
            "provider per stack, first timeout wins); pass constructs/versioned_object.py PROVIDER_TIMEOUT to "
            "every AwsCustomResource of the stack, or raise it"
        )


class VersionedObject(Construct):
    """Writes `body` to `bucket/key` with PutObject and exposes the new object's `version_id`.

    MWAA pins requirements.txt and the startup script by S3 object version, and the version only
    exists after the upload; a deploy-time asset copy (BucketDeployment) cannot return it. A changed
    body changes the call's parameters, so CloudFormation writes a new version; a stack rollback
    writes the old body again, so the environment gets exactly the previous file back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: str,
        body: str,
        content_type: str = "text/plain",
        log_group: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.sha256 = hashlib.sha256(body.encode()).hexdigest()
        put = cr.AwsSdkCall(
            service="S3",
            action="putObject",
            parameters={"Bucket": bucket.bucket_name, "Key": key, "Body": body, "ContentType": content_type},
            output_paths=["VersionId"],
            physical_resource_id=cr.PhysicalResourceId.from_response("VersionId"),
        )
        self.resource = cr.AwsCustomResource(
            self,
            "Put",
            on_create=put,
            on_update=put,
            # No on_delete: old versions stay so that a rollback of the environment can still find them.
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(key)])]
            ),
            install_latest_aws_sdk=False,  # synth and deploy must not reach npm
            # One AwsCustomResource function serves the whole stack, so every caller passes the same group.
            log_group=log_group,
            timeout=PROVIDER_TIMEOUT,
        )
        if bucket.encryption_key is not None:
            bucket.encryption_key.grant_encrypt(self.resource)
        self.version_id = self.resource.get_response_field("VersionId")
        suppress_inline_policy(self.resource, "The policy holds the single PutObject call of this resource.")
        suppress_custom_resource_provider(self)


def suppress_custom_resource_provider(scope: Construct) -> None:
    """cdk-nag findings of the one function AwsCustomResource shares per stack (its S3 calls, KMS grant)."""
    function = cdk_singleton(scope, PROVIDER_ID_PREFIX)
    suppress_grants(function, what="KMS data-key use on the bucket's key", resources=(), actions=KMS_GRANT_ACTIONS)
    nag_suppress(
        function,
        "AwsSolutions-IAM4",
        "aws-cdk-lib's AwsCustomResource function role; the managed policy only allows CloudWatch Logs writes.",
        applies_to=[BASIC_EXECUTION_ROLE],
        children=True,
    )
    suppress_inline_policy(function, "aws-cdk-lib's AwsCustomResource function role holds only its KMS grant.")
    suppress_lambda(
        function,
        concurrency_reason="Runs only during deployments of this stack, one call per changed file.",
    )
