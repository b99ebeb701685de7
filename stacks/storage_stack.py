"""Stateful storage: the data key and every bucket. Retained, termination-protected, ids pinned."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.data_key import DataKey
from constructs.secure_bucket import AccessLogBucket, SecureBucket

# Logical ids of stateful resources never change: a new id would make CloudFormation replace the
# bucket (and with RETAIN, orphan the old one with all its data). tests/stacks pin these.
PINNED_IDS = (
    "DataKey",
    "AccessLogBucket",
    "DagBucket",
    "ReleaseBucket",
    "RawBucket",
    "CheckpointBucket",
    "EvidenceBucket",
)
# Spark checkpoints are rewritten constantly; old versions are only useful for a few days.
CHECKPOINT_NONCURRENT_DAYS = 3
RAW_NONCURRENT_DAYS = 7
CHECKPOINT_SNAPSHOT_DAYS = 14


class StorageStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        protect: bool,
        access_log_days: int,
        release_artifact_days: int,
        raw_landing_days: int,
        evidence_days: int,
        evidence_lock_mode: str = "COMPLIANCE",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=protect, **kwargs)
        removal = cdk.RemovalPolicy.RETAIN if protect else cdk.RemovalPolicy.DESTROY

        # Always retained: the evidence bucket is retained everywhere (dev included) and encrypted with
        # this key; deleting the key with the stack would leave that evidence unreadable for good.
        data_key = DataKey(self, "DataKeyConstruct", removal_policy=cdk.RemovalPolicy.RETAIN)
        self.data_key: kms.IKey = data_key.key
        self._pin(data_key.key.node.default_child, "DataKey")
        access_logs = AccessLogBucket(self, "AccessLogs", removal_policy=removal, retention_days=access_log_days)
        self._pin(access_logs.bucket.node.default_child, "AccessLogBucket")

        def bucket(name: str, *, removal_policy: cdk.RemovalPolicy = removal, **props: Any) -> s3.IBucket:
            made = SecureBucket(
                self,
                name,
                encryption_key=self.data_key,
                access_log_bucket=access_logs.bucket,
                removal_policy=removal_policy,
                **props,
            )
            self._pin(made.resource, name)
            return made.bucket

        # DAG folder, requirements.txt and startup script of MWAA; old versions are rollback material.
        self.dag_bucket = bucket("DagBucket", noncurrent_version_days=release_artifact_days)
        # releases/<id>/: current objects are never expired, since any of them may be rolled back to.
        self.release_bucket = bucket("ReleaseBucket", noncurrent_version_days=release_artifact_days)
        self.raw_bucket = bucket(
            "RawBucket",
            noncurrent_version_days=RAW_NONCURRENT_DAYS,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireRawLanding", expiration=cdk.Duration.days(raw_landing_days))],
        )
        self.checkpoint_bucket = bucket(
            "CheckpointBucket",
            noncurrent_version_days=CHECKPOINT_NONCURRENT_DAYS,
            # Redeploy snapshots (pipeline_assets/streaming_control) matter until the next redeploy bakes.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireCheckpointSnapshots",
                    prefix="_snapshots/",
                    expiration=cdk.Duration.days(CHECKPOINT_SNAPSHOT_DAYS),
                )
            ],
        )
        # Object Lock can only be switched on when the bucket is created. CloudTrail sets no retention
        # on its log files, so the default retention is what locks them; SecureBucket also denies
        # everyone deleting them or changing their lock. Evidence outlives any stack, in every environment.
        lock = (
            s3.ObjectLockRetention.compliance
            if evidence_lock_mode == "COMPLIANCE"
            else s3.ObjectLockRetention.governance
        )
        self.evidence_bucket = bucket(
            "EvidenceBucket",
            removal_policy=cdk.RemovalPolicy.RETAIN,
            noncurrent_version_days=evidence_days,
            object_lock_retention=lock(cdk.Duration.days(evidence_days)),
        )

        self.outputs = {
            name: cdk.CfnOutput(self, name, value=value)
            for name, value in {
                "DagBucketName": self.dag_bucket.bucket_name,
                "ReleaseBucketName": self.release_bucket.bucket_name,
                "RawBucketName": self.raw_bucket.bucket_name,
                "CheckpointBucketName": self.checkpoint_bucket.bucket_name,
                "EvidenceBucketName": self.evidence_bucket.bucket_name,
                "DataKeyArn": self.data_key.key_arn,
            }.items()
        }

    @staticmethod
    def _pin(resource: Any, logical_id: str) -> None:
        assert isinstance(resource, cdk.CfnResource)
        resource.override_logical_id(logical_id)
