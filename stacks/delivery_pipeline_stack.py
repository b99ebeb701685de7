"""The delivery pipeline: commit → gate + release build → dev → staging → approval → prod.

Stages: Source, ChangeEvidence (trusted: who made the change, before any of its code runs), Build
(Validate, then the deployed trust-boundary check), ApproveTrustBoundary (skipped unless the build moves
the trust boundary), UpdatePipeline, Assets, Dev, Staging, ApproveProd, Prod (platform lane),
ProdRelease (release lane).

CDK Pipelines (V2, QUEUED, cross-account keys with rotation, self-mutating). What CDK Pipelines
cannot express — stage conditions, the release lane's own stage, the trust-boundary gate — is added
after build_pipeline() through constructs/stage_conditions.py and constructs/trust_boundary.py.
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
from constructs import Construct, integration_toolchain, trust_boundary
from constructs.approval_step import NotifyingApprovalStep
from constructs.approver_access import ApproverAccess
from constructs.change_evidence import ChangeEvidence, add_change_evidence_stage
from constructs.delivery_notifications import DeliveryNotifications
from constructs.gate_build_spec import (
    MAIN_COMMAND,
    STAGE_PACKAGES_COMMAND,
    gate_build_environment,
    validate_build_spec_object,
)
from constructs.generated_pipeline import (
    allow_both_connection_namespaces,
    confine_auto_approval,
    suppress_generated_findings,
)
from constructs.lambda_invoke_step import LambdaInvokeStep
from constructs.pull_request_validation import PullRequestValidation
from constructs.secure_bucket import AccessLogBucket, SecureBucket
from constructs.stage_conditions import StageLayout, skip_unless_condition

from config import DeliveryConfig, EnvironmentConfig
from platform_vocabulary.naming import approval_stage, release_lane_stage, stage_id
from stacks.pipeline_access_stack import lookup_role_arn

# Where Validate stores the gate's passed check results (cicd/gate/cache.py); pull requests only read them.
GATE_RESULTS_PREFIX = "gate-results"
APPROVAL_ACTION = "PromoteToProd"
# A gated environment (approval.required) gets three pipeline stages: the approval, the platform
# lane (named like the environment's Stage) and the release lane. Rolling the release lane's stage
# back redeploys only the release lane stack and never meets a person; a rejected approval fails a
# stage that has no conditions, so it never triggers a rollback either. The names come from
# platform_vocabulary/naming.py, which the rollback and audit commands use too.
# The Validate action's variables namespace (RELEASE_ID, read by the rollback command).
VALIDATE_NAMESPACE = "BuildVariables"
GUARD_ACTION = "SeparationOfDuties"
# CDK Pipelines' self-mutation: the trust-boundary hint counts from the commit it last deployed.
SELF_MUTATION = ("UpdatePipeline", "SelfMutate")


class PlatformStage(Protocol):
    """What the pipeline needs from an environment's Stage (stacks/data_platform_stage.py)."""

    @property
    def stage_name(self) -> str: ...

    @property
    def stacks(self) -> list[cdk.Stack]: ...

    release_bake_alarm_name: str | None
    release_health_reader_role_arn: str
    integration_test_role_arn: str
    integration_outputs: Mapping[str, cdk.CfnOutput]
    platform_stacks: Sequence[cdk.Stack]
    release_lane: cdk.Stack


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
        trust_boundary_check: lambda_.IFunction,
        evidence_bucket: s3.IBucket,
        evidence_key: kms.IKey,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self._pipeline_name = delivery.pipeline_name
        self._qualifier = delivery.bootstrap_qualifier  # the target accounts' `cdk bootstrap --qualifier`
        self._approval_guard = approval_guard
        self._trust_boundary_check = trust_boundary_check
        self.build_key = self._build_key()
        access_logs = AccessLogBucket(self, "AccessLogs", removal_policy=cdk.RemovalPolicy.RETAIN, retention_days=90)
        # Trusted builds (Validate) and pull requests never share a cache: a PR could otherwise plant
        # a .venv that the next trusted build runs. Each bucket is granted to its own projects only.
        self.cache = self._cache_bucket("ToolchainCache", access_logs.bucket)
        pull_request_cache = self._cache_bucket("PullRequestCache", access_logs.bucket)
        self.notifications = DeliveryNotifications(self, "Notifications", emails=delivery.notification_emails)

        self.source = pipelines.CodePipelineSource.connection(
            delivery.repository,
            delivery.branch,
            connection_arn=delivery.connection_arn,
            code_build_clone_output=True,  # a git checkout, so the release records its commit
        )
        self.synth = self._validate_step(evidence_bucket, evidence_key)
        # Exported build variables become the Validate action's output variables (ListActionExecutions),
        # where the rollback command finds releases; _shape_stages gives the action a fixed namespace so
        # stage conditions can read them. (The tokens these return resolve only inside CDK Pipelines steps.)
        self.synth.exported_variable("RELEASE_ID")
        self.pipeline = self._code_pipeline(cdk_cli_version, log_retention)
        self.stages = self._add_environments(delivery, environments, stage_factory)
        self.pipeline.build_pipeline()

        base = self.pipeline.pipeline
        # CDK Pipelines retains its artifact bucket but deletes the bucket's key with the stack: the kept
        # artifacts (what each release was built from, which rollback provenance reads) would be unreadable.
        if base.artifact_bucket.encryption_key is not None:
            base.artifact_bucket.encryption_key.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.change_evidence = self._change_evidence(
            delivery, environments, evidence_bucket, evidence_key, log_retention
        )
        add_change_evidence_stage(base, self.change_evidence)
        self.notifications.watch(base)
        self._shape_stages(base, environments)
        self._grant_approvers(environments)
        self.pull_requests = PullRequestValidation(
            self,
            "PullRequestValidation",
            repository=delivery.repository,
            connection_arn=delivery.connection_arn,
            cache_bucket=pull_request_cache,
            gate_results_bucket=self.cache,
            gate_results_prefix=GATE_RESULTS_PREFIX,
            encryption_key=self.build_key,
            log_retention=log_retention,
        )
        confine_auto_approval(
            self.pipeline,
            pipeline_arn=self._pipeline_arn,
            approval_stages=[approval_stage(s) for s in self._gated_stage_names(environments)],
        )
        allow_both_connection_namespaces(self)
        cdk.CfnOutput(self, "PipelineName", value=base.pipeline_name)
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.notifications.topic.topic_arn)
        suppress_generated_findings(self.pipeline, self.pull_requests)

    def _build_key(self) -> kms.Key:
        key = kms.Key(self, "BuildKey", enable_key_rotation=True, description="Encrypts build logs and caches")
        # The build log groups are encrypted with this key: CloudWatch Logs must be allowed to use it,
        # for log groups of this account and region only, or the log groups fail to create.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:*"
                        )
                    }
                },
            )
        )
        return key

    def _cache_bucket(self, construct_id: str, access_logs: s3.IBucket) -> s3.IBucket:
        return SecureBucket(
            self,
            construct_id,
            encryption_key=self.build_key,
            access_log_bucket=access_logs,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            noncurrent_version_days=1,
        ).bucket

    def _validate_step(self, evidence_bucket: s3.IBucket, evidence_key: kms.IKey) -> pipelines.CodeBuildStep:
        return pipelines.CodeBuildStep(
            "Validate",
            input=self.source,
            commands=[STAGE_PACKAGES_COMMAND, MAIN_COMMAND],
            primary_output_directory="build/cdk.out",
            build_environment=gate_build_environment(),
            # RELEASE_ID is exported through exported_variable(); the spec is shared with the gate's batch build.
            partial_build_spec=codebuild.BuildSpec.from_object(validate_build_spec_object()),
            cache=codebuild.Cache.bucket(self.cache, prefix="validate"),
            timeout=cdk.Duration.minutes(30),
            env={
                "EVIDENCE_BUCKET": evidence_bucket.bucket_name,
                "PIPELINE_NAME": self._pipeline_name,
                "PIPELINE_EXECUTION_ID": "#{codepipeline.PipelineExecutionId}",
                # Unchanged inputs reuse a stored pass instead of re-running (`--no-cache` forces a full run).
                "GATE_CACHE_URI": f"s3://{self.cache.bucket_name}/{GATE_RESULTS_PREFIX}",
            },
            role_policy_statements=[
                # Write-only into incoming/: the build can add evidence, never read, change or delete it.
                iam.PolicyStatement(
                    actions=["s3:PutObject"], resources=[evidence_bucket.arn_for_objects("incoming/*")]
                ),
                iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[evidence_key.key_arn]),
            ],
        )

    def _change_evidence(
        self,
        delivery: DeliveryConfig,
        environments: Sequence[EnvironmentConfig],
        evidence_bucket: s3.IBucket,
        evidence_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> ChangeEvidence:
        """The trusted step before Build; it counts commits since each approval gate's last approval."""
        gates = {approval_stage(s): GUARD_ACTION for s in self._gated_stage_names(environments)}
        return ChangeEvidence(
            self,
            "ChangeEvidence",
            pipeline_name=self._pipeline_name,
            pipeline_arn=self._pipeline_arn,
            repository=delivery.repository,
            branch=delivery.branch,
            connection_arn=delivery.connection_arn,
            provider_api_url=delivery.source_provider.api_url,
            token_secret_arn=delivery.source_provider.token_secret_arn,
            evidence_bucket=evidence_bucket,
            evidence_key=evidence_key,
            approval_gates={**gates, trust_boundary.STAGE_NAME: trust_boundary.GUARD_ACTION},
            self_mutation=SELF_MUTATION,
            trust_boundary_paths=trust_boundary.TRUST_BOUNDARY_PATHS,
            encryption_key=self.build_key,
            log_retention=log_retention,
        )

    def _code_pipeline(self, cdk_cli_version: str, log_retention: logs.RetentionDays) -> pipelines.CodePipeline:
        return pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=self.synth,
            pipeline_name=self._pipeline_name,
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
                        log_group=logs.LogGroup(
                            self, "BuildLogs", encryption_key=self.build_key, retention=log_retention
                        )
                    )
                )
            ),
        )

    def _add_environments(
        self, delivery: DeliveryConfig, environments: Sequence[EnvironmentConfig], stage_factory: StageFactory
    ) -> dict[str, PlatformStage]:
        integration_vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "IntegrationVpc",
            vpc_id=delivery.integration_network.vpc_id,
            availability_zones=list(delivery.integration_network.availability_zones),
            private_subnet_ids=list(delivery.integration_network.subnet_ids),
        )
        stages: dict[str, PlatformStage] = {}
        for env in environments:
            stage: PlatformStage = stage_factory(self, env)
            stages[env.name] = stage
            if env.approval.required:
                # Its own stage with no conditions: see approval_stage.
                self.pipeline.add_wave(approval_stage(stage.stage_name), pre=self._approval_steps(env, stage))
            self.pipeline.add_stage(
                stage,  # type: ignore[arg-type]
                post=self._post_steps(env, stage, integration_vpc),
                stack_steps=self._change_set_reviews(env, stage),
            )
        return stages

    def _approval_steps(self, env: EnvironmentConfig, stage: PlatformStage) -> list[pipelines.Step]:
        # IAM or security-group widening needs its own explicit confirmation, before the approval.
        broadening = pipelines.ConfirmPermissionsBroadening("ConfirmPermissionsBroadening", stage=stage)  # type: ignore[arg-type]
        approval = NotifyingApprovalStep(
            APPROVAL_ACTION,
            topic=self.notifications.topic,
            comment=(
                f"Promote to {env.name}: review the release (RELEASE_ID of the Validate action), the diff of "
                "the source revision and the staging results (integration tests, canaries) before approving. "
                "The approver must not be the commit's author."
            ),
            review_url=self._review_url,
        )
        approval.add_step_dependency(broadening)
        # Separation of duties: fails the stage when the approver wrote the change or is no approver.
        guard = LambdaInvokeStep(
            GUARD_ACTION,
            function=self._approval_guard,
            user_parameters={
                "approval_stage": approval_stage(stage.stage_name),
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
        # In the VPC without internet: it installs the wheels this step builds (constructs/integration_toolchain.py).
        toolchain = integration_toolchain.integration_toolchain_step(
            source=self.source, build_environment=gate_build_environment()
        )
        integration = pipelines.CodeBuildStep(
            "IntegrationTests",
            commands=[integration_toolchain.TEST_COMMAND],
            additional_inputs={integration_toolchain.WHEEL_DIR: toolchain},
            partial_build_spec=integration_toolchain.runtimes_build_spec(),
            vpc=vpc,
            subnet_selection=ec2.SubnetSelection(subnets=vpc.private_subnets),
            **common,
        )
        canaries = pipelines.CodeBuildStep("PostReleaseCanaries", commands=["make canaries"], **common)
        canaries.add_step_dependency(integration)
        return [toolchain, integration, canaries]

    def _change_set_reviews(self, env: EnvironmentConfig, stage: PlatformStage) -> list[pipelines.StackSteps]:
        if not env.approval.required:
            return []
        lookup_role = lookup_role_arn(qualifier=self._qualifier, account=env.account, region=env.region)
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
    def _review_url(self) -> str:
        # The execution view shows the Validate action's RELEASE_ID, the source diff and staging results.
        return (
            f"https://{self.region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{self._pipeline_name}/view"
        )

    @staticmethod
    def _gated_stage_names(environments: Sequence[EnvironmentConfig]) -> list[str]:
        return [stage_id(env.name) for env in environments if env.approval.required]

    def _shape_stages(self, pipeline: codepipeline.Pipeline, environments: Sequence[EnvironmentConfig]) -> None:
        """Trust-boundary gate, release-lane stages and stage conditions, all looked up by stage name."""
        trust_boundary.add_trust_boundary_check(
            pipeline, check=self._trust_boundary_check, pipeline_name=self._pipeline_name
        )
        trust_boundary.add_trust_boundary_stage(
            pipeline,
            topic=self.notifications.topic,
            guard=self._approval_guard,
            pipeline_name=self._pipeline_name,
            review_url=self._review_url,
        )
        # After every L2 stage exists; the guard and the check live in the audit stack (cross-stack references).
        layout = StageLayout(
            pipeline, references=[self._approval_guard.function_name, self._trust_boundary_check.function_name]
        )
        layout.set_action_property("Build", "Validate", "Namespace", VALIDATE_NAMESPACE)
        layout.configuration_role_arns_as_sub()
        layout.set_before_entry(
            trust_boundary.STAGE_NAME,
            skip_unless_condition(
                rule_name="TrustBoundaryChanged",
                variable=f"#{{{trust_boundary.CHECK_NAMESPACE}.{trust_boundary.VARIABLE}}}",
                equals="true",
            ),
        )
        for env in environments:
            stage = self.stages[env.name]
            rollback_stage = stage.stage_name
            if env.approval.required:
                rollback_stage = self._split_release_lane(layout, stage)
            if env.approval.auto_rollback:
                assert stage.release_bake_alarm_name is not None  # auto_rollback stages get a bake alarm
                layout.set_rollback(
                    rollback_stage,
                    alarm_name=stage.release_bake_alarm_name,
                    bake_minutes=env.approval.bake_minutes,
                    alarm_reader_role_arn=stage.release_health_reader_role_arn,
                )
                # Stage conditions run as the pipeline's service role: it assumes the reader role.
                pipeline.role.add_to_principal_policy(
                    iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[stage.release_health_reader_role_arn])
                )
        layout.apply()

    @staticmethod
    def _split_release_lane(layout: StageLayout, stage: PlatformStage) -> str:
        lane = stage.release_lane
        dependants = [s.node.id for s in stage.stacks if lane in s.dependencies]
        if dependants:
            raise ValueError(
                f"stage {stage.stage_name}: {', '.join(dependants)} depend on the release lane stack {lane.node.id}, "
                "so it cannot deploy in its own, later pipeline stage; remove the dependency "
                "(stacks/data_platform_stage.py) or stop splitting the release lane out"
            )
        name = release_lane_stage(stage.stage_name)
        layout.split_stage(stage.stage_name, name, lambda action: action.split(".")[0] == lane.node.id)
        return name

    def _grant_approvers(self, environments: Sequence[EnvironmentConfig]) -> None:
        """Each gated environment's approvers approve its promotion, and judge trust-boundary changes."""
        for env in environments:
            if not env.approval.required:
                continue
            assert env.approval.approvers_role_arn is not None  # the config model guarantees it
            stage_name = stage_id(env.name)
            ApproverAccess(
                self,
                f"{stage_name}Approvers",
                approvers_role_arn=env.approval.approvers_role_arn,
                pipeline_arn=self._pipeline_arn,
                approval_actions=[
                    (approval_stage(stage_name), APPROVAL_ACTION),
                    (trust_boundary.STAGE_NAME, trust_boundary.APPROVAL_ACTION),
                ],
            )
