"""A CDK Pipelines step that runs a Lambda invoke action (e.g. the approval guard).

CDK Pipelines has no built-in step for this; ICodePipelineActionFactory is its extension point.
"""

from __future__ import annotations

import json
from typing import Any

import jsii
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import pipelines


@jsii.implements(pipelines.ICodePipelineActionFactory)
class LambdaInvokeStep(pipelines.Step):
    def __init__(self, step_id: str, *, function: lambda_.IFunction, user_parameters: dict[str, Any]) -> None:
        super().__init__(step_id)
        self.function = function
        self.user_parameters = user_parameters

    def produce_action(
        self, stage: codepipeline.IStage, options: pipelines.ProduceActionOptions
    ) -> pipelines.CodePipelineActionFactoryResult:
        stage.add_action(
            actions.LambdaInvokeAction(
                action_name=options.action_name,
                run_order=options.run_order,
                lambda_=self.function,
                user_parameters_string=json.dumps(self.user_parameters, sort_keys=True),
            )
        )
        return pipelines.CodePipelineActionFactoryResult(run_orders_consumed=1)
