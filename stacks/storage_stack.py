"""Stateful storage: keys (and, with the platform issue, buckets). Retained and protected."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct


class StorageStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, protect: bool, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, termination_protection=protect, **kwargs)
        removal = cdk.RemovalPolicy.RETAIN if protect else cdk.RemovalPolicy.DESTROY
        self.data_key = kms.Key(
            self,
            "DataKey",
            description="Encrypts the data platform's buckets, logs and secrets",
            enable_key_rotation=True,
            removal_policy=removal,
        )
