"""One environment (dev, staging or prod): its platform lane and release lane stacks."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from config import EnvironmentConfig
from stacks.storage_stack import StorageStack


class DataPlatformStage(cdk.Stage):
    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(
            scope, construct_id, env=cdk.Environment(account=env_config.account, region=env_config.region)
        )
        self.storage = StorageStack(
            self,
            "Storage",
            protect=env_config.protect_stateful_resources,
        )
