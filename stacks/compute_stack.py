"""Platform lane: EMR Serverless applications for batch and streaming Spark, and the job role."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from constructs.emr_serverless import SparkApplication, SparkJobRole
from constructs.package_upload import JarUpload
from constructs.suppressions import (
    KMS_GRANT_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    arn_token,
    suppress_grants,
    suppress_inline_policy,
)

from config.model import SparkCapacity
from platform_vocabulary.spark_jars import JARS_PREFIX
from stacks.network import import_vpc

# Spark's Kafka source names its consumer groups spark-kafka-source-<uuid> unless told otherwise.
SPARK_CONSUMER_GROUP_PREFIX = "spark-kafka-source-"


class ComputeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc_id: str,
        availability_zones: Sequence[str],
        subnet_ids: Sequence[str],
        release_label: str,
        batch_capacity: SparkCapacity,
        streaming_capacity: SparkCapacity,
        data_key: kms.IKey,
        release_bucket: s3.IBucket,
        raw_bucket: s3.IBucket,
        checkpoint_bucket: s3.IBucket,
        msk_cluster_arn: str,
        kafka_topics: Sequence[str],
        bootstrap_servers_secret_name: str,
        log_retention: logs.RetentionDays,
        jar_dir: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = import_vpc(self, vpc_id=vpc_id, availability_zones=availability_zones)
        self.security_group = ec2.SecurityGroup(
            self,
            "SparkSecurityGroup",
            vpc=vpc,
            description="EMR Serverless Spark jobs: outbound to S3, MSK and Snowflake only through the VPC",
            allow_all_outbound=True,
        )
        self.log_group = logs.LogGroup(
            self,
            "SparkLogs",
            retention=log_retention,
            encryption_key=data_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

        def application(name: str, capacity: SparkCapacity, *, streaming: bool) -> SparkApplication:
            return SparkApplication(
                self,
                name,
                release_label=release_label,
                max_vcpu=capacity.max_vcpu,
                max_memory_gb=capacity.max_memory_gb,
                max_disk_gb=capacity.max_disk_gb,
                idle_timeout_minutes=capacity.idle_timeout_minutes,
                subnet_ids=subnet_ids,
                security_group=self.security_group,
                log_group=self.log_group,
                log_key=data_key,
                streaming=streaming,
            )

        self.batch = application("BatchApplication", batch_capacity, streaming=False)
        self.streaming = application("StreamingApplication", streaming_capacity, streaming=True)
        # A replaced application gets a new id: running jobs, job history and the DAGs' configuration
        # would all point at the old one. The ids stay fixed whatever the construct tree becomes.
        self.batch.application.override_logical_id("BatchApplication")
        self.streaming.application.override_logical_id("StreamingApplication")

        job_role = SparkJobRole(self, "SparkJobRole", application_arns=[self.batch.arn, self.streaming.arn])
        self.job_role = job_role.role
        # Jobs read the release's artifacts and the staged jars (EMR Serverless has no internet, so
        # spark.jars points at packages/jars/, docs/packages.md), and nothing else of that bucket.
        release_bucket.grant_read(self.job_role, "releases/*")
        release_bucket.grant_read(self.job_role, f"{JARS_PREFIX}*")
        raw_bucket.grant_read_write(self.job_role)
        checkpoint_bucket.grant_read_write(self.job_role)
        self.log_group.grant_write(self.job_role)
        data_key.grant_encrypt_decrypt(self.job_role)  # the application's log encryption
        job_role.grant_kafka_read(
            cluster_arn=msk_cluster_arn, topics=kafka_topics, consumer_group_prefix=SPARK_CONSUMER_GROUP_PREFIX
        )
        # The streaming job reads the MSK bootstrap string from Secrets Manager at start.
        secretsmanager.Secret.from_secret_name_v2(self, "BootstrapServers", bootstrap_servers_secret_name).grant_read(
            self.job_role
        )

        suppress_grants(
            self.job_role,
            what="read of releases/* and packages/jars/* in the release bucket, read/write of the raw and "
            "checkpoint buckets, and the consumer groups Spark's Kafka source creates (spark-kafka-source-<uuid>)",
            actions=(*S3_READ_ACTIONS, *S3_WRITE_ACTIONS, *KMS_GRANT_ACTIONS),
            resources=(
                f"Resource::{arn_token(release_bucket)}/releases/*",
                f"Resource::{arn_token(release_bucket)}/{JARS_PREFIX}*",
                f"Resource::{arn_token(raw_bucket)}/*",
                f"Resource::{arn_token(checkpoint_bucket)}/*",
                f"Resource::{msk_cluster_arn.replace(':cluster/', ':group/')}/{SPARK_CONSUMER_GROUP_PREFIX}*",
            ),
        )
        suppress_inline_policy(self.job_role, "The job role's own policy, written by the grants above.")
        # The jars spark.jars names; absent only in an offline synth without staged packages.
        self.jars = (
            JarUpload(
                self,
                "Jars",
                jar_dir=jar_dir,
                release_bucket=release_bucket,
                prefix=JARS_PREFIX,
                log_retention=log_retention,
                log_key=data_key,
            )
            if jar_dir
            else None
        )

        self.outputs = {
            name: cdk.CfnOutput(self, name, value=value)
            for name, value in {
                "BatchApplicationId": self.batch.application_id,
                "StreamingApplicationId": self.streaming.application_id,
                "SparkJobRoleArn": self.job_role.role_arn,
            }.items()
        }
