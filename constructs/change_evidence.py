"""The trusted ChangeEvidence step: a project of its own, before Build, that runs only deployed code.

Everything that decides a release (who wrote it, whether it moves the trust boundary) used to be
worked out inside the Validate build, after the change's own `make` had run as root in the same
container: it could replace git objects, put a `git` first on PATH or rewrite the collector. This
step runs before any of the change's code, in a fresh container with no cache, and its program is the
text of pipeline_assets/change_evidence/collect.py inlined into the build spec at synth: CodeBuild
runs the spec of the project as deployed, so a commit's copy of the collector never judges that
commit. It writes its record under `trusted/change-evidence/`, which the evidence bucket lets only
principals tagged `evidence-writer=change-evidence` write (this project's role), and exports
TRUST_BOUNDARY_HINT and CHANGE_EVIDENCE_KEY.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from constructs.suppressions import nag_suppress

from pipeline_assets.ledger import layout

COLLECTOR = Path(__file__).resolve().parent.parent / "pipeline_assets" / "change_evidence" / "collect.py"
STAGE_NAME = "ChangeEvidence"
ACTION_NAME = "CollectChangeEvidence"
NAMESPACE = "ChangeEvidence"
HINT_VARIABLE = "TRUST_BOUNDARY_HINT"
KEY_VARIABLE = "CHANGE_EVIDENCE_KEY"
HEREDOC = "CHANGE_EVIDENCE_PY"


def build_spec_commands(collector: str) -> list[str]:
    """Write the collector from the spec itself, run it fail-closed, export its two results."""
    if any(line.strip() == HEREDOC for line in collector.splitlines()):
        raise ValueError(f"the collector may not contain a line {HEREDOC!r}: it ends the here-document")
    run = 'set -euo pipefail; cd "$1"; exec python3 -I collect.py --source "$CODEBUILD_SRC_DIR" --out "$1/out"'
    return [
        'CHANGE_EVIDENCE_DIR="$(mktemp -d)"',
        f"cat > \"$CHANGE_EVIDENCE_DIR/collect.py\" <<'{HEREDOC}'\n{collector.rstrip()}\n{HEREDOC}",
        f"bash -c '{run}' change-evidence \"$CHANGE_EVIDENCE_DIR\"",
        # `read` fails on a missing file, so a variable is never exported empty.
        f'read -r {HINT_VARIABLE} < "$CHANGE_EVIDENCE_DIR/out/trust-boundary-hint" && export {HINT_VARIABLE}',
        f'read -r {KEY_VARIABLE} < "$CHANGE_EVIDENCE_DIR/out/key" && export {KEY_VARIABLE}',
    ]


def build_spec_object(collector: str) -> dict[str, Any]:
    return {
        "version": "0.2",
        "env": {
            "shell": "bash",
            "variables": {"GIT_NO_REPLACE_OBJECTS": "1"},
            "exported-variables": [HINT_VARIABLE, KEY_VARIABLE],
        },
        "phases": {
            # The image's python: the collector needs nothing but its standard library.
            "install": {"runtime-versions": {"python": "3.11"}},
            "build": {"commands": build_spec_commands(collector)},
        },
    }


class ChangeEvidence(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        pipeline_arn: str,
        repository: str,
        branch: str,
        connection_arn: str,
        provider_api_url: str,
        token_secret_arn: str,
        evidence_bucket: s3.IBucket,
        evidence_key: kms.IKey,
        approval_gates: Mapping[str, str],
        self_mutation: tuple[str, str],
        trust_boundary_paths: Sequence[str],
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="ChangeEvidence: the only writer of trusted/change-evidence/ in the evidence bucket",
        )
        # The evidence bucket denies writes to trusted/change-evidence/ to every principal without this tag.
        tag_key, tag_value = layout.CHANGE_EVIDENCE_WRITER
        cdk.Tags.of(self.role).add(tag_key, tag_value)
        token = secretsmanager.Secret.from_secret_complete_arn(self, "ProviderToken", token_secret_arn)
        log_group = logs.LogGroup(self, "Logs", encryption_key=encryption_key, retention=log_retention)
        variables = {
            "PIPELINE_NAME": pipeline_name,
            "REPOSITORY": repository,
            "BRANCH": branch,
            "PROVIDER_API_URL": provider_api_url,
            "EVIDENCE_BUCKET": evidence_bucket.bucket_name,
            "EVIDENCE_PREFIX": layout.CHANGE_EVIDENCE_PREFIX.rstrip("/"),
            "APPROVAL_GATES": json.dumps(dict(approval_gates), sort_keys=True),
            "SELF_MUTATION": json.dumps(dict([self_mutation])),
            "TRUST_BOUNDARY_PATHS": json.dumps(list(trust_boundary_paths)),
        }
        environment_variables = {k: codebuild.BuildEnvironmentVariable(value=v) for k, v in variables.items()}
        environment_variables["PROVIDER_TOKEN"] = codebuild.BuildEnvironmentVariable(
            type=codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value=token.secret_arn
        )
        # No cache of any kind: nothing from an earlier build reaches this container.
        self.project = codebuild.PipelineProject(
            self,
            "Project",
            description="Trusted: records who made the change (git + source provider) before any of its code runs",
            role=self.role,
            build_spec=codebuild.BuildSpec.from_object(build_spec_object(COLLECTOR.read_text())),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.AMAZON_LINUX_2_5, compute_type=codebuild.ComputeType.SMALL
            ),
            environment_variables=environment_variables,
            encryption_key=encryption_key,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
            timeout=cdk.Duration.minutes(20),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteChangeEvidence",
                actions=["s3:PutObject"],
                resources=[evidence_bucket.arn_for_objects(f"{layout.CHANGE_EVIDENCE_PREFIX}*")],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptChangeEvidence", actions=["kms:GenerateDataKey"], resources=[evidence_key.key_arn]
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadApprovalHistory",
                actions=["codepipeline:ListActionExecutions", "codepipeline:GetPipelineExecution"],
                resources=[pipeline_arn],
            )
        )
        # The source artifact is a clone reference (CODEBUILD_CLONE_REF): CodeBuild clones through the connection.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CloneThroughTheConnection",
                actions=["codeconnections:UseConnection", "codestar-connections:UseConnection"],
                resources=[connection_arn],
            )
        )
        nag_suppress(
            self.role,
            "AwsSolutions-IAM5",
            "Write-only on the evidence bucket's trusted/change-evidence/ prefix (one object per build), and "
            "CodeBuild's own log and report groups of this project.",
            children=True,
        )
        nag_suppress(
            self.role,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "Default policy generated from this project's grants; scoped to its own prefix, pipeline and secret.",
            children=True,
        )

    def action(self, source_output: codepipeline.Artifact) -> actions.CodeBuildAction:
        return actions.CodeBuildAction(
            action_name=ACTION_NAME,
            project=self.project,
            input=source_output,
            variables_namespace=NAMESPACE,
            environment_variables={
                "PIPELINE_EXECUTION_ID": codebuild.BuildEnvironmentVariable(value="#{codepipeline.PipelineExecutionId}")
            },
        )


def add_change_evidence_stage(pipeline: codepipeline.Pipeline, evidence: ChangeEvidence) -> None:
    """The ChangeEvidence stage between Source and Build, fed the source action's clone reference."""
    names = [stage.stage_name for stage in pipeline.stages]
    if names[:2] != ["Source", "Build"]:
        raise ValueError(f"ChangeEvidence goes between Source and Build; the pipeline's stages are {', '.join(names)}")
    [source_output] = pipeline.stages[0].actions[0].action_properties.outputs or []
    pipeline.add_stage(
        stage_name=STAGE_NAME,
        placement=codepipeline.StagePlacement(right_before=pipeline.stages[1]),
        actions=[evidence.action(source_output)],
    )
