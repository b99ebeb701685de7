"""The platform's customer-managed KMS key: buckets, log groups, MWAA and EMR Serverless logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class DataKey(Construct):
    """A rotating KMS key that CloudWatch Logs in this account and region may also use.

    CloudWatch Logs encrypts with the key itself (not with the caller's identity), so it needs a
    key-policy statement; the encryption-context condition confines it to this account's log groups.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: cdk.RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the data platform's buckets, logs and Airflow metadata queues",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        logs_arns = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arns}},
            )
        )
