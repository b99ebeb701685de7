"""The secure-bucket construct in isolation: its defaults hold whatever bucket it makes."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from constructs.secure_bucket import AccessLogBucket, SecureBucket

# The app's feature flags (log delivery by bucket policy among them) apply to the construct too.
CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def stack_with(**bucket_props) -> tuple[cdk.Stack, SecureBucket, AccessLogBucket]:
    app = cdk.App(context=CONTEXT, builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Test", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    logs = AccessLogBucket(stack, "Logs", removal_policy=cdk.RemovalPolicy.RETAIN, retention_days=30)
    bucket = SecureBucket(
        stack,
        "Data",
        encryption_key=key,
        access_log_bucket=logs.bucket,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        noncurrent_version_days=45,
        **bucket_props,
    )
    return stack, bucket, logs


def test_secure_defaults():
    stack, bucket, _ = stack_with()
    template = Template.from_stack(stack)
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {
                                "BucketKeyEnabled": True,
                                "ServerSideEncryptionByDefault": {
                                    "KMSMasterKeyID": Match.any_value(),
                                    "SSEAlgorithm": "aws:kms",
                                },
                            }
                        ]
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "LoggingConfiguration": {"DestinationBucketName": Match.any_value(), "LogFilePrefix": "Data/"},
                    "PublicAccessBlockConfiguration": Match.object_equals(
                        {
                            "BlockPublicAcls": True,
                            "BlockPublicPolicy": True,
                            "IgnorePublicAcls": True,
                            "RestrictPublicBuckets": True,
                        }
                    ),
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    assert (
        "ObjectLockEnabled"
        not in template.to_json()["Resources"][stack.resolve(bucket.resource.logical_id)]["Properties"]
    )


def test_extra_lifecycle_rules_come_after_the_defaults():
    rule = s3.LifecycleRule(id="ExpireLanding", expiration=cdk.Duration.days(3))
    stack, bucket, _ = stack_with(lifecycle_rules=[rule], object_lock_enabled=True)
    props = Template.from_stack(stack).to_json()["Resources"][stack.resolve(bucket.resource.logical_id)]["Properties"]
    rules = props["LifecycleConfiguration"]["Rules"]
    assert [r["Id"] for r in rules] == ["AbortIncompleteUploads", "ExpireOldVersions", "ExpireLanding"]
    assert rules[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 45}
    assert props["ObjectLockEnabled"] is True


def test_the_log_bucket_explains_each_exception():
    stack, _, logs = stack_with()
    resource = Template.from_stack(stack).to_json()["Resources"][
        stack.resolve(logs.bucket.node.default_child.logical_id)
    ]
    suppressed = {s["id"]: s["reason"] for s in resource["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert set(suppressed) == {
        "AwsSolutions-S1",
        "NIST.800.53.R5-S3BucketLoggingEnabled",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    }
    assert all(len(reason) > 20 for reason in suppressed.values())
    assert resource["Metadata"]["checkov"]["skip"][0]["id"] == "CKV_AWS_18"
    assert resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
