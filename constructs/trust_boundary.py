"""The trust boundary: a change to who approves, or to what judges approvals, is judged by the OLD ones.

Self-mutation (stage UpdatePipeline) deploys the pipeline stack and the stacks it depends on (the
evidence ledger, the approval guard, the approvers role) before any later stage runs. Without this
gate a commit that changes any of them would be live before the approval meant to judge it. So:

1. After Validate, in the Build stage, the deployed trust-boundary check
   (pipeline_assets/trust_boundary_check, a Lambda of the DeliveryAudit stack) compares the Build
   artifact's DeliveryPipeline and DeliveryAudit templates with the deployed ones and exports
   TRUST_BOUNDARY_CHANGED (namespace TrustBoundary). What will deploy decides, not a list of paths:
   a file no list names still changes a bundle's hash in a template.
2. The ChangeEvidence step's path hint (TRUST_BOUNDARY_PATHS changed since the last self-mutation,
   computed with the system git before any of the change's code runs) can only add to that: any
   value but "false" counts as changed. No baseline counts as changed: the gate fails closed.
3. Stage ApproveTrustBoundary, right before UpdatePipeline, holds a manual approval and the
   already-deployed guard (separation of duties); a VariableCheck entry condition skips it unless
   TRUST_BOUNDARY_CHANGED is "true".
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs.approval_step import approval_action

STAGE_NAME = "ApproveTrustBoundary"
APPROVAL_ACTION = "ApproveTrustBoundaryChange"
GUARD_ACTION = "TrustBoundarySeparationOfDuties"
VALIDATE_ACTION = "Validate"
CHECK_ACTION = "TrustBoundaryCheck"
CHECK_NAMESPACE = "TrustBoundary"
VARIABLE = "TRUST_BOUNDARY_CHANGED"  # pipeline_assets/trust_boundary_check/handler.py exports it
HINT_NAMESPACE, HINT_VARIABLE = "ChangeEvidence", "TRUST_BOUNDARY_HINT"  # constructs/change_evidence.py

# An early hint only (the deployed templates decide): changed anywhere below these, a commit is treated
# as moving the trust boundary even if its templates came out the same.
TRUST_BOUNDARY_PATHS = (
    "pipeline_assets/__init__.py",  # packed into the guard's bundle
    "pipeline_assets/approval_guard/",  # the guard
    "pipeline_assets/ledger/",  # the evidence it writes and reads
    "pipeline_assets/change_evidence/",  # who made the change
    "pipeline_assets/trust_boundary_check/",  # this gate's deployed judge
    "constructs/evidence_functions.py",  # how the guard and ledger are deployed (approvers list)
    "constructs/approver_access.py",  # who may approve
    "constructs/approval_step.py",
    "constructs/lambda_invoke_step.py",
    "constructs/stage_conditions.py",  # which stages are skipped or rolled back
    "constructs/trust_boundary.py",  # this gate
    "constructs/trust_boundary_check.py",
    "constructs/change_evidence.py",
    "constructs/trusted_evidence.py",  # who may write trusted evidence
    "constructs/approvers_role.py",
    "stacks/delivery_pipeline_stack.py",  # the pipeline itself
    "stacks/delivery_audit_stack.py",  # the ledger and guard stack
    "stacks/pipeline_access_stack.py",  # roles in the environment accounts that self-mutation deploys
    "constructs/release_health_reader.py",
    "app.py",  # wires approvers and guard into both stacks
    "config/",  # approvers, break-glass, identity aliases, and what those fields mean
)


def in_boundary(path: str) -> bool:
    """Whether the path hint counts a change to `path` (git pathspec semantics: file or directory)."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in TRUST_BOUNDARY_PATHS)


def boundary_changes(paths: Iterable[str]) -> list[str]:
    """The changed paths that move the trust boundary, sorted."""
    return sorted(path for path in set(paths) if in_boundary(path))


def add_trust_boundary_check(pipeline: codepipeline.Pipeline, *, check: lambda_.IFunction, pipeline_name: str) -> None:
    """The deployed check after Validate, reading Validate's output (the cloud assembly) and the path hint."""
    names = [stage.stage_name for stage in pipeline.stages]
    build = pipeline.stages[names.index("Build")]
    [validate] = [a for a in build.actions if a.action_properties.action_name == VALIDATE_ACTION]
    [assembly] = validate.action_properties.outputs or []
    build.add_action(
        actions.LambdaInvokeAction(
            action_name=CHECK_ACTION,
            run_order=int(validate.action_properties.run_order or 1) + 1,
            lambda_=check,
            inputs=[assembly],
            variables_namespace=CHECK_NAMESPACE,
            user_parameters_string=json.dumps(
                {
                    "hint": f"#{{{HINT_NAMESPACE}.{HINT_VARIABLE}}}",
                    "pipeline_name": pipeline_name,
                    "execution_id": "#{codepipeline.PipelineExecutionId}",
                },
                sort_keys=True,
            ),
        )
    )


def add_trust_boundary_stage(
    pipeline: codepipeline.Pipeline,
    *,
    topic: sns.ITopic,
    guard: lambda_.IFunction,
    pipeline_name: str,
    review_url: str,
) -> None:
    """The approval + deployed guard, right before self-mutation (skipped by StageLayout's entry condition)."""
    names = [stage.stage_name for stage in pipeline.stages]
    if "UpdatePipeline" not in names:
        raise ValueError(f"the trust-boundary gate needs a self-mutating pipeline (stages: {', '.join(names)})")
    update = pipeline.stages[names.index("UpdatePipeline")]
    pipeline.add_stage(
        stage_name=STAGE_NAME,
        placement=codepipeline.StagePlacement(right_before=update),
        actions=[
            approval_action(
                APPROVAL_ACTION,
                1,
                topic=topic,
                comment=(
                    "This commit changes what self-mutation deploys (the pipeline, the approval guard, the ledger, "
                    "the approvers): see the TrustBoundaryCheck action's summary and its record under "
                    "trusted/trust-boundary/ in the evidence bucket. It takes effect only after this approval, "
                    "judged by the guard and approvers deployed now. The approver must not be the author."
                ),
                review_url=review_url,
            ),
            actions.LambdaInvokeAction(
                action_name=GUARD_ACTION,
                run_order=2,
                lambda_=guard,
                user_parameters_string=json.dumps(
                    {
                        "approval_stage": STAGE_NAME,
                        "approval_action": APPROVAL_ACTION,
                        "pipeline_name": pipeline_name,
                        "execution_id": "#{codepipeline.PipelineExecutionId}",
                    },
                    sort_keys=True,
                ),
            ),
        ],
    )
