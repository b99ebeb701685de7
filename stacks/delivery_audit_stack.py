"""SOC 2 change evidence in the delivery account: the Object Lock ledger, its writers, the trail.

Stateful and retained. Every promotion's record lands here: pipeline, stage and action state
changes, the gate report and release manifest (incoming/), approvals and the approval guard's
decisions, and stack changes forwarded from the environment accounts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from constructs.approvers_role import ApproversRole, approvers_role_name
from constructs.audit_trail import AuditTrail, trail_name_for
from constructs.evidence_functions import EvidenceFunctions
from constructs.ledger_events import LedgerEvents
from constructs.monitoring_topic import allow_cloudwatch_alarms
from constructs.secure_bucket import AccessLogBucket, SecureBucket
from constructs.trust_boundary_check import TrustBoundaryCheck
from constructs.trusted_evidence import restrict_trusted_writers

from config.model import ApproverIdentity, PlatformConfig
from pipeline_assets.ledger import layout

PIPELINE_EVENT_TYPES = [
    "CodePipeline Pipeline Execution State Change",
    "CodePipeline Stage Execution State Change",
    "CodePipeline Action Execution State Change",
]
STACK_EVENT_TYPES = ["CloudFormation Stack Status Change", "CloudFormation Drift Detection Status Change"]
LEDGER_PREFIX = "ledger"
STACK_API_CALLS = ["CreateStack", "UpdateStack", "DeleteStack", "ExecuteChangeSet", "ContinueUpdateRollback"]


def approvers_role_arns(config: PlatformConfig) -> list[str]:
    """The approvers roles of every gated environment: each must be a role this stack can create."""
    gated = [env for env in config.environments if env.approval.required and env.approval.approvers_role_arn]
    for env in gated:
        assert env.approval.approvers_role_arn is not None
        approvers_role_name(
            env.approval.approvers_role_arn,
            delivery_account=config.delivery.account,
            config_file=f"config/{env.name}.yaml",
        )
    return sorted({str(env.approval.approvers_role_arn) for env in gated})


class DeliveryAuditStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        environment_accounts: Sequence[str],
        retention_days: int,
        approvers: Sequence[str],
        approver_identity: ApproverIdentity,
        break_glass: Sequence[str],
        trail_mode: str,
        organization_trail_arn: str | None,
        alarm_emails: Sequence[str],
        identity_aliases: Mapping[str, Sequence[str]] | None = None,
        pipeline_stack_name: str = "DeliveryPipeline",
        # (stack, lookup role ARN, region) of what the pipeline's self-mutation also deploys in other accounts.
        boundary_stacks_elsewhere: Sequence[tuple[str, str, str]] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        reserve_concurrency: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self.key = kms.Key(
            self,
            "EvidenceKey",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            description="Encrypts the SOC 2 change evidence",
        )
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com"))
        access_logs = AccessLogBucket(self, "AccessLogs", removal_policy=cdk.RemovalPolicy.RETAIN, retention_days=365)
        evidence = SecureBucket(
            self,
            "EvidenceBucket",
            encryption_key=self.key,
            access_log_bucket=access_logs.bucket,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            noncurrent_version_days=retention_days,
            # COMPLIANCE: nobody, root included, can delete or shorten a record before it expires.
            object_lock_retention=s3.ObjectLockRetention.compliance(cdk.Duration.days(retention_days)),
            # The ledger writers set each record's own COMPLIANCE retention when they write it.
            retention_writer_prefixes=[f"{LEDGER_PREFIX}/", layout.TRUST_BOUNDARY_PREFIX],
        )
        evidence.resource.override_logical_id("EvidenceBucket")
        # incoming/ uploads (gate report, release.json) reach the ledger through EventBridge.
        evidence.resource.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        self.evidence_bucket = evidence.bucket
        # A second version of a ledger key would replace the record that readers see (Object Lock keeps
        # the old version, but only a reader listing versions would notice): every ledger write must be
        # create-only. Multipart uploads cannot carry the header, so they are refused here too.
        self.evidence_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LedgerWritesAreCreateOnly",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.evidence_bucket.arn_for_objects(f"{LEDGER_PREFIX}/*")],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        # trusted/: evidence that decides a release, each prefix writable by one trusted step only.
        restrict_trusted_writers(self.evidence_bucket)
        self.trail = AuditTrail(
            self,
            "AuditTrail",
            mode=trail_mode,
            trail_name=trail_name_for(pipeline_name),
            organization_trail_arn=organization_trail_arn,
            bucket=self.evidence_bucket,
            encryption_key=self.key,
            log_retention=log_retention,
        )
        self.alarm_topic = sns.Topic(self, "EvidenceAlarms", master_key=self.key, enforce_ssl=True)
        # The dead-letter and trail alarms publish here: the topic policy and the key must both let them.
        allow_cloudwatch_alarms(self.alarm_topic, self.key)
        for email in alarm_emails:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(email))
        pipeline_arn = f"arn:{self.partition}:codepipeline:{self.region}:{self.account}:{pipeline_name}"
        self.functions = EvidenceFunctions(
            self,
            "Evidence",
            evidence_bucket=self.evidence_bucket,
            encryption_key=self.key,
            retention_days=retention_days,
            pipeline_arn=pipeline_arn,
            approvers=approvers,
            break_glass=break_glass,
            log_retention=log_retention,
            alarm_topic=self.alarm_topic,
            identity_aliases=identity_aliases,
            reserve_concurrency=reserve_concurrency,
        )
        self.approval_guard = self.functions.guard
        # What self-mutation deploys: this stack and the pipeline stack. Judged by this deployed function.
        self.trust_boundary_check = TrustBoundaryCheck(
            self,
            "TrustBoundaryCheck",
            evidence_bucket=self.evidence_bucket,
            encryption_key=self.key,
            retention_days=retention_days,
            boundary_stacks=[pipeline_stack_name, self.stack_name],
            boundary_stacks_elsewhere=boundary_stacks_elsewhere,
            log_retention=log_retention,
            reserve_concurrency=reserve_concurrency,
        ).function
        self.approvers_roles = [
            ApproversRole(
                self,
                "ApproversRole" if index == 0 else f"ApproversRole{index + 1}",
                role_name=approvers_role_name(
                    arn, delivery_account=self.account, config_file="DeliveryAuditStack(approvers=...)"
                ),
                source=approver_identity.source,
                saml_provider_arn=approver_identity.saml_provider_arn,
                permission_set=approver_identity.permission_set,
                approver_tag=approver_identity.approver_tag,
            ).role
            for index, arn in enumerate(approvers)
        ]
        delivery_only = [self.account]
        # Forwarded from dev, staging and prod (stacks/audit_stack.py): direct changes and drift; the
        # delivery account's own stacks are recorded as well.
        stack_accounts = [self.account, *environment_accounts]
        self.ledger_events = LedgerEvents(
            self,
            "LedgerEvents",
            ledger=self.functions.ledger,
            dead_letters=self.functions.dead_letters,
            dead_letter_key=self.key,
            patterns={
                "PipelineEvents": (
                    events.EventPattern(
                        source=["aws.codepipeline"],
                        detail_type=PIPELINE_EVENT_TYPES,
                        detail={"pipeline": [pipeline_name]},
                    ),
                    delivery_only,
                ),
                "ApprovalApiCalls": (
                    events.EventPattern(
                        source=["aws.codepipeline"],
                        detail_type=["AWS API Call via CloudTrail"],
                        detail={"eventSource": ["codepipeline.amazonaws.com"], "eventName": ["PutApprovalResult"]},
                    ),
                    delivery_only,
                ),
                "BuildEvidence": (
                    events.EventPattern(
                        source=["aws.s3"],
                        detail_type=["Object Created"],
                        detail={
                            "bucket": {"name": [self.evidence_bucket.bucket_name]},
                            "object": {"key": [{"prefix": "incoming/"}]},
                        },
                    ),
                    delivery_only,
                ),
                "StackEvents": (
                    events.EventPattern(source=["aws.cloudformation"], detail_type=STACK_EVENT_TYPES),
                    stack_accounts,
                ),
                "StackApiCalls": (
                    events.EventPattern(
                        source=["aws.cloudformation"],
                        detail_type=["AWS API Call via CloudTrail"],
                        detail={"eventSource": ["cloudformation.amazonaws.com"], "eventName": STACK_API_CALLS},
                    ),
                    stack_accounts,
                ),
            },
        )
        for account in sorted(set(environment_accounts)):
            events.CfnEventBusPolicy(
                self,
                f"AcceptStackEventsFrom{account}",
                statement_id=f"stack-events-{account}",
                event_bus_name="default",
                statement={
                    "Sid": f"stack-events-{account}",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{self.partition}:iam::{account}:root"},
                    "Action": "events:PutEvents",
                    "Resource": f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/default",
                },
            )
        self.evidence_bucket_name = self.evidence_bucket.bucket_name
        cdk.CfnOutput(self, "EvidenceBucketName", value=self.evidence_bucket.bucket_name)
        cdk.CfnOutput(self, "ApprovalGuardFunction", value=self.approval_guard.function_name)
        cdk.CfnOutput(self, "TrustBoundaryCheckFunction", value=self.trust_boundary_check.function_name)
