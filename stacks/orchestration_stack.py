"""Platform lane: the MWAA environment, its pinned requirements and startup script, its grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from constructs.airflow_environment import AirflowEnvironment
from constructs.emr_serverless import SparkApplication
from constructs.package_upload import PluginsUpload
from constructs.suppressions import S3_WRITE_ACTIONS, arn_token, suppress_grants
from constructs.versioned_object import VersionedObject

from stacks.network import import_vpc

MWAA_FILES = Path(__file__).resolve().parents[1] / "pipeline_assets" / "mwaa"
DAG_PREFIX = "dags/"
REQUIREMENTS_KEY = "requirements/requirements.txt"
STARTUP_SCRIPT_KEY = "startup/startup.sh"
PLUGINS_KEY = "plugins/plugins.zip"


class OrchestrationStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc_id: str,
        availability_zones: Sequence[str],
        subnet_ids: Sequence[str],
        airflow_version: str,
        environment_class: str,
        min_workers: int,
        max_workers: int,
        max_webservers: int,
        schedulers: int,
        dag_bucket: s3.IBucket,
        release_bucket: s3.IBucket,
        raw_bucket: s3.IBucket,
        checkpoint_bucket: s3.IBucket,
        data_key: kms.IKey,
        spark_applications: Sequence[SparkApplication],
        spark_job_role: iam.IRole,
        active_release_parameter_name: str,
        secret_names: Sequence[str],
        platform_options: Mapping[str, str],
        log_retention: logs.RetentionDays,
        plugins_zip: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = import_vpc(self, vpc_id=vpc_id, availability_zones=availability_zones)
        upload_logs = logs.LogGroup(
            self,
            "MwaaFileUploadLogs",
            retention=log_retention,
            encryption_key=data_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        requirements = VersionedObject(
            self,
            "Requirements",
            bucket=dag_bucket,
            key=REQUIREMENTS_KEY,
            body=(MWAA_FILES / "requirements.txt").read_text(),
            log_group=upload_logs,
        )
        startup = VersionedObject(
            self,
            "StartupScript",
            bucket=dag_bucket,
            key=STARTUP_SCRIPT_KEY,
            body=(MWAA_FILES / "startup.sh").read_text(),
            content_type="text/x-sh",
            log_group=upload_logs,
        )
        # The wheels and constraints requirements.txt installs from (no internet in the private subnets).
        plugins = (
            PluginsUpload(
                self, "Plugins", plugins_zip=plugins_zip, bucket=dag_bucket, key=PLUGINS_KEY, log_group=upload_logs
            )
            if plugins_zip
            else None
        )
        self.airflow = AirflowEnvironment(
            self,
            "Airflow",
            airflow_version=airflow_version,
            environment_class=environment_class,
            min_workers=min_workers,
            max_workers=max_workers,
            max_webservers=max_webservers,
            schedulers=schedulers,
            vpc=vpc,
            subnet_ids=subnet_ids,
            source_bucket=dag_bucket,
            dag_prefix=DAG_PREFIX,
            requirements=(REQUIREMENTS_KEY, requirements.version_id),
            startup_script=(STARTUP_SCRIPT_KEY, startup.version_id),
            kms_key=data_key,
            configuration=platform_options,
            plugins=(PLUGINS_KEY, plugins.version_id) if plugins else None,
        )
        # Replacing the environment would take 30+ minutes and drop its metadata database (run history).
        self.airflow.environment.override_logical_id("AirflowEnvironment")
        role = self.airflow.role
        # What the DAGs do at run time, and nothing more: start and watch Spark jobs as the job role,
        # read the active release id and its artifacts, look at raw landing, read their secrets.
        for application in spark_applications:
            application.grant_run_jobs(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[spark_job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}},
            )
        )
        release_bucket.grant_read(role, "releases/*")
        # DAG runs leave their dbt results for the data-quality canary, and the data-service publisher
        # keeps its publish markers; neither may touch a release.
        release_bucket.grant_put(role, "dbt-results/*")
        release_bucket.grant_read_write(role, "dataservices-state/*")
        raw_bucket.grant_read(role)
        # The streaming supervisor (pipeline_assets/streaming_control) snapshots and restores the job's
        # checkpoint and, on a failed redeploy, removes the sink batches written after the snapshot.
        checkpoint_bucket.grant_read_write(role)
        raw_bucket.grant_delete(role, "landing/*")
        raw_bucket.grant_delete(role, "quarantine/*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    self.format_arn(
                        service="ssm",
                        resource="parameter",
                        resource_name=active_release_parameter_name.lstrip("/"),
                        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
                    )
                ],
            )
        )
        for index, name in enumerate(secret_names):
            secretsmanager.Secret.from_secret_name_v2(self, f"Secret{index}", name).grant_read(role)

        suppress_grants(
            role,
            what="read of releases/* and of raw landing (sensors, freshness), writes of dbt-results/* and "
            "dataservices-state/*, and the job runs of our own EMR Serverless applications",
            actions=S3_WRITE_ACTIONS,
            resources=(
                f"Resource::{arn_token(release_bucket)}/releases/*",
                f"Resource::{arn_token(release_bucket)}/dbt-results/*",
                f"Resource::{arn_token(release_bucket)}/dataservices-state/*",
                f"Resource::{arn_token(checkpoint_bucket)}/*",
                f"Resource::{arn_token(raw_bucket)}/landing/*",
                f"Resource::{arn_token(raw_bucket)}/quarantine/*",
                f"Resource::{arn_token(raw_bucket)}/*",
                *(f"Resource::{arn_token(app.application)}/jobruns/*" for app in spark_applications),
            ),
        )

        self.environment_name = self.airflow.name
        self.outputs = {
            "AirflowEnvironmentName": cdk.CfnOutput(self, "AirflowEnvironmentName", value=self.airflow.name),
            "AirflowWebserverUrl": cdk.CfnOutput(
                self, "AirflowWebserverUrl", value=self.airflow.environment.attr_webserver_url
            ),
        }
