"""The role in an environment account that the delivery pipeline's staging post-steps assume.

(The bake condition's alarm-reader role is the monitoring stack's.) This role has a fixed name:
the pipeline in the delivery account must name it before it exists, and a cross-account reference
to a generated name is impossible. Fixed names are used only where another account must address a
resource.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

# tests/external in staging mode works under external-tests/<run id>/ (docs/external-systems.md).
INTEGRATION_PREFIX = "external-tests/"


def integration_test_role_name(environment: str) -> str:
    return f"data-platform-{environment}-integration-tests"


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


class DeliveryAccessStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        delivery_account: str,
        raw_bucket: s3.IBucket,
        release_bucket: s3.IBucket,
        data_key: kms.IKey,
        active_release_parameter_name: str,
        secret_names: tuple[str, ...],
        canary_function_arns: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        delivery = iam.AccountPrincipal(delivery_account)

        # The staging post-steps (integration tests, canaries) act in this account through this role,
        # confined to a per-run prefix of the raw bucket and read access to the release.
        self.integration_tests = iam.Role(
            self,
            "IntegrationTests",
            role_name=integration_test_role_name(environment_name),
            assumed_by=delivery,
            description="Integration tests and canary runs of the delivery pipeline's staging post-steps",
            max_session_duration=cdk.Duration.hours(1),
        )
        raw_bucket.grant_read_write(self.integration_tests, f"{INTEGRATION_PREFIX}*")
        raw_bucket.grant_delete(self.integration_tests, f"{INTEGRATION_PREFIX}*")
        release_bucket.grant_read(self.integration_tests, "releases/*")
        data_key.grant_encrypt_decrypt(self.integration_tests)
        self.integration_tests.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    f"arn:{self.partition}:ssm:{self.region}:{self.account}:parameter{active_release_parameter_name}"
                ],
            )
        )
        # The Snowflake key and MSK bootstrap string the external-system tests connect with.
        for index, name in enumerate(secret_names):
            secretsmanager.Secret.from_secret_name_v2(self, f"TestSecret{index}", name).grant_read(
                self.integration_tests
            )
        if canary_function_arns:
            self.integration_tests.add_to_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=canary_function_arns)
            )
        NagSuppressions.add_resource_suppressions(
            self.integration_tests,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Object access is confined to the external-tests/ prefix of the raw bucket and "
                    "releases/ of the release bucket; KMS re-encrypt/generate wildcards come from the key grant.",
                },
                {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": "Policy is generated from CDK grants."},
            ],
            apply_to_children=True,
        )
