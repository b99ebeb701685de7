"""What the delivery pipeline names in an environment account, created before the pipeline names it.

The bake rule of the Staging and ProdRelease stages assumes the environment's release-health reader
role. CodePipeline checks the roles a pipeline names when the pipeline is created or updated (for
action roles it refuses any it cannot assume; for condition-rule roles the documentation says
nothing), so the role must exist first whatever CodePipeline does. It used to be created by the
environment's Monitoring stack, i.e. by the pipeline's own later deploy.

One small stack per environment account, deployed with the pipeline's bootstrap: app.py makes
DeliveryPipeline depend on each, so `cdk deploy DeliveryPipeline` (README, bootstrap) and every
self-mutation of the pipeline deploy them first. Because self-mutation deploys them before any
environment's approval, they are inside the trust boundary: the deployed trust-boundary check compares
their templates with what each account has (through its lookup role), and any difference waits for
ApproveTrustBoundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct
from constructs.release_health_reader import ReleaseHealthReader


def access_stack_name(environment: str) -> str:
    return f"{environment.capitalize()}PipelineAccess"


def lookup_role_arn(*, qualifier: str, account: str, region: str) -> str:
    """The CDK bootstrap's read-only lookup role of an account (`cdk bootstrap --trust-for-lookup`).

    The delivery account reads through it: change sets for the prod review, and the templates of these
    stacks for the trust-boundary check (self-mutation deploys them, so they are judged like DeliveryAudit).
    """
    return f"arn:aws:iam::{account}:role/cdk-{qualifier}-lookup-role-{account}-{region}"


class PipelineAccessStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        delivery_account: str,
        alarm_names: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        reader = ReleaseHealthReader(
            self,
            "ReleaseHealthReader",
            environment=environment,
            delivery_account=delivery_account,
            alarm_names=alarm_names,
        )
        self.release_health_reader_role_arn = reader.role_arn
        cdk.CfnOutput(self, "ReleaseHealthReaderRoleArn", value=reader.role.role_arn)
