"""Who may approve a promotion: the approvers role from config, and nobody else.

The permission is attached to that role (identity policy), scoped to the approval actions of this
pipeline. The pipeline's own roles never receive codepipeline:PutApprovalResult.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from constructs import Construct


class ApproverAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        approvers_role_arn: str,
        pipeline_arn: str,
        approval_actions: Sequence[tuple[str, str]],  # (stage name, action name)
    ) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role.from_role_arn(self, "ApproversRole", approvers_role_arn, mutable=True)
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ApprovePromotion",
                    actions=["codepipeline:PutApprovalResult"],
                    resources=[f"{pipeline_arn}/{stage}/{action}" for stage, action in approval_actions],
                ),
                iam.PolicyStatement(
                    sid="ReviewWhatIsApproved",
                    actions=[
                        "codepipeline:GetPipeline",
                        "codepipeline:GetPipelineState",
                        "codepipeline:GetPipelineExecution",
                        "codepipeline:ListPipelineExecutions",
                        "codepipeline:ListActionExecutions",
                    ],
                    resources=[pipeline_arn],
                ),
            ],
        )
