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
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct
from constructs.approver_access import ApproverAccess
from constructs.delivery_notifications import DeliveryNotifications
from constructs.gate_build_spec import GATE_JUNIT, TOOLCHAIN_CACHE_PATHS, gate_build_environment
from constructs.lambda_invoke_step import LambdaInvokeStep
from constructs.pull_request_validation import PullRequestValidation
from constructs.secure_bucket import AccessLogBucket, SecureBucket
from constructs.stage_conditions import add_rollback_conditions, stage_index
from constructs.suppressions import (
    KMS_GRANT_ACTIONS,
    S3_READ_ACTIONS,
    S3_WRITE_ACTIONS,
    checkov_skip,
    nag_suppress,
    suppress_lambda,
)

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
    platform_stacks: Sequence[cdk.Stack]


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
        approval_guard: lambda_.IFunction,
        evidence_bucket: s3.IBucket,
        evidence_key: kms.IKey,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self._pipeline_name = delivery.pipeline_name
        self._approval_guard = approval_guard
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
                    # RELEASE_ID is exported through self.synth.exported_variable() below.
                    "env": {"variables": {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CI": "true"}},
                    "phases": {
                        "install": {"runtime-versions": {"python": "3.11", "nodejs": "20", "java": "corretto17"}},
                        "post_build": {
                            "commands": [
                                # Evidence of every build, passed or failed, goes to the ledger.
                                "make audit-evidence",
                                'export RELEASE_ID="$(cat build/cdk.out/evidence/release-id)"',
                            ]
                        },
                    },
                    "reports": {"ValidationGate": {"files": [GATE_JUNIT], "file-format": "JUNITXML"}},
                    "cache": {"paths": TOOLCHAIN_CACHE_PATHS},
                }
            ),
            cache=codebuild.Cache.bucket(cache, prefix="validate"),
            timeout=cdk.Duration.minutes(30),
            env={
                "EVIDENCE_BUCKET": evidence_bucket.bucket_name,
                "PIPELINE_NAME": delivery.pipeline_name,
                "PIPELINE_EXECUTION_ID": "#{codepipeline.PipelineExecutionId}",
            },
            role_policy_statements=[
                # Write-only into incoming/: the build can add evidence, never read, change or delete it.
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[evidence_bucket.arn_for_objects("incoming/*")]
                ),
                iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[evidence_key.key_arn]),
            ],
        )
        # Asking for the variable gives the Validate action a variables namespace, so RELEASE_ID appears
        # in its output variables (ListActionExecutions), where the rollback command finds releases.
        self.release_id_variable = self.synth.exported_variable("RELEASE_ID")
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
        # Separation of duties: fails the stage when the approver wrote the change or is no approver.
        guard = LambdaInvokeStep(
            "SeparationOfDuties",
            function=self._approval_guard,
            user_parameters={
                "approval_stage": stage.stage_name,
                "approval_action": APPROVAL_ACTION,
                "pipeline_name": self._pipeline_name,
                "execution_id": "#{codepipeline.PipelineExecutionId}",
            },
        )
        guard.add_step_dependency(approval)
        return [broadening, approval, guard]

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
            for stack in stage.platform_stacks
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
        """Findings on what CDK Pipelines generates, each on its narrowest construct with its reason."""
        generated = self.pipeline.node
        artifacts = self.pipeline.pipeline.artifact_bucket.node.default_child
        assert isinstance(artifacts, cdk.CfnResource)
        for rule, reason in {
            "NIST.800.53.R5-S3BucketLoggingEnabled": "access to build artifacts is recorded by CloudTrail data "
            "events of the delivery account's trail; the bucket is CDK Pipelines' own",
            "NIST.800.53.R5-S3BucketVersioningEnabled": "artifacts are immutable per execution (new keys per run); "
            "the release itself is kept, versioned, in each environment's release bucket",
            "NIST.800.53.R5-S3BucketReplicationEnabled": "transient build artifacts; single-region delivery account",
        }.items():
            nag_suppress(artifacts, rule, reason)
        checkov_skip(
            artifacts,
            [
                ("CKV_AWS_18", "CDK Pipelines' artifact bucket; access is in the CloudTrail data events"),
                ("CKV_AWS_21", "artifacts are written once per execution under new keys"),
            ],
        )
        generated_roles = {
            "Assets": "publishes this app's file assets to the target accounts' bootstrap buckets through the "
            "cdk-*-file-publishing roles; CDK Pipelines scopes it to its artifact bucket and build logs",
            "UpdatePipeline": "self-mutation runs `cdk deploy` of this stack, assuming only the cdk-* bootstrap roles",
            "PipelinesSecurityCheck": "CDK Pipelines' permission-broadening check: reads the artifact bucket and "
            "approves only its own Confirm action (narrowed in _confine_auto_approval)",
        }
        for child_id, reason in generated_roles.items():
            child = generated.try_find_child(child_id)
            if child is None:
                continue
            for rule in ("AwsSolutions-IAM5", "AwsSolutions-IAM4", "NIST.800.53.R5-IAMNoInlinePolicy"):
                nag_suppress(child, rule, f"Generated by CDK Pipelines: {reason}.", children=True)
            for resource in child.node.find_all():
                if isinstance(resource, lambda_.CfnFunction):
                    suppress_lambda(
                        resource,
                        concurrency_reason="invoked once per prod promotion by CodePipeline; no burst to bound",
                    )
        # Inline default policies come from grants on each CodeBuild/CodePipeline role.
        for resource in self.node.find_all():
            if isinstance(resource, iam.CfnPolicy) and "IntegrationTests/PolicyDocument" in resource.node.path:
                checkov_skip(
                    resource,
                    [
                        (
                            "CKV_AWS_111",
                            "CodeBuild in a VPC must create and delete its own network interfaces; "
                            "EC2 does not support resource-level constraints for CreateNetworkInterface/Describe*.",
                        )
                    ],
                )
            if isinstance(resource, iam.CfnPolicy) and "/Assets/FileRole/" in resource.node.path:
                checkov_skip(
                    resource,
                    [
                        (
                            "CKV_AWS_111",
                            "Generated by CDK Pipelines: asset publishing writes only through the target "
                            "accounts' cdk-*-file-publishing roles and its own build logs.",
                        )
                    ],
                )
            if isinstance(resource, iam.CfnPolicy):
                nag_suppress(
                    resource,
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "Default policy generated from CDK grants, scoped to this role's own resources.",
                )
        # Roles of the pipeline itself and of every CodeBuild action: grants on the artifact bucket, the
        # build key, the toolchain cache and the evidence inbox; CodeBuild's own log/report groups; VPC ENIs.
        nag_suppress(
            self.pipeline.pipeline,
            "AwsSolutions-IAM5",
            "CDK grant action groups on the pipeline's artifact bucket and key, the toolchain cache, the evidence "
            "bucket's write-only incoming/ prefix, each project's own log and report groups, the approval guard "
            "function's versions, and the network interfaces of the in-VPC integration-test build.",
            applies_to=[
                *S3_READ_ACTIONS,
                *S3_WRITE_ACTIONS,
                *KMS_GRANT_ACTIONS,
                {"regex": "/^Resource::<PipelineArtifactsBucket[A-F0-9]+\\.Arn>\\/\\*$/g"},
                {"regex": "/^Resource::<ToolchainCacheBucket[A-F0-9]+\\.Arn>\\/\\*$/g"},
                {"regex": "/^Resource::<EvidenceBucket\\.Arn>\\/incoming\\/\\*$/g"},
                {"regex": "/^Resource::<EvidenceApprovalGuard[A-F0-9]+\\.Arn>:\\*$/g"},
                {
                    "regex": "/^Resource::arn:<AWS::Partition>:logs:[a-z0-9-]+:\\d{12}:log-group:"
                    "\\/aws\\/codebuild\\/.*$/g"
                },
                {"regex": "/^Resource::arn:<AWS::Partition>:codebuild:[a-z0-9-]+:\\d{12}:report-group\\/.*$/g"},
                "Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*",
                "Resource::*",
            ],
            children=True,
        )
        nag_suppress(
            artifacts,
            "AwsSolutions-S1",
            "CDK Pipelines' artifact bucket; access is recorded by the delivery account's CloudTrail.",
        )
        nag_suppress(
            self.pull_requests,
            "AwsSolutions-IAM5",
            "CodeBuild's own log-group/report-group wildcards and grants on the toolchain cache bucket and build key.",
            children=True,
        )
