"""The environment's alarm topic: KMS-encrypted SNS, TLS only, e-mail subscriptions from config.

Who may publish is explicit, because a topic policy replaces SNS's default one (CDK writes one for
enforce_ssl and for every EventBridge target): CloudWatch alarms need an `sns:Publish` statement in the
topic policy *and* the topic key, or every alarm notification is dropped without an error anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"
EVENTS = "events.amazonaws.com"


def allow_cloudwatch_alarms(topic: sns.ITopic, key: kms.IKey) -> None:
    """CloudWatch alarms of this account and region may publish to `topic` and use its key, nobody else's.

    aws:SourceAccount and aws:SourceArn confine the CloudWatch service principal to our own alarms
    (the confused-deputy guard the SNS and KMS guides recommend for service principals).
    """
    stack = cdk.Stack.of(topic)
    principal = iam.ServicePrincipal(CLOUDWATCH)
    alarms = stack.format_arn(
        service="cloudwatch", resource="alarm", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )
    conditions = {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": alarms}}
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[principal],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsUseTheTopicKey",
            principals=[principal],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions=conditions,
        )
    )


class AlarmTopic(Construct):
    """Where every alarm and failure event of the environment goes (CloudWatch alarms, EventBridge rules)."""

    def __init__(self, scope: Construct, construct_id: str, *, emails: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        if not emails:
            raise ValueError("the alarm topic needs at least one e-mail subscription (notifications.alarm_emails)")
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the monitoring alarm topic, the canaries' logs and dead-letter queues",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # EventBridge rules (stack and pipeline failures) publish too. No aws:SourceAccount/SourceArn here:
        # the SNS guide says KMS does not support them for EventBridge-to-encrypted-topic delivery, so
        # such a condition drops every event. The topic policy (CDK's SnsTopic target) scopes the publish.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeUsesTheTopicKey",
                principals=[iam.ServicePrincipal(EVENTS)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CanaryLogs",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Data platform alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        allow_cloudwatch_alarms(self.topic, self.key)
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
