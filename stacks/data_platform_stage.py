"""One environment (dev, staging or prod): the composition root of its platform and release lanes.

Configuration arrives once, as a typed EnvironmentConfig; every stack gets narrow keyword arguments
taken from it. Later stacks (monitoring's release-health alarm, the audit/evidence stack) are added
in `_add_operations_stacks` and consume the attributes set here, never names rebuilt by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct
from constructs.log_retention import retention_days
from constructs.release_activator import STATE_KEY as ACTIVATION_STATE_KEY

from config import EnvironmentConfig
from stacks import release_bundle
from stacks.audit_stack import AuditStack
from stacks.compute_stack import ComputeStack
from stacks.delivery_access_stack import DeliveryAccessStack, integration_test_role_name, role_arn
from stacks.monitoring_stack import MonitoringStack, freshness_from_specs
from stacks.orchestration_stack import DAG_PREFIX, OrchestrationStack
from stacks.pipeline_registry import load_registry
from stacks.release_bundle import ReleaseBundle
from stacks.release_lane_stack import ReleaseLaneStack
from stacks.staged_packages import StagedPackages
from stacks.storage_stack import StorageStack

# The topics the streaming Spark job consumes (pipeline operations_events).
STREAMING_TOPICS = ("operations.events.v1",)


def has_delivery_access(env_config: EnvironmentConfig) -> bool:
    """Whether the delivery account gets a role into this environment for its post-deploy tests.

    That role is trusted by the whole delivery account and reads the environment's secrets, so an
    environment holding production data never gets one (config/model.py ties prod to production
    data); the integration tests and canary post-steps run against staging only.
    """
    return env_config.data.source != "production"


def active_release_parameter(environment: str) -> str:
    # One parameter per environment; the environment is in the name because dev and staging may
    # share an account (only prod's is required to be its own).
    return f"/data-platform/{environment}/active-release"


class DataPlatformStage(cdk.Stage):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        delivery_account: str,
        delivery_pipeline_name: str,
        release_dir: Path | None = None,
        packages: StagedPackages | None = None,
        release_health_reader_role_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, env=cdk.Environment(account=env_config.account, region=env_config.region), **kwargs
        )
        # Before anything else: a missing bundle should stop synth with the command that builds it.
        # The default is build/release/current, what the release build points at its latest bundle.
        bundle = ReleaseBundle.load(release_dir or release_bundle.DEFAULT_RELEASE_DIR)
        self.environment_name = env_config.name
        log_retention = retention_days(env_config.retention.log_days)
        network = env_config.network

        self.storage = StorageStack(
            self,
            "Storage",
            description="Data platform storage: KMS key and buckets (stateful, retained)",
            protect=env_config.protect_stateful_resources,
            access_log_days=env_config.retention.log_days,
            release_artifact_days=env_config.retention.release_artifact_days,
            raw_landing_days=env_config.retention.raw_landing_days,
            evidence_days=env_config.retention.evidence_years * 366,
            evidence_lock_mode=env_config.retention.evidence_lock_mode,
        )
        storage = self.storage
        self.compute = ComputeStack(
            self,
            "Compute",
            description="Data platform compute: EMR Serverless applications and the Spark job role",
            vpc_id=network.vpc_id,
            availability_zones=network.availability_zones,
            subnet_ids=network.private_subnet_ids,
            release_label=env_config.compute.release_label,
            batch_capacity=env_config.compute.batch,
            streaming_capacity=env_config.compute.streaming,
            data_key=storage.data_key,
            release_bucket=storage.release_bucket,
            raw_bucket=storage.raw_bucket,
            checkpoint_bucket=storage.checkpoint_bucket,
            msk_cluster_arn=env_config.streaming.msk_cluster_arn,
            kafka_topics=STREAMING_TOPICS,
            bootstrap_servers_secret_name=env_config.streaming.bootstrap_servers_secret_name,
            log_retention=log_retention,
            jar_dir=packages.jar_dir if packages else None,
        )
        self.active_release_parameter_name = active_release_parameter(env_config.name)
        orchestration = env_config.orchestration
        self.orchestration = OrchestrationStack(
            self,
            "Orchestration",
            description="Data platform orchestration: the MWAA environment (platform lane, slow to change)",
            vpc_id=network.vpc_id,
            availability_zones=network.availability_zones,
            subnet_ids=network.private_subnet_ids,
            airflow_version=orchestration.airflow_version,
            environment_class=orchestration.environment_class,
            min_workers=orchestration.min_workers,
            max_workers=orchestration.max_workers,
            max_webservers=orchestration.max_webservers,
            schedulers=orchestration.schedulers,
            dag_bucket=storage.dag_bucket,
            release_bucket=storage.release_bucket,
            raw_bucket=storage.raw_bucket,
            checkpoint_bucket=storage.checkpoint_bucket,
            data_key=storage.data_key,
            spark_applications=(self.compute.batch, self.compute.streaming),
            spark_job_role=self.compute.job_role,
            active_release_parameter_name=self.active_release_parameter_name,
            secret_names=(
                env_config.snowflake.private_key_secret_name,
                env_config.streaming.bootstrap_servers_secret_name,
                env_config.data_services.secret_name,
            ),
            # The run-time contract of DAG files: they read these, never literals (ARCHITECTURE.md).
            platform_options={
                "platform.environment": env_config.name,
                "platform.release_bucket": storage.release_bucket.bucket_name,
                "platform.raw_bucket": storage.raw_bucket.bucket_name,
                "platform.checkpoint_bucket": storage.checkpoint_bucket.bucket_name,
                "platform.emr_batch_application_id": self.compute.batch.application_id,
                "platform.emr_streaming_application_id": self.compute.streaming.application_id,
                "platform.emr_job_role_arn": self.compute.job_role.role_arn,
                "platform.active_release_parameter": self.active_release_parameter_name,
                "platform.snowflake_conn_id": env_config.snowflake.airflow_conn_id,
                "platform.data_services_secret_name": env_config.data_services.secret_name,
            },
            log_retention=log_retention,
            plugins_zip=packages.plugins_zip if packages else None,
        )
        self.release_lane = ReleaseLaneStack(
            self,
            "Release",
            description=f"Data platform release lane: release {bundle.release_id} (fast lane, no MWAA update)",
            bundle=bundle,
            release_bucket=storage.release_bucket,
            dag_bucket=storage.dag_bucket,
            dag_prefix=DAG_PREFIX,
            active_release_parameter_name=self.active_release_parameter_name,
            data_key=storage.data_key,
            log_retention=log_retention,
            reserve_concurrency=env_config.functions.concurrency_quota is not None,
        )
        # A first deployment creates the platform before the first release is activated into it.
        self.release_lane.add_stack_dependency(self.orchestration, "releases are activated into a running platform")

        # What later steps use (the delivery pipeline's post-steps, monitoring, rollback, audit).
        self.release_id = bundle.release_id
        self.release_bucket_name = storage.release_bucket.bucket_name
        self.dag_bucket_name = storage.dag_bucket.bucket_name
        self.batch_application_id = self.compute.batch.application_id
        self.streaming_application_id = self.compute.streaming.application_id
        self.airflow_environment_name = self.orchestration.environment_name
        self.activator_function = self.release_lane.activator.function
        self.outputs: dict[str, cdk.CfnOutput] = {
            **storage.outputs,
            **self.compute.outputs,
            **self.orchestration.outputs,
            **self.release_lane.outputs,
        }
        # Environment variables for steps that run against the deployed environment (integration
        # tests, canaries): CDK Pipelines' env_from_cfn_outputs takes exactly this shape.
        self.integration_outputs: dict[str, cdk.CfnOutput] = {
            "RELEASE_BUCKET": self.outputs["ReleaseBucketName"],
            "DAG_BUCKET": self.outputs["DagBucketName"],
            "RAW_BUCKET": self.outputs["RawBucketName"],
            "CHECKPOINT_BUCKET": self.outputs["CheckpointBucketName"],
            "EMR_BATCH_APPLICATION_ID": self.outputs["BatchApplicationId"],
            "EMR_STREAMING_APPLICATION_ID": self.outputs["StreamingApplicationId"],
            "EMR_JOB_ROLE_ARN": self.outputs["SparkJobRoleArn"],
            "AIRFLOW_ENVIRONMENT_NAME": self.outputs["AirflowEnvironmentName"],
            "ACTIVE_RELEASE_PARAMETER": self.outputs["ActiveReleaseParameterName"],
            "RELEASE_ID": self.outputs["ReleaseId"],
        }
        # Created before the pipeline names it, by this environment's PipelineAccess stack (app.py).
        self._release_health_reader_role_arn = release_health_reader_role_arn
        self._add_operations_stacks(
            env_config,
            delivery_account=delivery_account,
            delivery_pipeline_name=delivery_pipeline_name,
            log_retention=log_retention,
        )

    def _add_operations_stacks(
        self,
        env_config: EnvironmentConfig,
        *,
        delivery_account: str,
        delivery_pipeline_name: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        """Monitoring, audit trail and the roles the delivery pipeline assumes, after both lanes exist."""
        self.audit = AuditStack(
            self,
            "Audit",
            description="SOC 2 evidence: CloudTrail with log validation, stack events to the delivery ledger",
            evidence_bucket=self.storage.evidence_bucket,
            encryption_key=self.storage.data_key,
            delivery_account=delivery_account,
            environment_name=env_config.name,
            trail_mode=env_config.audit_trail.mode,
            organization_trail_arn=env_config.audit_trail.organization_trail_arn,
            log_retention=log_retention,
        )
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            description="Release health (the pipeline's bake alarm), canaries, SLO, dashboards, drift detection",
            environment=env_config.name,
            alarm_emails=env_config.notifications.alarm_emails,
            mwaa_environment_name=self.airflow_environment_name,
            emr_application_ids={"batch": self.batch_application_id, "streaming": self.streaming_application_id},
            pipelines=freshness_from_specs(load_registry()),
            release_bucket=self.storage.release_bucket,
            raw_bucket=self.storage.raw_bucket,
            dag_bucket=self.storage.dag_bucket,
            dag_prefix=DAG_PREFIX,
            dag_state_key=ACTIVATION_STATE_KEY,
            active_release_parameter_name=self.active_release_parameter_name,
            watched_stack_names=[stack.stack_name for stack in self.stacks],
            log_retention=log_retention,
            delivery_pipeline_name=delivery_pipeline_name,
            bake_minutes=env_config.approval.bake_minutes if env_config.approval.auto_rollback else None,
            reserve_concurrency=env_config.functions.concurrency_quota is not None,
        )
        self.release_health_alarm_name = self.monitoring.release_health_alarm_name
        self.release_bake_alarm_name = self.monitoring.release_bake_alarm_name
        self.integration_outputs["CANARY_FUNCTIONS"] = self.monitoring.canary_functions_output
        self.delivery_access: DeliveryAccessStack | None = None
        self._integration_test_role_arn: str | None = None
        if has_delivery_access(env_config):
            self.delivery_access = DeliveryAccessStack(
                self,
                "DeliveryAccess",
                description="The role the delivery pipeline's staging integration tests and canary runs assume",
                environment_name=env_config.name,
                delivery_account=delivery_account,
                raw_bucket=self.storage.raw_bucket,
                release_bucket=self.storage.release_bucket,
                data_key=self.storage.data_key,
                active_release_parameter_name=self.active_release_parameter_name,
                secret_names=(
                    env_config.snowflake.private_key_secret_name,
                    env_config.streaming.bootstrap_servers_secret_name,
                ),
                canary_function_arns=[fn.function_arn for _, fn in sorted(self.monitoring.canaries.functions.items())],
            )
            self._integration_test_role_arn = role_arn(env_config.account, integration_test_role_name(env_config.name))

    @property
    def release_health_reader_role_arn(self) -> str:
        """The bake rule's role into this environment: a plain string, created by its PipelineAccess stack."""
        if self._release_health_reader_role_arn is None:
            raise ValueError(
                f"stacks/data_platform_stage.py: {self.environment_name} was built without "
                "release_health_reader_role_arn (rule: the pipeline names only roles a stack deployed before it "
                "creates); pass the PipelineAccess stack's release_health_reader_role_arn (app.py)"
            )
        return self._release_health_reader_role_arn

    @property
    def integration_test_role_arn(self) -> str:
        if self._integration_test_role_arn is None:
            raise ValueError(
                f"stacks/data_platform_stage.py: {self.environment_name} has no DeliveryAccess role (rule: an "
                "environment holding production data is never reachable from the delivery account); run "
                "integration tests and canary post-steps against staging instead"
            )
        return self._integration_test_role_arn

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [child for child in self.node.children if isinstance(child, cdk.Stack)]

    @property
    def platform_stacks(self) -> list[cdk.Stack]:
        """The slow, stateful lane: the stacks whose change sets deserve a human look before prod."""
        return [self.storage, self.compute, self.orchestration]
