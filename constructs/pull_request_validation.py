"""Pull requests run the gate, changed-only, against their target branch, and report back.

A CodeBuild webhook project, not a pipeline trigger: a PR must be validated, never deployed.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct
from constructs.gate_build_spec import gate_build_environment, gate_build_spec


class PullRequestValidation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        connection_arn: str,
        cache_bucket: s3.IBucket,
        gate_results_bucket: s3.IBucket,
        gate_results_prefix: str,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        owner, repo = repository.split("/", 1)
        log_group = logs.LogGroup(self, "Logs", encryption_key=encryption_key, retention=log_retention)
        self.project = codebuild.Project(
            self,
            "Project",
            description="Runs `make validate-changed` on every pull request and reports the status to it",
            source=codebuild.Source.git_hub(
                owner=owner,
                repo=repo,
                webhook=True,
                report_build_status=True,
                clone_depth=0,  # full history: --changed-since needs the merge base
                webhook_filters=[
                    codebuild.FilterGroup.in_event_of(
                        codebuild.EventAction.PULL_REQUEST_CREATED,
                        codebuild.EventAction.PULL_REQUEST_UPDATED,
                        codebuild.EventAction.PULL_REQUEST_REOPENED,
                    )
                ],
            ),
            build_spec=gate_build_spec("make validate-changed BASE=origin/${CODEBUILD_WEBHOOK_BASE_REF#refs/heads/}"),
            environment=gate_build_environment(),
            cache=codebuild.Cache.bucket(cache_bucket, prefix="pull-requests"),
            # The trusted Validate build's passed check results: a PR whose inputs match main's reuses them,
            # but may only read them (GATE_CACHE_READONLY), so it can never plant a pass for main.
            environment_variables={
                "GATE_CACHE_URI": codebuild.BuildEnvironmentVariable(
                    value=f"s3://{gate_results_bucket.bucket_name}/{gate_results_prefix}"
                ),
                "GATE_CACHE_READONLY": codebuild.BuildEnvironmentVariable(value="1"),
            },
            encryption_key=encryption_key,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
            timeout=cdk.Duration.minutes(30),
        )
        # The L2 GitHub source knows only OAuth tokens; CodeBuild also accepts the CodeConnections
        # connection the pipeline uses, so no personal token is stored anywhere.
        cfn_project = self.project.node.default_child
        assert isinstance(cfn_project, codebuild.CfnProject)
        cfn_project.add_property_override("Source.Auth", {"Type": "CODECONNECTIONS", "Resource": connection_arn})
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[gate_results_bucket.arn_for_objects(f"{gate_results_prefix}/*")]
            )
        )
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "codeconnections:UseConnection",
                    "codeconnections:GetConnectionToken",
                    "codestar-connections:UseConnection",
                    "codestar-connections:GetConnectionToken",
                ],
                resources=[connection_arn],
            )
        )
        NagSuppressions.add_resource_suppressions(
            self.project,
            [
                {
                    "id": "AwsSolutions-CB4",
                    "reason": "Build artifacts are not produced; the project is encrypted with the pipeline key "
                    "(EncryptionKey is set) and cdk-nag does not see the imported key.",
                }
            ],
            apply_to_children=True,
        )
