"""The delivery pipeline: commit → gate + release build → dev → staging → approval → prod.

CDK Pipelines (V2, QUEUED, cross-account keys with rotation, self-mutating). What CDK Pipelines
cannot express — stage rollback on failure, the alarm-watching bake, the approval's notification —
is added with escape hatches after build_pipeline(), in constructs/stage_conditions.py and here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import pipelines
from cdk_nag import NagSuppressions
from constructs import Construct
from constructs.approver_access import ApproverAccess
from constructs.delivery_notifications import DeliveryNotifications
from constructs.gate_build_spec import GATE_JUNIT, TOOLCHAIN_CACHE_PATHS, gate_build_environment
from constructs.pull_request_validation import PullRequestValidation
from constructs.secure_bucket import AccessLogBucket, SecureBucket
from constructs.stage_conditions import add_rollback_conditions, stage_index

from config import DeliveryConfig, EnvironmentConfig

# The README's main command: the gate and the release build. The pipeline runs nothing else.
MAIN_COMMAND = "make validate"
APPROVAL_ACTION = "PromoteToProd"


class PlatformStage(Protocol):
    """What the pipeline needs from an environment's Stage (stacks/data_platform_stage.py)."""

    @property
    def stage_name(self) -> str: ...

    release_health_alarm_name: str
    release_health_reader_role_arn: str
    integration_test_role_arn: str
    integration_outputs: Mapping[str, cdk.CfnOutput]
    reviewed_stacks: Sequence[cdk.Stack]


StageFactory = Callable[[Construct, EnvironmentConfig], Any]


class DeliveryPipelineStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        delivery: DeliveryConfig,
        environments: Sequence[EnvironmentConfig],
        stage_factory: StageFactory,
        cdk_cli_version: str,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self._pipeline_name = delivery.pipeline_name
        key = kms.Key(self, "BuildKey", enable_key_rotation=True, description="Encrypts build logs and caches")
        access_logs = AccessLogBucket(self, "AccessLogs", removal_policy=cdk.RemovalPolicy.RETAIN, retention_days=90)
        cache = SecureBucket(
            self,
            "ToolchainCache",
            encryption_key=key,
            access_log_bucket=access_logs.bucket,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            noncurrent_version_days=1,
        ).bucket

        self.source = source = pipelines.CodePipelineSource.connection(
            delivery.repository,
            delivery.branch,
            connection_arn=delivery.connection_arn,
            code_build_clone_output=True,  # a git checkout, so the release records its commit
        )
        self.synth = pipelines.CodeBuildStep(
            "Validate",
            input=source,
            commands=[MAIN_COMMAND],
            primary_output_directory="build/cdk.out",
            build_environment=gate_build_environment(),
            partial_build_spec=codebuild.BuildSpec.from_object(
                {
                    "env": {
                        "variables": {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CI": "true"},
                        # The rollback command finds the execution that deployed a release by this variable.
                        "exported-variables": ["RELEASE_ID"],
                    },
                    "phases": {
                        "install": {"runtime-versions": {"python": "3.11", "nodejs": "20", "java": "corretto17"}},
                        "post_build": {"commands": ['export RELEASE_ID="$(cat build/cdk.out/evidence/release-id)"']},
                    },
                    "reports": {"ValidationGate": {"files": [GATE_JUNIT], "file-format": "JUNITXML"}},
                    "cache": {"paths": TOOLCHAIN_CACHE_PATHS},
                }
            ),
            cache=codebuild.Cache.bucket(cache, prefix="validate"),
            timeout=cdk.Duration.minutes(30),
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=self.synth,
            pipeline_name=delivery.pipeline_name,
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            cross_account_keys=True,
            enable_key_rotation=True,
            self_mutation=True,
            cli_version=cdk_cli_version,
            publish_assets_in_parallel=False,  # one asset job: fewer CodeBuild projects to secure and pay for
            code_build_defaults=pipelines.CodeBuildOptions(
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(
                        log_group=logs.LogGroup(self, "BuildLogs", encryption_key=key, retention=log_retention)
                    )
                )
            ),
        )

        integration_vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "IntegrationVpc",
            vpc_id=delivery.integration_network.vpc_id,
            availability_zones=list(delivery.integration_network.availability_zones),
            private_subnet_ids=list(delivery.integration_network.subnet_ids),
        )
        self.stages: dict[str, PlatformStage] = {}
        for env in environments:
            stage: PlatformStage = stage_factory(self, env)
            self.stages[env.name] = stage
            self.pipeline.add_stage(
                stage,  # type: ignore[arg-type]
                pre=self._pre_steps(env, stage),
                post=self._post_steps(env, stage, integration_vpc),
                stack_steps=self._change_set_reviews(env, stage),
            )

        self.pipeline.build_pipeline()
        base = self.pipeline.pipeline
        self.notifications = DeliveryNotifications(
            self, "Notifications", emails=delivery.notification_emails, pipeline=base
        )
        for env in environments:
            stage = self.stages[env.name]
            if env.approval.auto_rollback:
                add_rollback_conditions(
                    base,
                    stage_name=stage.stage_name,
                    alarm_name=stage.release_health_alarm_name,
                    bake_minutes=env.approval.bake_minutes,
                    alarm_reader_role_arn=stage.release_health_reader_role_arn,
                )
            if env.approval.required:
                assert env.approval.approvers_role_arn is not None  # the config model guarantees it
                self._notify_approval(base, stage.stage_name, delivery.pipeline_name)
                ApproverAccess(
                    self,
                    f"{stage.stage_name}Approvers",
                    approvers_role_arn=env.approval.approvers_role_arn,
                    pipeline_arn=self._pipeline_arn,
                    approval_actions=[(stage.stage_name, APPROVAL_ACTION)],
                )
        self.pull_requests = PullRequestValidation(
            self,
            "PullRequestValidation",
            repository=delivery.repository,
            connection_arn=delivery.connection_arn,
            cache_bucket=cache,
            encryption_key=key,
            log_retention=log_retention,
        )
        self._confine_auto_approval(
            base, [s.stage_name for e, s in zip(environments, self.stages.values(), strict=True) if e.approval.required]
        )
        cdk.CfnOutput(self, "PipelineName", value=base.pipeline_name)
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.notifications.topic.topic_arn)
        self._suppress_generated_findings()

    def _pre_steps(self, env: EnvironmentConfig, stage: PlatformStage) -> list[pipelines.Step]:
        if not env.approval.required:
            return []
        # IAM or security-group widening needs its own explicit confirmation, before the approval.
        broadening = pipelines.ConfirmPermissionsBroadening("ConfirmPermissionsBroadening", stage=stage)  # type: ignore[arg-type]
        approval = pipelines.ManualApprovalStep(
            APPROVAL_ACTION,
            comment=(
                f"Promote to {env.name}: review the release (RELEASE_ID of the Validate action), the diff of "
                "the source revision and the staging results (integration tests, canaries) before approving. "
                "The approver must not be the commit's author."
            ),
        )
        approval.add_step_dependency(broadening)
        return [broadening, approval]

    def _post_steps(self, env: EnvironmentConfig, stage: PlatformStage, vpc: ec2.IVpc) -> list[pipelines.Step]:
        if env.name != "staging":
            return []
        assume_target_role = iam.PolicyStatement(
            actions=["sts:AssumeRole"], resources=[stage.integration_test_role_arn]
        )
        common: dict[str, Any] = {
            "input": self.source,  # the steps run make targets from the same commit
            "build_environment": gate_build_environment(),
            "env_from_cfn_outputs": dict(stage.integration_outputs),
            "env": {"TARGET_ENV": env.name, "TARGET_ROLE_ARN": stage.integration_test_role_arn},
            "role_policy_statements": [assume_target_role],
            "timeout": cdk.Duration.minutes(20),
        }
        integration = pipelines.CodeBuildStep(
            "IntegrationTests",
            commands=["make integration-test"],
            vpc=vpc,
            subnet_selection=ec2.SubnetSelection(subnets=vpc.private_subnets),
            **common,
        )
        canaries = pipelines.CodeBuildStep("PostReleaseCanaries", commands=["make canaries"], **common)
        canaries.add_step_dependency(integration)
        return [integration, canaries]

    def _change_set_reviews(self, env: EnvironmentConfig, stage: PlatformStage) -> list[pipelines.StackSteps]:
        if not env.approval.required:
            return []
        lookup_role = f"arn:aws:iam::{env.account}:role/cdk-{self._qualifier}-lookup-role-{env.account}-{env.region}"
        return [
            pipelines.StackSteps(
                stack=stack,
                change_set=[
                    pipelines.CodeBuildStep(
                        f"ReviewChangeSet{stack.node.id}",
                        input=self.source,
                        commands=[
                            f"make changeset-review STACK={stack.stack_name} ROLE_ARN={lookup_role} REGION={env.region}"
                        ],
                        build_environment=gate_build_environment(),
                        role_policy_statements=[
                            iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[lookup_role])
                        ],
                    )
                ],
            )
            for stack in stage.reviewed_stacks
        ]

    @property
    def _pipeline_arn(self) -> str:
        return f"arn:{self.partition}:codepipeline:{self.region}:{self.account}:{self._pipeline_name}"

    @property
    def _qualifier(self) -> str:
        return str(self.node.try_get_context("@aws-cdk/core:bootstrapQualifier") or "hnb659fds")

    def _notify_approval(self, pipeline: codepipeline.Pipeline, stage_name: str, pipeline_name: str) -> None:
        """ManualApprovalStep has no notification property; set it on the generated action."""
        cfn = pipeline.node.default_child
        assert isinstance(cfn, codepipeline.CfnPipeline)
        index = stage_index(pipeline, stage_name)
        actions = [action.action_properties.action_name for action in pipeline.stages[index].actions]
        action_index = actions.index(APPROVAL_ACTION)
        prefix = f"Stages.{index}.Actions.{action_index}.Configuration"
        cfn.add_property_override(f"{prefix}.NotificationArn", self.notifications.topic.topic_arn)
        cfn.add_property_override(
            f"{prefix}.ExternalEntityLink",
            # The execution view shows the Validate action's RELEASE_ID, the source diff and staging results.
            f"https://{self.region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline_name}/view",
        )
        self.notifications.topic.grant_publish(pipeline.role)

    def _confine_auto_approval(self, pipeline: codepipeline.Pipeline, stage_names: Sequence[str]) -> None:
        """ConfirmPermissionsBroadening's Lambda may approve any approval action of a tagged pipeline.

        Narrow it to its own Confirm action, so the promotion approval stays with the approvers role.
        """
        for child in self.node.find_all():
            if not isinstance(child, iam.CfnPolicy) or "PipelinesSecurityCheck" not in child.node.path:
                continue
            document = self.resolve(child.policy_document)
            for i, statement in enumerate(document["Statement"]):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "codepipeline:PutApprovalResult" in actions:
                    child.add_property_override(
                        f"PolicyDocument.Statement.{i}.Resource",
                        # Built from the fixed name: a Ref to the pipeline here would be a dependency cycle.
                        [f"{self._pipeline_arn}/{name}/ConfirmPermissionsBroadening.Confirm" for name in stage_names],
                    )

    def _suppress_generated_findings(self) -> None:
        """Findings on resources CDK Pipelines generates, each with the reason it is acceptable."""
        NagSuppressions.add_resource_suppressions(
            self.pipeline.pipeline,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "CDK Pipelines grants its roles wildcard object access within its own artifact bucket "
                    "and the cross-account bootstrap roles (cdk-*-deploy/file-publishing); scoped by the generator.",
                },
                {
                    "id": "AwsSolutions-S1",
                    "reason": "Artifact bucket generated by CDK Pipelines; its contents are "
                    "build outputs also recorded in the evidence ledger.",
                },
            ],
            apply_to_children=True,
        )
