"""The one AwsCustomResource provider a stack shares: its timeout is the first caller's, so it is fixed here."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs.versioned_object import PROVIDER_TIMEOUT, VersionedObject, require_provider_timeout


def stack_with_object(provider_timeout: cdk.Duration | None = None) -> cdk.Stack:
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account="222222222222", region="eu-west-1"))
    bucket = s3.Bucket(stack, "Bucket", versioned=True)
    group = logs.LogGroup(stack, "Logs")
    if provider_timeout is not None:
        # Another construct (e.g. a library's) creating the shared provider first, with its own timeout.
        cr.AwsCustomResource(
            stack,
            "EarlierCaller",
            on_create=cr.AwsSdkCall(
                service="S3", action="listBuckets", physical_resource_id=cr.PhysicalResourceId.of("x")
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
            install_latest_aws_sdk=False,
            log_group=group,
            timeout=provider_timeout,
        )
    VersionedObject(stack, "Object", bucket=bucket, key="requirements.txt", body="x==1\n", log_group=group)
    return stack


def test_versioned_objects_create_the_provider_with_the_shared_timeout():
    stack = stack_with_object()
    require_provider_timeout(stack, PROVIDER_TIMEOUT, caller="test")


def test_a_call_needing_more_than_the_shared_provider_has_is_refused_naming_the_rule_and_the_fix():
    stack = stack_with_object(provider_timeout=cdk.Duration.minutes(2))
    with pytest.raises(
        ValueError, match=r"Test/Copy needs 300 s .* created with 120 s .*first timeout wins.*PROVIDER_TIMEOUT"
    ):
        require_provider_timeout(stack, cdk.Duration.minutes(5), caller="Test/Copy")
