"""An environment's share of the SOC 2 evidence: its trail, and its stack events sent to the ledger.

Stack status changes, drift results and stack API calls are forwarded to the delivery account,
where the ledger matches them with pipeline executions: a change with no execution behind it is
reported as a direct change.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.audit_trail import AuditTrail
from constructs.suppressions import suppress_inline_policy

from stacks.delivery_audit_stack import STACK_API_CALLS, STACK_EVENT_TYPES


class AuditStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        evidence_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        delivery_account: str,
        environment_name: str,
        trail_mode: str,
        organization_trail_arn: str | None,
        log_retention: logs.RetentionDays,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.trail = AuditTrail(
            self,
            "AuditTrail",
            mode=trail_mode,
            # The name carries the environment: dev and staging may share an account.
            trail_name=f"data-platform-{environment_name}-audit",
            organization_trail_arn=organization_trail_arn,
            bucket=evidence_bucket,
            encryption_key=encryption_key,
            log_retention=log_retention,
        )
        delivery_bus = events.EventBus.from_event_bus_arn(
            self, "DeliveryBus", f"arn:{self.partition}:events:{self.region}:{delivery_account}:event-bus/default"
        )
        forward_role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Lets EventBridge put this account's stack events on the delivery account's bus",
        )
        forward = targets.EventBus(delivery_bus, role=forward_role)
        events.Rule(
            self,
            "ForwardStackEvents",
            event_pattern=events.EventPattern(source=["aws.cloudformation"], detail_type=STACK_EVENT_TYPES),
            targets=[forward],
        )
        events.Rule(
            self,
            "ForwardStackApiCalls",
            event_pattern=events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["AWS API Call via CloudTrail"],
                detail={"eventSource": ["cloudformation.amazonaws.com"], "eventName": STACK_API_CALLS},
            ),
            targets=[forward],
        )
        # After the rules: the role's default policy exists only once a target is bound.
        suppress_inline_policy(forward_role, "One generated statement: events:PutEvents on the delivery bus only.")
