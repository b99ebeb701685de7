"""Release lane: upload one release bundle and activate it. Deploys in minutes; never touches MWAA."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.release_activator import ReleaseActivator
from constructs.release_upload import ReleaseUpload

from stacks.release_bundle import ReleaseBundle


class ReleaseLaneStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bundle: ReleaseBundle,
        release_bucket: s3.IBucket,
        dag_bucket: s3.IBucket,
        dag_prefix: str,
        active_release_parameter_name: str,
        data_key: kms.IKey,
        log_retention: logs.RetentionDays,
        reserve_concurrency: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.release_id = bundle.release_id
        self.upload = ReleaseUpload(
            self,
            "Upload",
            bundle_dir=bundle.directory,
            release_id=bundle.release_id,
            release_bucket=release_bucket,
            log_retention=log_retention,
            log_key=data_key,
        )
        self.activator = ReleaseActivator(
            self,
            "Activator",
            release_id=bundle.release_id,
            release_bucket=release_bucket,
            dag_bucket=dag_bucket,
            dag_prefix=dag_prefix,
            parameter_name=active_release_parameter_name,
            log_retention=log_retention,
            log_key=data_key,
            reserve_concurrency=reserve_concurrency,
        )
        # Activate only once every file of the release is in its prefix.
        self.activator.resource.node.add_dependency(self.upload.deployment)

        self.outputs = {
            name: cdk.CfnOutput(self, name, value=value)
            for name, value in {
                "ReleaseId": bundle.release_id,
                "ActiveReleaseId": self.activator.activated_release_id,
                "PreviousReleaseId": self.activator.previous_release_id,
                "ActiveReleaseParameterName": active_release_parameter_name,
                "ReleasePrefix": self.upload.prefix,
                "ActivatorFunctionName": self.activator.function.function_name,
            }.items()
        }
