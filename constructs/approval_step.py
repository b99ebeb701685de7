"""A manual approval step that notifies its own topic, for CDK Pipelines.

`pipelines.ManualApprovalStep` has no notification topic. The L2 `ManualApprovalAction` has one and
grants sns:Publish (and the topic key's GenerateDataKey*/Decrypt) to the *action's* role, which is
the role CodePipeline uses to publish the approval request; a grant to the pipeline role is not used.
"""

from __future__ import annotations

import jsii
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import pipelines


@jsii.implements(pipelines.ICodePipelineActionFactory)
class NotifyingApprovalStep(pipelines.Step):
    def __init__(self, step_id: str, *, topic: sns.ITopic, comment: str, review_url: str) -> None:
        super().__init__(step_id)
        self.topic = topic
        self.comment = comment
        self.review_url = review_url

    def produce_action(
        self, stage: codepipeline.IStage, options: pipelines.ProduceActionOptions
    ) -> pipelines.CodePipelineActionFactoryResult:
        stage.add_action(
            approval_action(
                options.action_name,
                int(options.run_order),
                topic=self.topic,
                comment=self.comment,
                review_url=self.review_url,
            )
        )
        return pipelines.CodePipelineActionFactoryResult(run_orders_consumed=1)


def approval_action(
    name: str, run_order: int, *, topic: sns.ITopic, comment: str, review_url: str
) -> actions.ManualApprovalAction:
    return actions.ManualApprovalAction(
        action_name=name,
        run_order=run_order,
        notification_topic=topic,
        additional_information=comment,
        external_entity_link=review_url,
    )
