"""EventBridge rules that turn deployment failures into notifications on the alarm topic.

- CloudFormation: any watched stack of the environment reaching a failed or rolled-back status.
- CodePipeline: failed executions, stages and actions of the delivery pipeline. CodePipeline emits
  these events in the account that runs the pipeline, so this rule only matters where the pipeline
  lives (or where its events are forwarded); give `pipeline_name` only there.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

STACK_FAILURES = [
    "CREATE_FAILED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "DELETE_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
    "IMPORT_ROLLBACK_FAILED",
]
PIPELINE_EVENTS = [
    "CodePipeline Pipeline Execution State Change",
    "CodePipeline Stage Execution State Change",
    "CodePipeline Action Execution State Change",
]


class DeploymentFailureRules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        stack_names: Sequence[str],
        pipeline_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not stack_names:
            raise ValueError("DeploymentFailureRules needs the stack names to watch")
        stack = cdk.Stack.of(self)
        # A stack id is arn:...:stack/<name>/<uuid>: the trailing slash keeps Prod-Release from matching Prod-ReleaseX.
        stack_ids = [
            events.Match.prefix(stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{name}/"))
            for name in stack_names
        ]
        self.stack_failures = events.Rule(
            self,
            "StackFailures",
            description=f"CloudFormation stacks of the environment ({len(stack_names)}) that failed or rolled back",
            event_pattern=events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["CloudFormation Stack Status Change"],
                detail={
                    "stack-id": events.Match.any_of(*stack_ids),
                    "status-details": {"status": STACK_FAILURES},
                },
            ),
            targets=[
                targets.SnsTopic(
                    topic,
                    message=events.RuleTargetInput.from_text(
                        f"CloudFormation: {events.EventField.from_path('$.detail.stack-id')} is "
                        f"{events.EventField.from_path('$.detail.status-details.status')} "
                        f"({events.EventField.from_path('$.detail.status-details.status-reason')}). "
                        "If this was a release, python -m cicd release status shows what is active (docs/runbook.md)."
                    ),
                )
            ],
        )
        self.pipeline_failures: events.Rule | None = None
        if pipeline_name:
            self.pipeline_failures = events.Rule(
                self,
                "PipelineFailures",
                description=f"Failed executions, stages and actions of {pipeline_name}",
                event_pattern=events.EventPattern(
                    source=["aws.codepipeline"],
                    detail_type=PIPELINE_EVENTS,
                    detail={"pipeline": [pipeline_name], "state": ["FAILED"]},
                ),
                targets=[
                    targets.SnsTopic(
                        topic,
                        message=events.RuleTargetInput.from_text(
                            f"CodePipeline {pipeline_name}: {events.EventField.from_path('$.detail-type')} FAILED "
                            f"(execution {events.EventField.from_path('$.detail.execution-id')}, "
                            f"stage {events.EventField.from_path('$.detail.stage')}, "
                            f"action {events.EventField.from_path('$.detail.action')})."
                        ),
                    )
                ],
            )
