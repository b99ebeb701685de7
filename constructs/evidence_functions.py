"""The ledger writer and the approval guard Lambdas, packaged from pipeline_assets/.

Both write write-once records into the evidence bucket; neither may delete or shorten retention.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct
from constructs.suppressions import checkov_skip, nag_suppress, suppress_unreserved_concurrency

from pipeline_assets.ledger.layout import CHANGE_EVIDENCE_PREFIX

REPO_ROOT = Path(__file__).resolve().parent.parent
# Only the two packages (the ledger's modules are shared by the guard). The glob ignore mode with
# negations drops pipeline_assets entirely, so the git ignore mode is used.
ASSET_EXCLUDE = [
    "/*",
    "!/pipeline_assets/",
    "/pipeline_assets/*",
    "!/pipeline_assets/ledger/",
    "!/pipeline_assets/approval_guard/",
    "!/pipeline_assets/__init__.py",
    "__pycache__/",
    "*.pyc",
]


def evidence_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(REPO_ROOT), ignore_mode=cdk.IgnoreMode.GIT, exclude=ASSET_EXCLUDE)


class EvidenceFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        evidence_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        retention_days: int,
        pipeline_arn: str,
        approvers: Sequence[str],
        break_glass: Sequence[str],
        log_retention: logs.RetentionDays,
        alarm_topic: sns.ITopic,
        identity_aliases: Mapping[str, Sequence[str]] | None = None,
        reserve_concurrency: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._reserve_concurrency = reserve_concurrency  # config delivery.functions.concurrency_quota is set
        environment = {
            "EVIDENCE_BUCKET": evidence_bucket.bucket_name,
            "EVIDENCE_RETENTION_DAYS": str(retention_days),
            "EVIDENCE_KMS_KEY_ARN": encryption_key.key_arn,
        }
        # A ledger event that fails every retry lands here; the alarm makes the evidence gap visible.
        # (It is itself the dead-letter queue, so it has none of its own.)
        self.dead_letters = sqs.Queue(
            self,
            "LedgerDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.ledger = self._function(
            "LedgerWriter",
            handler="pipeline_assets.ledger.handler.handler",
            description="Writes immutable SOC 2 change records from pipeline, approval and stack events",
            environment=environment,
            encryption_key=encryption_key,
            log_retention=log_retention,
            dead_letter_queue=self.dead_letters,
        )
        self.guard = self._function(
            "ApprovalGuard",
            handler="pipeline_assets.approval_guard.handler.handler",
            description="Fails the promotion when the approver is the author or not an approver",
            environment={
                **environment,
                "APPROVERS_PRINCIPAL_ARNS": ",".join(approvers),
                "BREAK_GLASS_PRINCIPAL_ARNS": ",".join(break_glass),
                # config approval.identity_aliases: the guard rejects approvers it cannot map to a git e-mail.
                "IDENTITY_ALIASES": json.dumps(
                    {email: list(names) for email, names in sorted((identity_aliases or {}).items())},
                    separators=(",", ":"),
                ),
            },
            encryption_key=encryption_key,
            log_retention=log_retention,
        )
        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "LedgerGapAlarm",
            alarm_description="A pipeline/approval/stack event could not be written to the evidence ledger",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5)),
            threshold=1,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letter_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))

        for function, prefixes in ((self.ledger, ("ledger/*", "incoming/*")), (self.guard, ("ledger/*",))):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="WriteOnceRecords",
                    actions=["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectVersion"],
                    resources=[evidence_bucket.arn_for_objects(prefix) for prefix in prefixes],
                )
            )
            function.add_to_role_policy(
                # Without ListBucket a missing key answers 403 instead of 404 (the idempotency check);
                # ListBucketVersions lets a reader refuse a record that has more than one version.
                iam.PolicyStatement(
                    sid="ListEvidence",
                    actions=["s3:ListBucket", "s3:ListBucketVersions"],
                    resources=[evidence_bucket.bucket_arn],
                )
            )
            encryption_key.grant_encrypt_decrypt(function)
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ReadPipelineHistory",
                    actions=["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"],
                    resources=[pipeline_arn],
                )
            )
        self.guard.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReportJobResult",
                # Job ids are not resources in IAM: these actions only accept "*".
                actions=[
                    "codepipeline:PutJobSuccessResult",
                    "codepipeline:PutJobFailureResult",
                    "codepipeline:GetJobDetails",
                ],
                resources=["*"],
            )
        )
        self.guard.add_to_role_policy(
            iam.PolicyStatement(sid="FindApprover", actions=["cloudtrail:LookupEvents"], resources=["*"])
        )
        # A SourceIdentity counts only from a role whose trust policy binds it (approval_guard/trust_policy.py);
        # an approval's token comes from the pipeline's state when the action execution does not carry it.
        roles = sorted({arn for arn in (*approvers, *break_glass) if ":role/" in arn})
        if roles:
            self.guard.add_to_role_policy(
                iam.PolicyStatement(sid="ReadApproverTrust", actions=["iam:GetRole"], resources=roles)
            )
        self.guard.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadApprovalToken", actions=["codepipeline:GetPipelineState"], resources=[pipeline_arn]
            )
        )
        # Who made the change: only the trusted ChangeEvidence step's record (read, never write).
        self.guard.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadChangeEvidence",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[evidence_bucket.arn_for_objects(f"{CHANGE_EVIDENCE_PREFIX}*")],
            )
        )
        nag_suppress(
            self.dead_letters, "AwsSolutions-SQS3", "This queue is the ledger's dead-letter queue; it has none itself."
        )
        nag_suppress(
            self.guard,
            "NIST.800.53.R5-LambdaDLQ",
            "Invoked synchronously by CodePipeline's Lambda invoke action; a failure fails the stage.",
        )
        checkov_skip(
            self._cfn(self.guard),
            [("CKV_AWS_116", "Invoked synchronously by CodePipeline's Lambda invoke action; failures fail the stage.")],
        )
        for function in (self.ledger, self.guard):
            nag_suppress(
                function,
                "NIST.800.53.R5-LambdaInsideVPC",
                "Calls only S3, KMS, CodePipeline and CloudTrail APIs; nothing in a VPC to reach.",
            )
            nag_suppress(
                function.role or function,
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "The default policy is generated from grants scoped to this function's prefixes and pipeline.",
                children=True,
            )
            NagSuppressions.add_resource_suppressions(
                function,
                [
                    {
                        "id": "AwsSolutions-IAM5",
                        "reason": "Object-level access is limited to the ledger/ and incoming/ prefixes of the "
                        "evidence bucket; CodePipeline job actions and CloudTrail LookupEvents support only '*'.",
                        "appliesTo": [
                            "Resource::*",
                            {"regex": "/^Resource::<.*EvidenceBucket.*\\.Arn>/(ledger|incoming)/\\*$/g"},
                            {"regex": "/^Resource::<.*EvidenceBucket.*\\.Arn>/trusted/change-evidence/\\*$/g"},
                            "Action::kms:GenerateDataKey*",
                            "Action::kms:ReEncrypt*",
                        ],
                    },
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "AWSLambdaBasicExecutionRole only allows writing the function's own logs.",
                        "appliesTo": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                        ],
                    },
                ],
                apply_to_children=True,
            )

    def _function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: dict[str, str],
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{construct_id}Logs", encryption_key=encryption_key, retention=log_retention)
        function = lambda_.Function(
            self,
            construct_id,
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler=handler,
            code=evidence_code(),
            description=description,
            environment=environment,
            environment_encryption=encryption_key,
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            log_group=log_group,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=2 if dead_letter_queue else None,
            # Ten at a time is plenty for one pipeline's events; the reservation also bounds a runaway loop.
            reserved_concurrent_executions=10 if self._reserve_concurrency else None,
            tracing=lambda_.Tracing.ACTIVE,
        )
        if not self._reserve_concurrency:
            suppress_unreserved_concurrency(function)
        checkov_skip(
            self._cfn(function),
            [("CKV_AWS_117", "Talks only to S3, KMS, CodePipeline and CloudTrail APIs; no VPC resources.")],
        )
        return function

    @staticmethod
    def _cfn(function: lambda_.Function) -> cdk.CfnResource:
        cfn = function.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        return cfn
