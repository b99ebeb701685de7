"""EMR Serverless: a Spark application with logs and network, and the role its jobs run as."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emrserverless as emrs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# StartJobRun with mode STREAMING needs EMR 7.1.0 or later (EMR Serverless user guide, streaming jobs).
STREAMING_MIN_RELEASE = (7, 1, 0)
RELEASE = re.compile(r"^emr-(\d+)\.(\d+)\.(\d+)$")


def release_version(release_label: str) -> tuple[int, int, int]:
    match = RELEASE.match(release_label)
    if not match:
        raise ValueError(f"release_label {release_label!r} is not an EMR release label like 'emr-7.9.0'")
    return int(match[1]), int(match[2]), int(match[3])


class SparkApplication(Construct):
    """One EMR Serverless Spark application, bounded by `max_*`, stopped after `idle_timeout_minutes`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        release_label: str,
        max_vcpu: int,
        max_memory_gb: int,
        max_disk_gb: int,
        idle_timeout_minutes: int,
        subnet_ids: Sequence[str],
        security_group: ec2.ISecurityGroup,
        log_group: logs.ILogGroup,
        log_key: kms.IKey,
        streaming: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if streaming and release_version(release_label) < STREAMING_MIN_RELEASE:
            raise ValueError(
                f"{self.node.path}: release_label {release_label} cannot run streaming jobs; "
                "use emr-7.1.0 or later (compute.release_label in config/<env>.yaml)"
            )
        self.application = emrs.CfnApplication(
            self,
            "Application",
            release_label=release_label,
            type="SPARK",
            maximum_capacity=emrs.CfnApplication.MaximumAllowedResourcesProperty(
                cpu=f"{max_vcpu} vCPU", memory=f"{max_memory_gb} GB", disk=f"{max_disk_gb} GB"
            ),
            auto_start_configuration=emrs.CfnApplication.AutoStartConfigurationProperty(enabled=True),
            auto_stop_configuration=emrs.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=idle_timeout_minutes
            ),
            # In the VPC: jobs reach MSK and Snowflake through the team's network, not the internet.
            network_configuration=emrs.CfnApplication.NetworkConfigurationProperty(
                subnet_ids=list(subnet_ids), security_group_ids=[security_group.security_group_id]
            ),
            monitoring_configuration=emrs.CfnApplication.MonitoringConfigurationProperty(
                cloud_watch_logging_configuration=emrs.CfnApplication.CloudWatchLoggingConfigurationProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name_prefix=construct_id,
                    encryption_key_arn=log_key.key_arn,
                )
            ),
        )
        self.application_id = self.application.attr_application_id
        self.arn = self.application.attr_arn

    def grant_run_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """What EmrServerlessStartJobOperator and a streaming supervisor call, on this application only."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "emr-serverless:StartJobRun",
                "emr-serverless:GetJobRun",
                "emr-serverless:CancelJobRun",
                "emr-serverless:ListJobRuns",
                "emr-serverless:GetApplication",
                "emr-serverless:StartApplication",
                "emr-serverless:GetDashboardForJobRun",
            ],
            resource_arns=[self.arn, f"{self.arn}/jobruns/*"],
        )


class SparkJobRole(Construct):
    """The runtime role of Spark jobs: what it may touch is granted by the stack, one grant at a time."""

    def __init__(self, scope: Construct, construct_id: str, *, application_arns: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description="Runtime role of the platform's Spark jobs on EMR Serverless",
            # Only job runs of our own applications may assume it (confused-deputy protection).
            assumed_by=iam.PrincipalWithConditions(
                iam.ServicePrincipal("emr-serverless.amazonaws.com"),
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": list(application_arns)},
                },
            ),
        )

    def grant_kafka_read(self, *, cluster_arn: str, topics: Sequence[str], consumer_group_prefix: str) -> None:
        """IAM-authenticated MSK reads of the named topics only (the streaming job's source)."""
        # arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> -> topic/<name>/<uuid>/<topic>
        prefix, _, cluster_path = cluster_arn.partition(":cluster/")
        if not cluster_path:
            raise ValueError(f"{cluster_arn!r} is not an MSK cluster ARN")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"], resources=[cluster_arn]
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                resources=[f"{prefix}:topic/{cluster_path}/{topic}" for topic in topics],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"],
                resources=[f"{prefix}:group/{cluster_path}/{consumer_group_prefix}*"],
            )
        )
