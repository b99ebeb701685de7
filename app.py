#!/usr/bin/env python3
"""CDK entry point: configuration enters here, once, and becomes one Stage per environment."""

from __future__ import annotations

import aws_cdk as cdk

from config import PlatformConfig, load_all
from stacks.data_platform_stage import DataPlatformStage
from stacks.nag import apply_nag_checks


def build_app(config: PlatformConfig, app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    for env_config in config.environments:
        stage = DataPlatformStage(app, env_config.name.capitalize(), env_config=env_config)
        # cdk-nag's Aspects on the app do not reach stacks inside a Stage: add them per stage.
        apply_nag_checks(stage)
    return app


if __name__ == "__main__":
    build_app(load_all()).synth()
