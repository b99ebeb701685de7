"""Finding the execution that deployed a release, with the release lane in its own pipeline stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cicd.rollback.pipeline import PipelineError, find_deployment, release_lane_stage, start_rollback

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _action(execution: str, stage: str, name: str, status: str = "Succeeded", *, minutes: int = 0, release=None):
    output = {}
    if release:
        output = {
            "outputVariables": {"RELEASE_ID": release},
            "outputArtifacts": [{"name": "Synth_Output", "s3location": {"bucket": "b", "key": f"{execution}.zip"}}],
        }
    return {
        "pipelineExecutionId": execution,
        "stageName": stage,
        "actionName": name,
        "status": status,
        "lastUpdateTime": NOW + timedelta(minutes=minutes),
        "output": output,
    }


class FakePipeline:
    def __init__(self, actions: list[dict]) -> None:
        self.actions = actions
        self.rollbacks: list[tuple[str, str]] = []

    def list_action_executions(self, **_: object) -> dict:
        return {"actionExecutionDetails": self.actions}

    def rollback_stage(self, pipelineName: str, stageName: str, targetPipelineExecutionId: str) -> dict:  # noqa: N803
        self.rollbacks.append((stageName, targetPipelineExecutionId))
        return {"pipelineExecutionId": "rollback-1"}


def _released(execution: str, release: str, *, platform_ok: bool = True, lane: str = "Succeeded") -> list[dict]:
    return [
        _action(execution, "Build", "Validate", release=release),
        _action(execution, "ApproveProd", "PromoteToProd", minutes=10),
        _action(execution, "Prod", "Storage.Deploy", "Succeeded" if platform_ok else "Failed", minutes=20),
        _action(execution, "ProdRelease", "Release.Prepare", minutes=30),
        _action(execution, "ProdRelease", "Release.Deploy", lane, minutes=31),
    ]


def test_the_release_lane_stage_deployed_the_release_and_is_what_rolls_back():
    pipeline = FakePipeline(_released("e1", "r-a"))
    deployment = find_deployment(pipeline, "p", "Prod", "r-a")
    assert (deployment.pipeline_execution_id, deployment.stage) == ("e1", "ProdRelease")
    assert deployment.deployed_at == NOW + timedelta(minutes=31)
    start_rollback(pipeline, "p", deployment.stage, deployment.pipeline_execution_id)
    assert pipeline.rollbacks == [("ProdRelease", "e1")]


def test_a_failed_release_lane_is_not_a_deployment_even_when_the_platform_stage_succeeded():
    pipeline = FakePipeline(_released("e1", "r-a", lane="Failed"))
    with pytest.raises(PipelineError, match="none of them completed stage ProdRelease or Prod") as caught:
        find_deployment(pipeline, "p", "Prod", "r-a")
    assert caught.value.code == "NotDeployed"


def test_the_platform_stage_does_not_decide_once_a_release_lane_stage_exists():
    # Storage failing in Prod leaves ProdRelease unrun in real life; here it shows which stage is read.
    pipeline = FakePipeline(_released("e1", "r-a", platform_ok=False))
    assert find_deployment(pipeline, "p", "Prod", "r-a").stage == "ProdRelease"


def test_environments_without_a_release_lane_stage_and_older_executions_use_the_stage_itself():
    staging = [
        _action("e2", "Build", "Validate", release="r-b"),
        _action("e2", "Staging", "Release.Deploy", minutes=5),
    ]
    assert find_deployment(FakePipeline(staging), "p", "Staging", "r-b").stage == "Staging"
    assert release_lane_stage("Staging") == "StagingRelease"
