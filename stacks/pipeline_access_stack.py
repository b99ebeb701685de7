"""What the delivery pipeline names in an environment account, created before the pipeline names it.

The bake rule of the Staging and ProdRelease stages assumes the environment's release-health reader
role. CodePipeline checks the roles a pipeline names when the pipeline is created or updated (for
action roles it refuses any it cannot assume; for condition-rule roles the documentation says
nothing), so the role must exist first whatever CodePipeline does. It used to be created by the
environment's Monitoring stack, i.e. by the pipeline's own later deploy.

One small stack per environment account, deployed with the pipeline's bootstrap: app.py makes
DeliveryPipeline depend on each, so `cdk deploy DeliveryPipeline` (README, bootstrap) and every
self-mutation of the pipeline deploy them first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct
from constructs.release_health_reader import ReleaseHealthReader


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
