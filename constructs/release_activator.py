"""The custom resource that activates a release: Lambda in pipeline_assets/activator, CDK Provider."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct
from constructs.suppressions import (
    BASIC_EXECUTION_ROLE,
    KMS_GRANT_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    arn_token,
    nag_suppress,
    suppress_grants,
    suppress_inline_policy,
    suppress_lambda,
    suppress_unreserved_concurrency,
)

ACTIVATOR_SOURCE = Path(__file__).resolve().parents[1] / "pipeline_assets" / "activator"
# Only the handler ships: tests' bytecode and the benchmark would change the asset hash for nothing.
ASSET_EXCLUDE = ["__pycache__", "*.pyc", "bench.py"]
STATE_KEY = "active-release.json"


class ReleaseActivator(Construct):
    """Activates `release_id`: mirrors releases/<id>/dags/ into `dag_prefix`, records the active release.

    CloudFormation drives it: a property change (a new release id) activates, a stack rollback sends
    the old properties and re-activates the previous release, and Delete leaves the DAG folder alone.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        release_id: str,
        release_bucket: s3.IBucket,
        dag_bucket: s3.IBucket,
        dag_prefix: str,
        parameter_name: str,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        reserve_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=log_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Its own role, without the AWS-managed basic execution policy: logs go to one log group only.
        self.role = iam.Role(
            self,
            "Role",
            description="Release activator: read releases/, mirror into the DAG prefix, write the active release",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Activates a data platform release in the MWAA DAG folder",
            runtime=lambda_.Runtime.PYTHON_3_14,
            role=self.role,
            handler="handler.on_event",
            code=lambda_.Code.from_asset(str(ACTIVATOR_SOURCE), exclude=ASSET_EXCLUDE),
            timeout=cdk.Duration.minutes(5),
            memory_size=512,
            # Two activations at once could interleave copies; CloudFormation already serializes
            # updates of one stack, and a reservation of 1 makes it true for manual invocations too
            # (where the account's config reserves concurrency; else only break-glass use could overlap).
            reserved_concurrent_executions=1 if reserve_concurrency else None,
            log_group=self.log_group,
        )
        if not reserve_concurrency:
            suppress_unreserved_concurrency(self.function)
        release_bucket.grant_read(self.function, "releases/*")
        dag_bucket.grant_read_write(self.function, f"{dag_prefix}*")
        dag_bucket.grant_read_write(self.function, STATE_KEY)
        # DeleteObject for files a release drops; DeleteObjectVersion (and ListBucketVersions, in the
        # read grant) to undo a failed activation.
        dag_bucket.grant_delete(self.function, f"{dag_prefix}*")
        dag_bucket.grant_delete(self.function, STATE_KEY)
        self.parameter_arn = stack.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=parameter_name.lstrip("/"),
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        # DeleteParameter only to undo a first activation whose PutParameter landed unseen.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"], resources=[self.parameter_arn]
            )
        )

        self.provider_log_group = logs.LogGroup(
            self,
            "ProviderLogs",
            retention=log_retention,
            encryption_key=log_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=self.provider_log_group,
            provider_function_env_encryption=log_key,
        )
        self.resource = cdk.CustomResource(
            self,
            "Activation",
            service_token=self.provider.service_token,
            resource_type="Custom::ReleaseActivation",
            properties={
                "ReleaseBucket": release_bucket.bucket_name,
                "ReleaseId": release_id,
                "DagBucket": dag_bucket.bucket_name,
                "DagPrefix": dag_prefix,
                "ParameterName": parameter_name,
                "StateKey": STATE_KEY,
            },
        )
        self._suppress(release_bucket, dag_bucket, dag_prefix)
        self.activated_release_id = self.resource.get_att_string("ReleaseId")
        self.previous_release_id = self.resource.get_att_string("PreviousReleaseId")

    def _suppress(self, release_bucket: s3.IBucket, dag_bucket: s3.IBucket, dag_prefix: str) -> None:
        suppress_grants(
            self.role,
            what="read of releases/* in the release bucket; write and delete of the DAG prefix and the state file",
            actions=(*S3_READ_ACTIONS, *S3_WRITE_ACTIONS, *KMS_GRANT_ACTIONS),
            resources=(
                f"Resource::{arn_token(release_bucket)}/releases/*",
                f"Resource::{arn_token(dag_bucket)}/{dag_prefix}*",
                f"Resource::{arn_token(self.log_group)}:*",
            ),
        )
        suppress_inline_policy(self.role, "The activator's own role; its grants are specific to this function.")
        suppress_lambda(self.function)

        framework = self.provider.node.find_child("framework-onEvent")
        nag_suppress(
            framework,
            "AwsSolutions-IAM4",
            "aws-cdk-lib's custom-resource provider framework role; the managed policy only allows log writes.",
            applies_to=[BASIC_EXECUTION_ROLE],
            children=True,
        )
        nag_suppress(
            framework,
            "AwsSolutions-IAM5",
            "The provider framework may invoke any version of the activator function, and only that function.",
            applies_to=[f"Resource::{arn_token(self.function)}:*"],
            children=True,
        )
        suppress_inline_policy(framework, "aws-cdk-lib's provider framework role holds only lambda:InvokeFunction.")
        suppress_lambda(
            framework,
            concurrency_reason="Called by CloudFormation once per activation of this stack.",
            env_reason="The only environment variable is the activator function's ARN; no secrets.",
        )
