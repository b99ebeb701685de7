"""Suppression helpers refuse empty reasons and write exactly one entry per rule."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from constructs.log_retention import retention_days
from constructs.suppressions import arn_token, cdk_singleton, checkov_skip, nag_suppress, readiness_suppress


def bucket() -> tuple[cdk.Stack, s3.CfnBucket]:
    stack = cdk.Stack(cdk.App(builtin_cloud_formation_validation=False), "Test")
    resource = s3.Bucket(stack, "Bucket").node.default_child
    assert isinstance(resource, s3.CfnBucket)
    return stack, resource


def test_checkov_skips_accumulate_once_per_check():
    _, resource = bucket()
    checkov_skip(resource, [("CKV_AWS_18", "access-log bucket")])
    checkov_skip(resource, [("CKV_AWS_18", "again"), ("CKV_AWS_21", "another reason")])
    assert resource.get_metadata("checkov") == {
        "skip": [
            {"id": "CKV_AWS_18", "comment": "access-log bucket"},
            {"id": "CKV_AWS_21", "comment": "another reason"},
        ]
    }


@pytest.mark.parametrize("call", ["checkov", "nag", "readiness"])
def test_a_suppression_without_reason_is_refused_naming_the_resource(call):
    _, resource = bucket()
    with pytest.raises(ValueError, match="Test/Bucket/Resource needs a reason"):
        if call == "checkov":
            checkov_skip(resource, [("CKV_AWS_18", "  ")])
        elif call == "nag":
            nag_suppress(resource, "AwsSolutions-S1", "")
        else:
            readiness_suppress(resource, "RetainedResourceKeyIsRetained", "ok")


def test_a_readiness_suppression_lands_in_the_template_metadata_the_pack_reads_once_per_rule():
    stack, resource = bucket()
    reason = "the key outlives the bucket: both are retained by the storage stack"
    readiness_suppress(resource, "RetainedResourceKeyIsRetained", "an earlier reason, replaced below")
    readiness_suppress(resource, "RetainedResourceKeyIsRetained", reason, applies_to=["Dev/Storage/*"])

    template = Template.from_stack(stack).to_json()
    (body,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    assert body["Metadata"]["deploy_readiness"] == {
        "rules_to_suppress": [
            {"id": "RetainedResourceKeyIsRetained", "reason": reason, "applies_to": ["Dev/Storage/*"]}
        ]
    }


def test_arn_token_is_how_cdk_nag_prints_the_resource():
    stack, resource = bucket()
    assert arn_token(resource) == f"<{stack.resolve(resource.logical_id)}.Arn>"


def test_a_missing_singleton_is_an_error_not_a_silent_skip():
    stack, _ = bucket()
    with pytest.raises(LookupError, match="expected one Custom::CDKBucketDeployment\\* singleton in Test, found 0"):
        cdk_singleton(stack, "Custom::CDKBucketDeployment")


def test_every_log_retention_the_config_allows_maps_to_cloudwatch():
    from typing import get_args

    from config.model import Retention

    allowed = get_args(Retention.model_fields["log_days"].annotation)
    assert allowed and all(retention_days(days) for days in allowed)
    with pytest.raises(ValueError, match="cannot keep logs for 31 days"):
        retention_days(31)
