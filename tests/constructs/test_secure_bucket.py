"""The secure-bucket construct in isolation: its defaults hold whatever bucket it makes."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
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


def evidence_policy(**bucket_props) -> tuple[dict[str, dict], str]:
    """The statements of the evidence bucket's policy by Sid, and the bucket's logical id."""
    stack, bucket, _ = stack_with(
        object_lock_retention=s3.ObjectLockRetention.compliance(cdk.Duration.days(30)), **bucket_props
    )
    bucket_id = stack.resolve(bucket.resource.logical_id)
    [policy] = [
        p
        for p in Template.from_stack(stack).find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return {s.get("Sid", ""): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}, bucket_id


def test_an_object_lock_bucket_denies_everyone_deleting_or_unlocking_evidence():
    statements, _ = evidence_policy()
    for sid, actions in {
        "EvidenceIsNeverDeleted": sorted(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]),
        "EvidenceLockIsNeverChanged": "s3:PutBucketObjectLockConfiguration",
        "EvidenceRetentionIsNeverChanged": "s3:PutObjectRetention",
    }.items():
        assert statements[sid]["Effect"] == "Deny", sid
        assert statements[sid]["Principal"] == {"AWS": "*"}, sid
        assert statements[sid]["Action"] == actions, sid
    assert "Resource" in statements["EvidenceRetentionIsNeverChanged"]


def test_writers_that_set_retention_at_write_time_keep_it_under_their_prefix_only():
    statements, bucket_id = evidence_policy(retention_writer_prefixes=["ledger/"])
    retention = statements["EvidenceRetentionIsNeverChanged"]
    assert "Resource" not in retention
    assert retention["NotResource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/ledger/*"]]}


def test_a_plain_bucket_has_no_evidence_statements_and_refuses_writer_prefixes():
    stack, _, _ = stack_with()
    assert "Evidence" not in json.dumps(Template.from_stack(stack).to_json())
    with pytest.raises(ValueError, match="retention_writer_prefixes only apply to an Object Lock bucket"):
        stack_with(retention_writer_prefixes=["ledger/"])
