"""The trust boundary: a change to who approves, or to the guard that judges approvals, is judged by the OLD ones.

Self-mutation (stage UpdatePipeline) deploys the pipeline stack and the stacks it depends on (the
evidence ledger and the approval guard) before any later stage runs. Without this gate a commit that
changes the guard, the ledger, the approvers or the pipeline itself would be live before the
approval that is meant to judge it. So:

1. The Validate build lists the trust-boundary paths changed since the commit of the newest
   execution that got through UpdatePipeline (that commit's boundary is live, whoever judged it).
   The commands are in the *deployed* build spec (CodeBuild runs the project as last deployed), so
   a commit cannot rewrite the list that classifies it: the list lives in this file, which is itself
   inside the boundary. It writes `trust-boundary.json` to the evidence and exports
   TRUST_BOUNDARY_CHANGED.
2. Stage ApproveTrustBoundary, placed right before UpdatePipeline, holds a manual approval and the
   already-deployed guard (separation of duties), and is skipped by a VariableCheck entry condition
   unless TRUST_BOUNDARY_CHANGED is "true". No baseline (first run, history gone, commit not in the
   clone) counts as changed: the gate fails closed.

All of config/ is inside: approvers, break-glass and identity aliases are nested YAML mappings, and
a line-level filter (`git diff -G`) cannot tell an alias list entry from a bake-time change, so any
config change is judged (fail closed; config changes are rare next to code changes).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs.approval_step import approval_action

STAGE_NAME = "ApproveTrustBoundary"
APPROVAL_ACTION = "ApproveTrustBoundaryChange"
GUARD_ACTION = "TrustBoundarySeparationOfDuties"
VARIABLE = "TRUST_BOUNDARY_CHANGED"
EVIDENCE_FILE = "build/cdk.out/evidence/trust-boundary.json"
PATHS_FILE = "build/trust-boundary-paths.txt"

# Changed anywhere below these, a commit moves the trust boundary.
TRUST_BOUNDARY_PATHS = (
    "pipeline_assets/approval_guard/",  # the guard
    "pipeline_assets/ledger/",  # the evidence it writes and reads
    "constructs/evidence_functions.py",  # how the guard and ledger are deployed (approvers list)
    "constructs/approver_access.py",  # who may approve
    "constructs/approval_step.py",
    "constructs/lambda_invoke_step.py",
    "constructs/stage_conditions.py",  # which stages are skipped or rolled back
    "constructs/trust_boundary.py",  # this gate
    "stacks/delivery_pipeline_stack.py",  # the pipeline itself
    "stacks/delivery_audit_stack.py",  # the ledger and guard stack
    "app.py",  # wires approvers and guard into both stacks
    "config/",  # approvers, break-glass, identity aliases, and what those fields mean
)


def in_boundary(path: str) -> bool:
    """Whether a change to `path` moves the trust boundary (git pathspec semantics: file or directory)."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in TRUST_BOUNDARY_PATHS)


def boundary_changes(paths: Iterable[str]) -> list[str]:
    """The changed paths that move the trust boundary, sorted."""
    return sorted(path for path in set(paths) if in_boundary(path))


def baseline_commands(pipeline_name_var: str = "PIPELINE_NAME") -> list[str]:
    """Find BASE_COMMIT: the source commit of the newest execution whose self-mutation succeeded."""
    query = "actionExecutionDetails[?stageName=='UpdatePipeline' && status=='Succeeded'] | [0].pipelineExecutionId"
    return [
        f'BASE_EXECUTION="$(aws codepipeline list-action-executions --pipeline-name "${pipeline_name_var}" '
        f'--max-items 1000 --query "{query}" --output text 2>/dev/null || true)"',
        f'BASE_COMMIT="$(aws codepipeline get-pipeline-execution --pipeline-name "${pipeline_name_var}" '
        '--pipeline-execution-id "$BASE_EXECUTION" --query "pipelineExecution.artifactRevisions[0].revisionId" '
        '--output text 2>/dev/null || true)"',
    ]


def classify_commands() -> list[str]:
    """List the boundary paths changed since $BASE_COMMIT, export the variable, write the evidence.

    Plain git and python3 (no repository code runs: the commit under review cannot change the verdict).
    """
    paths = " ".join(shlex.quote(p.rstrip("/")) for p in TRUST_BOUNDARY_PATHS)
    diff = f'git diff --name-only "$BASE_COMMIT" HEAD -- {paths}'
    evidence = (
        "import json, os; paths = open(os.environ['PATHS_FILE']).read().split(); "
        "print(json.dumps({'commit': os.environ.get('CODEBUILD_RESOLVED_SOURCE_VERSION'), "
        "'baseline_commit': os.environ.get('BASE_COMMIT') or None, 'changed': os.environ['"
        + VARIABLE
        + "'] == 'true', "
        "'paths': paths, 'rules': {'paths': " + repr(list(TRUST_BOUNDARY_PATHS)) + "}}, "
        "indent=2, sort_keys=True))"
    )
    return [
        f"mkdir -p build/cdk.out/evidence && export PATHS_FILE={PATHS_FILE}",
        f'if [ -n "$BASE_COMMIT" ] && git cat-file -e "$BASE_COMMIT^{{commit}}" 2>/dev/null; '
        f'then {diff} | sort -u > "$PATHS_FILE"; '
        f'else echo "no-baseline:${{BASE_COMMIT:-none}}" > "$PATHS_FILE"; fi',
        f'if [ -s "$PATHS_FILE" ]; then export {VARIABLE}=true; else export {VARIABLE}=false; fi',
        f"python3 -c {shlex.quote(evidence)} > {EVIDENCE_FILE}",
    ]


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
                    "This commit changes the trust boundary (approval guard, ledger, approvers or the pipeline "
                    "itself): see trust-boundary.json in the Validate evidence. It takes effect only after this "
                    "approval, judged by the guard and approvers deployed now. The approver must not be the author."
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
