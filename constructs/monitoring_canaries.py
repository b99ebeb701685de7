"""The canary Lambdas (pipeline_assets/canaries) and their schedules: DAG health, freshness, data quality,
deployment metrics and drift detection. Each has its own role with exactly its reads, its own
encrypted log group, and no automatic retry (the next schedule is the retry; a retried run would
only repeat the same measurement).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct
from constructs.suppressions import checkov_skip, suppress_unreserved_concurrency

# Synth runs from the repository root (cdk.json); the package root is what Lambda puts on sys.path.
CANARY_ASSET = "pipeline_assets/canaries"
ASSET_EXCLUDE = ["__pycache__", "*.pyc"]
RESULTS_PREFIX = "dbt-results/"
NAMESPACES = ("DataPlatform/Release", "DataPlatform/Freshness", "DataPlatform/DataQuality", "DataPlatform/Drift")
# An EventBridge target's input is at most 8,192 characters; chunks stay well below with the time field.
MAX_INPUT_CHARS = 6000
# MWAA maps InvokeRestApi callers to an Airflow role by the resource ARN; Viewer can read DAGs,
# DAG runs and import errors, and can change nothing.
AIRFLOW_ROLE = "Viewer"
STACK_ARN_PATTERN = r"/^Resource::arn:<AWS::Partition>:cloudformation:[^:]+:\d{12}:stack\/[A-Za-z0-9-]+\/\*$/g"
NO_VPC = (
    "The canaries only call AWS APIs (MWAA InvokeRestApi, S3, SSM, CloudWatch, CloudFormation) over TLS with "
    "IAM; a VPC would add NAT or endpoints without protecting any data."
)


@dataclass(frozen=True)
class PipelineFreshness:
    """What the canaries need of one pipeline of the registry (see stacks/monitoring_stack.py)."""

    pipeline_id: str
    max_age_minutes: int
    source: Literal["s3", "dbt", "snowflake"]
    raw_prefix: str | None = None
    streaming: bool = False
    has_dbt: bool = False
    snowflake_table: str | None = None

    def freshness_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": self.pipeline_id, "source": self.source, "max_age_minutes": self.max_age_minutes}
        if self.raw_prefix:
            entry["prefix"] = self.raw_prefix
        if self.streaming:
            entry["streaming"] = True
        if self.snowflake_table:
            entry["table"] = self.snowflake_table
        return entry

    def quality_entry(self) -> dict[str, Any]:
        return {"id": self.pipeline_id, "max_age_minutes": self.max_age_minutes}


def chunk_entries(entries: Sequence[dict[str, Any]], limit: int = MAX_INPUT_CHARS) -> list[list[dict[str, Any]]]:
    """Split pipeline entries into EventBridge inputs that each stay under `limit` characters of JSON."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for entry in entries:
        if len(json.dumps(entry)) > limit:
            raise ValueError(f"pipeline entry {entry.get('id')} alone exceeds {limit} characters")
        if current and len(json.dumps({"pipelines": [*current, entry]})) > limit:
            chunks.append(current)
            current = []
        current.append(entry)
    if current:
        chunks.append(current)
    return chunks


