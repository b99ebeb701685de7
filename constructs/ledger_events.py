"""The EventBridge rules that feed the ledger writer, and what happens to an event it cannot take.

Every rule filters on `account`: the delivery account's own pipeline, approval and S3 events, and
stack events only from the accounts the delivery account deploys to (forwarded events keep their
source account). An event from anywhere else never reaches the ledger, so nobody can plant records
by sending look-alike events.

EventBridge retries a failed delivery, then parks the event on the dead-letter queue, whose alarm
makes the evidence gap visible (the same queue the writer's own async failures land on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# EventBridge's own retries of a failed delivery to the writer (Lambda throttled or unavailable).
RETRY_ATTEMPTS = 8
MAX_EVENT_AGE = cdk.Duration.hours(24)


class LedgerEvents(Construct):
    """`self.rules` by id; `patterns` maps a rule id to its pattern and the accounts it may come from."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ledger: lambda_.IFunction,
        patterns: Mapping[str, tuple[events.EventPattern, Sequence[str]]],
        dead_letters: sqs.IQueue,
        dead_letter_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        target = targets.LambdaFunction(
            ledger, dead_letter_queue=dead_letters, retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE
        )
        self.rules: dict[str, events.Rule] = {}
        for rule_id, (pattern, accounts) in patterns.items():
            if not accounts:
                raise ValueError(f"{rule_id}: a ledger rule needs the accounts its events may come from")
            self.rules[rule_id] = events.Rule(
                self, rule_id, event_pattern=_from_accounts(pattern, accounts), targets=[target]
            )
        # The queue is encrypted with a customer-managed key: EventBridge must be allowed to use it
        # (CDK writes the queue policy, not the key policy). Rule ARNs are generated, and naming them
        # here would be a cycle (key, queue, rule), so the condition is this account's rules.
        stack = cdk.Stack.of(self)
        dead_letter_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeDeadLettersOfThisAccount",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/*"},
                },
            )
        )


def _from_accounts(pattern: events.EventPattern, accounts: Sequence[str]) -> events.EventPattern:
    if pattern.account:
        raise ValueError("give the accounts to LedgerEvents, not in the pattern")
    return events.EventPattern(
        source=pattern.source,
        detail_type=pattern.detail_type,
        detail=pattern.detail,
        account=sorted(set(accounts)),
    )
