"""The delivery pipeline's side of a rollback: which execution deployed a release, and RollbackStage to it.

The pipeline's synth action (stage `Build`, action `Validate`) exports the release id it built as
the CodeBuild variable `RELEASE_ID`; CodePipeline records it in the action execution's
`output.outputVariables`. An execution *deployed* the release to an environment when every action
of the pipeline stage that deploys the environment's release lane succeeded in it: the release-lane
stage `<Stage>Release` where the environment has one (prod: `ProdRelease`, after `ApproveProd` and
the platform stage `Prod`), else the environment's stage itself (`Staging`). `RollbackStage`
re-runs that stage with that execution's artifacts, i.e. CloudFormation updates the release lane
stack back to the template that carries the release, and the activator custom resource
re-activates it. In a release-lane stage nothing else is redeployed and no approval waits.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from platform_vocabulary.naming import release_lane_stage

RELEASE_VARIABLE = "RELEASE_ID"
SYNTH_STAGE = "Build"
# Enough for months of history at 35 releases a week, and a bound on a looping paginator.
MAX_ACTION_EXECUTIONS = 5000
TERMINAL_OK = {"Succeeded"}
TERMINAL_BAD = {"Failed", "Stopped", "Cancelled", "Superseded"}


class PipelineError(Exception):
    """The pipeline cannot roll back; `code` says why (the fallback's trigger and its log line)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ArtifactLocation:
    name: str
    bucket: str
    key: str


@dataclass(frozen=True)
class Deployment:
    pipeline_execution_id: str
    release_id: str
    deployed_at: datetime | None
    synth_artifacts: tuple[ArtifactLocation, ...]
    stage: str = ""  # the pipeline stage that deployed the release lane: what RollbackStage re-runs
    # The pipeline structure version the execution ran in, and the newest version any execution ran in:
    # CodePipeline rolls a stage back only to an execution of the current structure (None: not reported).
    pipeline_version: int | None = None
    newest_pipeline_version: int | None = None

    def structure_changed_since(self) -> str | None:
        """Why RollbackStage cannot target this execution, when the history already shows it."""
        if self.pipeline_version is None or self.newest_pipeline_version is None:
            return None
        if self.newest_pipeline_version <= self.pipeline_version:
            return None
        return (
            f"execution {self.pipeline_execution_id} ran pipeline version {self.pipeline_version} and later "
            f"executions run version {self.newest_pipeline_version}: CodePipeline rolls a stage back only to an "
            "execution of the current pipeline structure (first release after a pipeline change)"
        )


def _deploying_stage(actions: list[dict[str, Any]], stage: str) -> tuple[str, list[dict[str, Any]]]:
    """The release-lane stage's actions of one execution if it ran one, else the environment stage's."""
    for candidate in (release_lane_stage(stage), stage):
        found = [a for a in actions if a.get("stageName") == candidate]
        if found:
            return candidate, found
    return stage, []


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else type(exc).__name__


def action_executions(codepipeline: Any, pipeline: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    try:
        while len(items) < MAX_ACTION_EXECUTIONS:
            kwargs: dict[str, Any] = {"pipelineName": pipeline, "maxResults": 100}
            if token:
                kwargs["nextToken"] = token
            page = codepipeline.list_action_executions(**kwargs)
            items.extend(page.get("actionExecutionDetails", []))
            token = page.get("nextToken")
            if not token:
                break
    except Exception as exc:
        raise PipelineError(_code(exc), f"cannot list the action executions of pipeline {pipeline}: {exc}") from exc
    return items


def find_deployment(
    codepipeline: Any, pipeline: str, stage: str, release_id: str, *, synth_stage: str = SYNTH_STAGE
) -> Deployment:
    """The newest execution that built `release_id` and deployed it through `stage`."""
    by_execution: dict[str, list[dict[str, Any]]] = defaultdict(list)
    versions: list[int] = []
    for action in action_executions(codepipeline, pipeline):
        by_execution[action["pipelineExecutionId"]].append(action)
        if isinstance(action.get("pipelineVersion"), int):
            versions.append(action["pipelineVersion"])
    newest = max(versions, default=None)
    built: dict[str, tuple[ArtifactLocation, ...]] = {}
    for execution_id, actions in by_execution.items():
        for action in actions:
            output = action.get("output") or {}
            if (
                action.get("stageName") == synth_stage
                and action.get("status") == "Succeeded"
                and (output.get("outputVariables") or {}).get(RELEASE_VARIABLE) == release_id
            ):
                built[execution_id] = tuple(
                    ArtifactLocation(a["name"], a["s3location"]["bucket"], a["s3location"]["key"])
                    for a in output.get("outputArtifacts", [])
                    if a.get("s3location")
                )
    if not built:
        raise PipelineError(
            "NoSuchExecution",
            f"no execution of {pipeline} in its last {sum(map(len, by_execution.values()))} action executions "
            f"built {release_id} (output variable {RELEASE_VARIABLE} of the {synth_stage} stage)",
        )
    deployed = []
    for execution_id, artifacts in built.items():
        deploying, actions = _deploying_stage(by_execution[execution_id], stage)
        if actions and all(a.get("status") == "Succeeded" for a in actions):
            times: list[datetime] = [a["lastUpdateTime"] for a in actions if a.get("lastUpdateTime")]
            finished = max(times) if times else None
            ran_in = [a["pipelineVersion"] for a in actions if isinstance(a.get("pipelineVersion"), int)]
            deployed.append(
                Deployment(
                    execution_id,
                    release_id,
                    finished,
                    artifacts,
                    deploying,
                    pipeline_version=max(ran_in, default=None),
                    newest_pipeline_version=newest,
                )
            )
    if not deployed:
        raise PipelineError(
            "NotDeployed",
            f"{release_id} was built by execution(s) {', '.join(sorted(built))}; none of them completed stage "
            f"{release_lane_stage(stage)} or {stage}",
        )
    return max(deployed, key=lambda d: (d.deployed_at is not None, d.deployed_at or datetime.min))


def start_rollback(codepipeline: Any, pipeline: str, stage: str, execution_id: str) -> str:
    try:
        response = codepipeline.rollback_stage(
            pipelineName=pipeline, stageName=stage, targetPipelineExecutionId=execution_id
        )
    except Exception as exc:
        raise PipelineError(_code(exc), f"RollbackStage {pipeline}/{stage} to {execution_id} refused: {exc}") from exc
    return str(response["pipelineExecutionId"])


def wait_for_execution(
    codepipeline: Any,
    pipeline: str,
    execution_id: str,
    *,
    timeout_s: float,
    poll_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_status: Callable[[str], None] = lambda status: None,
) -> str:
    started = clock()
    last = None
    while True:
        try:
            execution = codepipeline.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
        except Exception as exc:
            raise PipelineError(_code(exc), f"cannot read rollback execution {execution_id}: {exc}") from exc
        status = str(execution["pipelineExecution"]["status"])
        if status != last:
            on_status(status)
            last = status
        if status in TERMINAL_OK:
            return status
        if status in TERMINAL_BAD:
            summary = execution["pipelineExecution"].get("statusSummary") or ""
            raise PipelineError(
                "RollbackExecutionFailed", f"rollback execution {execution_id} ended {status} {summary}".strip()
            )
        if clock() - started > timeout_s:
            raise PipelineError("Timeout", f"rollback execution {execution_id} still {status} after {timeout_s:.0f} s")
        sleep(poll_s)
