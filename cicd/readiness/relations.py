"""Who uses what, across stacks: publishers of topics, senders to queues, services that encrypt with a key.

Several rules judge the same relation from its two ends (the topic's policy, the key's policy), so the
relation is found once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cicd.readiness.assembly import Assembly, Resource
from cicd.readiness.policy import Statement, statements

ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
ALARMS = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")


@dataclass(frozen=True)
class Use:
    user: Resource  # the resource whose service acts: an alarm, a rule, a log group, a trail
    target: Resource  # the topic, queue or key it acts on
    service: str  # the service principal that acts
    how: str  # the property that makes it so, for messages


def _targets(assembly: Assembly, user: Resource, value: object, *types: str) -> list[Resource]:
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        target = assembly.resource_for(assembly.text(user.stack, item))
        if target is not None and target.type in types:
            found.append(target)
    return found


def topic_publishers(assembly: Assembly) -> list[Use]:
    uses = []
    for alarm in assembly.resources(*ALARMS):
        for prop in ALARM_ACTIONS:
            for topic in _targets(assembly, alarm, alarm.props.get(prop) or [], "AWS::SNS::Topic"):
                uses.append(Use(alarm, topic, "cloudwatch.amazonaws.com", prop))
    for rule in assembly.resources("AWS::Events::Rule"):
        for target in rule.props.get("Targets") or ():
            for topic in _targets(assembly, rule, target.get("Arn"), "AWS::SNS::Topic"):
                uses.append(Use(rule, topic, "events.amazonaws.com", "Targets"))
    for rule in assembly.resources("AWS::CodeStarNotifications::NotificationRule"):
        for target in rule.props.get("Targets") or ():
            for topic in _targets(assembly, rule, target.get("TargetAddress"), "AWS::SNS::Topic"):
                uses.append(Use(rule, topic, "codestar-notifications.amazonaws.com", "Targets"))
    return uses


def queue_service_senders(assembly: Assembly) -> list[Use]:
    uses = []
    for rule in assembly.resources("AWS::Events::Rule"):
        for target in rule.props.get("Targets") or ():
            for queue in _targets(assembly, rule, target.get("Arn"), "AWS::SQS::Queue"):
                uses.append(Use(rule, queue, "events.amazonaws.com", "Targets"))
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            for queue in _targets(assembly, rule, dead_letter, "AWS::SQS::Queue"):
                uses.append(Use(rule, queue, "events.amazonaws.com", "Targets.DeadLetterConfig"))
    for subscription in assembly.resources("AWS::SNS::Subscription"):
        if subscription.props.get("Protocol") == "sqs":
            for queue in _targets(assembly, subscription, subscription.props.get("Endpoint"), "AWS::SQS::Queue"):
                uses.append(Use(subscription, queue, "sns.amazonaws.com", "Endpoint"))
    return uses


def key_of(assembly: Assembly, resource: Resource, prop: str) -> Resource | None:
    """The KMS key the resource's property names, when the assembly creates it."""
    value = resource.props.get(prop)
    if value is None:
        return None
    key = assembly.resource_for(assembly.text(resource.stack, value))
    return key if key is not None and key.type == "AWS::KMS::Key" else None


# Where each resource type names the key that encrypts it.
ENCRYPTION_KEY_PROPERTY = {
    "AWS::Logs::LogGroup": "KmsKeyId",
    "AWS::CloudTrail::Trail": "KMSKeyId",
    "AWS::SNS::Topic": "KmsMasterKeyId",
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::Lambda::Function": "KmsKeyArn",
}


def encryption_key(assembly: Assembly, resource: Resource) -> Resource | None:
    if resource.type == "AWS::S3::Bucket":
        rules = (resource.props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or ()
        for rule in rules:
            value = (rule.get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID")
            if value is not None:
                key = assembly.resource_for(assembly.text(resource.stack, value))
                if key is not None and key.type == "AWS::KMS::Key":
                    return key
        return None
    prop = ENCRYPTION_KEY_PROPERTY.get(resource.type)
    return key_of(assembly, resource, prop) if prop else None


def key_services(assembly: Assembly) -> list[Use]:
    """Every service that encrypts or decrypts with a key of the assembly, and what makes it do so."""
    uses = []
    for group in assembly.resources("AWS::Logs::LogGroup"):
        key = key_of(assembly, group, "KmsKeyId")
        if key is not None:
            uses.append(Use(group, key, f"logs.{group.stack.region}.amazonaws.com", "KmsKeyId"))
    for trail in assembly.resources("AWS::CloudTrail::Trail"):
        key = key_of(assembly, trail, "KMSKeyId")
        if key is not None:
            uses.append(Use(trail, key, "cloudtrail.amazonaws.com", "KMSKeyId"))
    for use in topic_publishers(assembly):
        key = key_of(assembly, use.target, "KmsMasterKeyId")
        if key is not None:
            uses.append(Use(use.user, key, use.service, f"{use.how} to encrypted topic {use.target}"))
    for use in queue_service_senders(assembly):
        key = key_of(assembly, use.target, "KmsMasterKeyId")
        if key is not None:
            uses.append(Use(use.user, key, use.service, f"{use.how} to encrypted queue {use.target}"))
    return uses


def bucket_policy(assembly: Assembly, bucket: Resource) -> list[Statement]:
    """The statements of every bucket policy attached to the bucket, from any stack."""
    found = []
    for policy in assembly.resources("AWS::S3::BucketPolicy"):
        if assembly.resource_for(assembly.text(policy.stack, policy.props.get("Bucket"))) == bucket:
            found += statements(assembly.deep(policy.stack, policy.props.get("PolicyDocument")))
    return found
