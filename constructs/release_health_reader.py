"""The role the delivery pipeline's bake rule assumes to read an environment's release-health alarms."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import region_info
from cdk_nag import NagSuppressions
from constructs import Construct


def release_health_reader_role_name(environment: str) -> str:
    return f"data-platform-{environment}-release-health-reader"


class ReleaseHealthReader(Construct):
    """A fixed-name role the delivery account may assume, allowed DescribeAlarms on the named alarms only.

    Fixed names on both sides, because the pipeline in the delivery account names the role and the
    alarm in a CloudFormation property of its own template, where a token of this stack cannot go.
    The alarms need not exist yet: a policy may name an alarm ARN before the alarm is created.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        delivery_account: str,
        alarm_names: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        if not alarm_names:
            raise ValueError(f"the release-health reader of {environment} needs at least one alarm to read")
        stack = cdk.Stack.of(self)
        name = release_health_reader_role_name(environment)
        self.role = iam.Role(
            self,
            "Role",
            role_name=name,
            assumed_by=iam.AccountPrincipal(delivery_account),
            description=f"Lets the delivery pipeline ({delivery_account}) read release health of {environment}",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=alarm,
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for alarm in alarm_names
                ],
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "NIST.800.53.R5-IAMNoInlinePolicy",
                    "reason": "One statement, DescribeAlarms on the release-health alarms; a managed policy for it "
                    "would be a second resource with the same content.",
                }
            ],
            apply_to_children=True,
        )
        # A plain string (not a token): the pipeline stack in the delivery account puts it in its template.
        partition = region_info.RegionInfo.get(stack.region).partition or "aws"
        self.role_arn = f"arn:{partition}:iam::{stack.account}:role/{name}"
