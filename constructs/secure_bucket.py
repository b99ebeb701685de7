"""The one place where bucket defaults live: every bucket of the platform is made here."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

# Failed multipart uploads are invisible and billed forever unless a rule removes them.
ABORT_INCOMPLETE_UPLOADS_DAYS = 7


def _base_rules(noncurrent_version_days: int) -> list[s3.LifecycleRule]:
    return [
        s3.LifecycleRule(
            id="AbortIncompleteUploads",
            abort_incomplete_multipart_upload_after=cdk.Duration.days(ABORT_INCOMPLETE_UPLOADS_DAYS),
        ),
        s3.LifecycleRule(
            id="ExpireOldVersions",
            noncurrent_version_expiration=cdk.Duration.days(noncurrent_version_days),
            expired_object_delete_marker=True,
        ),
    ]


# What nobody may do to evidence, whatever their identity policy says: delete it, lower the bucket's
# lock, or change or bypass an object's retention. A later change of the default retention therefore
# needs this statement removed first, in a reviewed change of its own.
EVIDENCE_OBJECT_DENY = ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention")
EVIDENCE_BUCKET_DENY = ("s3:PutBucketObjectLockConfiguration",)


def deny_evidence_tampering(bucket: s3.IBucket, *, retention_writer_prefixes: Sequence[str] = ()) -> None:
    """Deny-everyone statements for an Object Lock bucket.

    `retention_writer_prefixes` are where writers set each object's own retention at write time
    (PutObject with Object Lock headers needs s3:PutObjectRetention); everywhere else it is denied.
    """
    everyone = [iam.AnyPrincipal()]
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="EvidenceIsNeverDeleted",
            effect=iam.Effect.DENY,
            principals=everyone,
            actions=list(EVIDENCE_OBJECT_DENY),
            resources=[bucket.arn_for_objects("*")],
        )
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="EvidenceLockIsNeverChanged",
            effect=iam.Effect.DENY,
            principals=everyone,
            actions=list(EVIDENCE_BUCKET_DENY),
            resources=[bucket.bucket_arn],
        )
    )
    retention = iam.PolicyStatement(
        sid="EvidenceRetentionIsNeverChanged",
        effect=iam.Effect.DENY,
        principals=everyone,
        actions=["s3:PutObjectRetention"],
    )
    if retention_writer_prefixes:
        retention.add_not_resources(*(bucket.arn_for_objects(f"{prefix}*") for prefix in retention_writer_prefixes))
    else:
        retention.add_resources(bucket.arn_for_objects("*"))
    bucket.add_to_resource_policy(retention)


class AccessLogBucket(Construct):
    """Receives the server access logs of every other bucket.

    S3 log delivery cannot write to a bucket whose default encryption is SSE-KMS, so this one bucket
    uses SSE-S3; it holds only access logs, never data.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: cdk.RemovalPolicy, retention_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
            lifecycle_rules=[
                *_base_rules(noncurrent_version_days=1),
                s3.LifecycleRule(id="ExpireAccessLogs", expiration=cdk.Duration.days(retention_days)),
            ],
        )
        resource = self.bucket.node.default_child
        assert isinstance(resource, s3.CfnBucket)
        NagSuppressions.add_resource_suppressions(
            resource,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "This is the access-log bucket; logging it into itself would loop.",
                },
                {"id": "NIST.800.53.R5-S3BucketLoggingEnabled", "reason": "This is the access-log bucket itself."},
                {
                    "id": "NIST.800.53.R5-S3DefaultEncryptionKMS",
                    "reason": "S3 server access log delivery only supports SSE-S3 targets; holds access logs only.",
                },
                {
                    "id": "NIST.800.53.R5-S3BucketReplicationEnabled",
                    "reason": "Access logs are diagnostic; they are not replicated to a second region.",
                },
            ],
        )
        resource.add_metadata(
            "checkov",
            {"skip": [{"id": "CKV_AWS_18", "comment": "This is the access-log bucket; logging it into itself loops."}]},
        )


class SecureBucket(Construct):
    """A private, TLS-only, KMS-encrypted, versioned bucket that logs its access.

    With `object_lock_retention` it is an evidence bucket: a default retention, and a bucket policy
    that denies everyone deleting objects or changing their lock (`deny_evidence_tampering`).

    `self.bucket` is the bucket; `self.resource` its CloudFormation resource (for pinning its logical id).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        removal_policy: cdk.RemovalPolicy,
        noncurrent_version_days: int,
        lifecycle_rules: Sequence[s3.LifecycleRule] = (),
        object_lock_enabled: bool = False,
        object_lock_retention: s3.ObjectLockRetention | None = None,
        retention_writer_prefixes: Sequence[str] = (),
        replication_reason: str = "Single-region platform: versioning and S3's durability cover loss; "
        "cross-region disaster recovery is out of scope for this bucket.",
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            # One data key per bucket instead of a KMS call per object: cheaper and avoids KMS throttling.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix=f"{construct_id}/",
            removal_policy=removal_policy,
            object_lock_enabled=object_lock_enabled or object_lock_retention is not None or None,
            object_lock_default_retention=object_lock_retention,
            lifecycle_rules=[*_base_rules(noncurrent_version_days), *lifecycle_rules],
        )
        resource = self.bucket.node.default_child
        assert isinstance(resource, s3.CfnBucket)
        self.resource = resource
        NagSuppressions.add_resource_suppressions(
            resource, [{"id": "NIST.800.53.R5-S3BucketReplicationEnabled", "reason": replication_reason}]
        )
        if object_lock_retention is not None:
            deny_evidence_tampering(self.bucket, retention_writer_prefixes=retention_writer_prefixes)
        elif retention_writer_prefixes:
            raise ValueError(
                f"{construct_id}: retention_writer_prefixes only apply to an Object Lock bucket; "
                "give object_lock_retention as well"
            )