class ReleaseCanaries(Construct):
    """Five functions, their schedules and a shared dead-letter queue for invocations that never ran."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        mwaa_environment_name: str,
        release_bucket: s3.IBucket,
        raw_bucket: s3.IBucket,
        dag_bucket: s3.IBucket,
        dag_prefix: str,
        dag_state_key: str,
        active_release_parameter_name: str,
        pipelines: Sequence[PipelineFreshness],
        stack_names: Sequence[str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        reserve_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self._reserve_concurrency = reserve_concurrency  # config functions.concurrency_quota is set
        self._key = key
        self._log_retention = log_retention
        self._dag_prefix = dag_prefix
        self.code = lambda_.Code.from_asset(CANARY_ASSET, exclude=ASSET_EXCLUDE)
        self.parameter_arn = stack.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=active_release_parameter_name.lstrip("/"),
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        common = {"ENVIRONMENT": environment, "ACTIVE_RELEASE_PARAMETER": active_release_parameter_name}
        freshness = [p.freshness_entry() for p in pipelines]
        quality = [p.quality_entry() for p in pipelines if p.has_dbt]
        self.freshness_chunks = chunk_entries(freshness)
        self.quality_chunks = chunk_entries(quality)
        stacks_json = json.dumps(list(stack_names))
        if len(stacks_json) > 3000:
            raise ValueError("STACK_NAMES would not fit a Lambda environment (4 KB): watch fewer stacks per function")

        self.dag_health = self._function(
            "DagHealth",
            "canary.dag_health.handler",
            "Checks that MWAA parsed the active release's DAGs without import errors and that the DAG folder holds "
            "exactly that release; counts scheduled runs",
            timeout=cdk.Duration.minutes(2),
            environment={
                **common,
                "MWAA_ENVIRONMENT_NAME": mwaa_environment_name,
                "RELEASE_BUCKET": release_bucket.bucket_name,
                "DAG_BUCKET": dag_bucket.bucket_name,
                "DAG_PREFIX": dag_prefix,
                "STATE_KEY": dag_state_key,
            },
            concurrency=1,
        )
        release_bucket.grant_read(self.dag_health, "releases/*")
        # A mixed DAG folder (an activation cut short) is seen by reading the folder and the activator's record.
        dag_bucket.grant_read(self.dag_health, f"{dag_prefix}*")
        dag_bucket.grant_read(self.dag_health, dag_state_key)
        self._allow(self.dag_health, ["ssm:GetParameter"], [self.parameter_arn])
        self._allow(
            self.dag_health,
            ["airflow:InvokeRestApi"],
            [
                stack.format_arn(
                    service="airflow", resource="role", resource_name=f"{mwaa_environment_name}/{AIRFLOW_ROLE}"
                )
            ],
        )
        self._schedule(self.dag_health, "DagHealth", cdk.Duration.minutes(5), [{}])

        self.freshness = self._function(
            "Freshness",
            "canary.freshness.handler",
            "Minutes since each pipeline's last successful load, against its freshness SLA",
            timeout=cdk.Duration.minutes(5),
            environment={
                **common,
                "RAW_BUCKET": raw_bucket.bucket_name,
                "RESULTS_BUCKET": release_bucket.bucket_name,
                "RESULTS_PREFIX": RESULTS_PREFIX,
            },
            concurrency=max(1, len(self.freshness_chunks)),
        )
        raw_bucket.grant_read(self.freshness, "landing/*")
        release_bucket.grant_read(self.freshness, f"{RESULTS_PREFIX}*")
        self._allow(self.freshness, ["ssm:GetParameterHistory"], [self.parameter_arn])
        self._schedule(
            self.freshness, "Freshness", cdk.Duration.minutes(15), [{"pipelines": c} for c in self.freshness_chunks]
        )

        self.data_quality = self._function(
            "DataQuality",
            "canary.data_quality.handler",
            "dbt test failures and key row counts of the active release against the previous release",
            timeout=cdk.Duration.minutes(5),
            environment={**common, "RESULTS_BUCKET": release_bucket.bucket_name, "RESULTS_PREFIX": RESULTS_PREFIX},
            concurrency=max(1, len(self.quality_chunks)),
        )
        release_bucket.grant_read(self.data_quality, f"{RESULTS_PREFIX}*")
        self._allow(self.data_quality, ["ssm:GetParameterHistory"], [self.parameter_arn])
        self._schedule(
            self.data_quality, "DataQuality", cdk.Duration.minutes(15), [{"pipelines": c} for c in self.quality_chunks]
        )

        stack_arns = [
            stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{name}/*")
            for name in stack_names
        ]
        self.deployments = self._function(
            "DeploymentMetrics",
            "canary.deployments.handler",
            "Deployments, rollbacks, failed deployments, lead time and change failure rate of the environment",
            timeout=cdk.Duration.minutes(2),
            environment={**common, "RELEASE_BUCKET": release_bucket.bucket_name, "STACK_NAMES": stacks_json},
            concurrency=1,
        )
        release_bucket.grant_read(self.deployments, "releases/*")
        self._allow(self.deployments, ["ssm:GetParameterHistory"], [self.parameter_arn])
        self._allow(self.deployments, ["cloudformation:DescribeStackEvents"], stack_arns)
        self._schedule(self.deployments, "DeploymentMetrics", cdk.Duration.minutes(15), [{}])

        self.drift = self._function(
            "DriftDetection",
            "canary.drift.handler",
            "CloudFormation drift detection of every stack of the environment, a metric per stack",
            timeout=cdk.Duration.minutes(10),
            environment={"ENVIRONMENT": environment, "STACK_NAMES": stacks_json},
            concurrency=1,
        )
        self._allow(
            self.drift,
            [
                "cloudformation:DetectStackDrift",
                "cloudformation:DetectStackResourceDrift",
                "cloudformation:DescribeStackResourceDrifts",
            ],
            stack_arns,
        )
        # DescribeStackDriftDetectionStatus has no resource-level permissions.
        self._allow(self.drift, ["cloudformation:DescribeStackDriftDetectionStatus"], ["*"])
        # Drift detection reads every resource of the stacks with the caller's permissions: the
        # metadata-only SecurityAudit policy covers the services those stacks use, without data access.
        assert self.drift.role is not None
        self.drift.role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name("SecurityAudit"))
        NagSuppressions.add_resource_suppressions(
            self.drift.role,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "DetectStackDrift reads each resource of the watched stacks (S3, KMS, IAM, Lambda, MWAA, "
                    "EMR Serverless, SNS, SQS, CloudWatch) with this role; SecurityAudit is AWS's metadata-only read "
                    "policy for exactly this and grants no data access.",
                    "applies_to": ["Policy::arn:<AWS::Partition>:iam::aws:policy/SecurityAudit"],
                }
            ],
        )
        self._schedule(self.drift, "DriftDetection", cdk.Duration.hours(1), [{}])

        self.functions: dict[str, lambda_.Function] = {
            "dag-health": self.dag_health,
            "freshness": self.freshness,
            "data-quality": self.data_quality,
            "deployments": self.deployments,
            "drift": self.drift,
        }
        for function in self.functions.values():
            self._allow(
                function,
                ["cloudwatch:PutMetricData"],
                ["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": list(NAMESPACES)}},
            )
            self._suppress_function(function)

    def _function(
        self,
        construct_id: str,
        handler: str,
        description: str,
        *,
        timeout: cdk.Duration,
        environment: Mapping[str, str],
        concurrency: int,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=self._log_retention,
            encryption_key=self._key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Canary {construct_id}: its reads, its log group, its metrics",
        )
        log_group.grant_write(role)
        # Lambda sends a failed run to the dead-letter queue with this role: SendMessage (added by the
        # Function) is refused by SQS unless the role may also encrypt with the queue's key.
        role.add_to_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self._key.key_arn])
        )
        function = lambda_.Function(
            self,
            construct_id,
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler=handler,
            code=self.code,
            role=role,
            timeout=timeout,
            memory_size=256,
            environment=dict(environment),
            environment_encryption=self._key,
            log_group=log_group,
            reserved_concurrent_executions=concurrency if self._reserve_concurrency else None,
            dead_letter_queue=self.dead_letters,
            retry_attempts=0,
        )
        if not self._reserve_concurrency:
            suppress_unreserved_concurrency(function)
        return function

    def _allow(
        self,
        function: lambda_.Function,
        actions: Sequence[str],
        resources: Sequence[str],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(actions), resources=list(resources), conditions=dict(conditions or {}) or None
            )
        )

    def _schedule(
        self, function: lambda_.Function, construct_id: str, every: cdk.Duration, inputs: Sequence[dict[str, Any]]
    ) -> None:
        for index, payload in enumerate(inputs):
            events.Rule(
                self,
                f"{construct_id}Schedule{index}" if len(inputs) > 1 else f"{construct_id}Schedule",
                description=f"Runs the {construct_id} canary every {every.to_human_string()}",
                schedule=events.Schedule.rate(every),
                targets=[
                    targets.LambdaFunction(
                        function,
                        # The scheduled time rides along: a re-delivered event measures the same window.
                        event=events.RuleTargetInput.from_object({"time": events.EventField.time, **payload}),
                        retry_attempts=2,
                        max_event_age=cdk.Duration.minutes(10),
                    )
                ],
            )

    def _suppress_function(self, function: lambda_.Function) -> None:
        read_prefixes = f"releases|landing|dbt-results|{re.escape(self._dag_prefix.rstrip('/'))}"
        assert function.role is not None
        resource = function.node.default_child
        assert isinstance(resource, cdk.CfnResource)
        checkov_skip(resource, [("CKV_AWS_117", NO_VPC)])  # merges with the concurrency skip, if any
        NagSuppressions.add_resource_suppressions(
            function,
            [
                {
                    "id": "AwsSolutions-L1",
                    "reason": "The canaries run on Python 3.12, the runtime the platform standardised for them; the "
                    "package is standard library and boto3 only, so a runtime bump is a one-line change here.",
                },
                {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": NO_VPC},
            ],
        )
        NagSuppressions.add_resource_suppressions(
            function.role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "cloudwatch:PutMetricData and cloudformation:DescribeStackDriftDetectionStatus have no "
                    "resource-level permissions; PutMetricData is limited to the platform's namespaces by the "
                    "cloudwatch:namespace condition.",
                    "applies_to": ["Resource::*"],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "aws-cdk-lib grantRead on the prefixes this canary reads (releases/, landing/, "
                    "dbt-results/ or the DAG folder); keys below them are release ids, pipeline ids, dates and DAG "
                    "files not known at deploy time.",
                    "applies_to": [
                        "Action::s3:GetObject*",
                        "Action::s3:GetBucket*",
                        "Action::s3:List*",
                        {"regex": rf"/^Resource::.*\/({read_prefixes})\/\*$/g"},
                    ],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "A stack's ARN ends in a generated id (stack/<name>/<uuid>); the name is fixed, the id "
                    "changes if the stack is ever recreated.",
                    "applies_to": [{"regex": STACK_ARN_PATTERN}],
                },
                {
                    "id": "NIST.800.53.R5-IAMNoInlinePolicy",
                    "reason": "aws-cdk-lib grants put this canary's least-privilege statements in its own role's "
                    "DefaultPolicy, attached to nothing else; a managed policy would be the same document twice.",
                },
            ],
            apply_to_children=True,
        )
