"""The audit-trail construct: CloudTrail can use its customer-managed key, for this trail only."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template
from constructs.audit_trail import AuditTrail
from constructs.secure_bucket import AccessLogBucket, SecureBucket

CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
TRAIL_ARN = {
    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudtrail:eu-west-1:123456789012:trail/unit-audit"]]
}


def build(mode: str) -> Template:
    app = cdk.App(context=CONTEXT, builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Test", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    access_logs = AccessLogBucket(stack, "Logs", removal_policy=cdk.RemovalPolicy.RETAIN, retention_days=30)
    bucket = SecureBucket(
        stack,
        "Evidence",
        encryption_key=key,
        access_log_bucket=access_logs.bucket,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        noncurrent_version_days=30,
    )
    AuditTrail(
        stack,
        "AuditTrail",
        mode=mode,
        trail_name="unit-audit",
        organization_trail_arn="arn:aws:cloudtrail:eu-west-1:123456789012:trail/org"
        if mode == "organization"
        else None,
        bucket=bucket.bucket,
        encryption_key=key,
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def key_statements() -> dict[str, dict]:
    [key] = build("create").find_resources("AWS::KMS::Key").values()
    return {s.get("Sid", ""): s for s in key["Properties"]["KeyPolicy"]["Statement"]}


def test_cloudtrail_may_generate_data_keys_for_this_trail_only(key_statements):
    statement = key_statements["AllowCloudTrailToEncryptLogs"]
    assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert statement["Action"] == "kms:GenerateDataKey*"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    assert statement["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudtrail:*:123456789012:trail/*"]]
        }
    }


@pytest.mark.parametrize(
    ("sid", "action"),
    [("AllowCloudTrailToDescribeKey", "kms:DescribeKey"), ("AllowCloudTrailToUseBucketKeys", "kms:Decrypt")],
)
def test_cloudtrail_may_describe_the_key_and_decrypt_bucket_keys_for_this_trail(key_statements, sid, action):
    statement = key_statements[sid]
    assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert statement["Action"] == action
    assert statement["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}


def test_the_trail_has_the_name_its_key_policy_names():
    build("create").has_resource_properties("AWS::CloudTrail::Trail", {"TrailName": "unit-audit"})


def test_an_organization_trail_adds_nothing_to_the_key():
    [key] = build("organization").find_resources("AWS::KMS::Key").values()
    assert "cloudtrail" not in json.dumps(key["Properties"]["KeyPolicy"])


def test_a_pipeline_name_with_characters_cloudtrail_refuses_still_makes_a_valid_trail_name():
    from constructs.audit_trail import trail_name_for

    assert trail_name_for("data-platform@delivery") == "data-platform-delivery-audit"


def test_an_invalid_trail_name_is_refused_naming_the_rule_and_the_fix():
    import aws_cdk as cdk
    import pytest
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3
    from constructs.audit_trail import AuditTrail

    stack = cdk.Stack(cdk.App(), "Trail")
    with pytest.raises(ValueError, match=r"naming rule.*trail_name_for"):
        AuditTrail(
            stack,
            "AuditTrail",
            mode="account",
            trail_name="pipeline@x-audit",
            organization_trail_arn=None,
            bucket=s3.Bucket(stack, "Bucket"),
            encryption_key=kms.Key(stack, "Key"),
            log_retention=logs.RetentionDays.ONE_YEAR,
        )
