"""Where the delivery pipeline tells people what happened: failures, rollbacks, waiting approvals."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codestarnotifications as notifications
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

PIPELINE_EVENTS = (
    "codepipeline-pipeline-pipeline-execution-failed",
    "codepipeline-pipeline-pipeline-execution-succeeded",
    "codepipeline-pipeline-stage-execution-failed",
    "codepipeline-pipeline-manual-approval-needed",
    "codepipeline-pipeline-manual-approval-failed",
    "codepipeline-pipeline-manual-approval-succeeded",
)


class DeliveryNotifications(Construct):
    """An encrypted topic with e-mail subscribers, fed by pipeline notifications and rollback events.

    The topic exists before the pipeline (approval actions publish to it); `watch` subscribes it to
    the pipeline's events once the pipeline is built.
    """

    def __init__(self, scope: Construct, construct_id: str, *, emails: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="Encrypts delivery notifications")
        self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True)
        # Publishers to an encrypted topic need the key: grant per service principal, not to '*'.
        # Approval actions publish through their own action roles (grant_publish covers the key).
        for service in ("codestar-notifications.amazonaws.com", "events.amazonaws.com"):
            key.grant_encrypt_decrypt(iam.ServicePrincipal(service))
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def watch(self, pipeline: codepipeline.IPipeline) -> None:
        notifications.NotificationRule(
            self,
            "PipelineEvents",
            source=pipeline,
            events=list(PIPELINE_EVENTS),
            targets=[self.topic],
            detail_type=notifications.DetailType.FULL,
        )
        # V2 stage rollbacks start a new execution with trigger type AutomatedRollback/ManualRollback;
        # notification rules have no event for that, EventBridge does.
        events.Rule(
            self,
            "RollbackExecutions",
            description="A stage of the delivery pipeline was rolled back",
            event_pattern=events.EventPattern(
                source=["aws.codepipeline"],
                detail_type=["CodePipeline Pipeline Execution State Change"],
                detail={
                    "pipeline": [pipeline.pipeline_name],
                    "state": ["STARTED"],
                    "execution-trigger": {"trigger-type": ["AutomatedRollback", "ManualRollback"]},
                },
            ),
            targets=[targets.SnsTopic(self.topic)],
        )
