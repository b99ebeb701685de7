"""The delivery pipelines of an assembly and the order in which its stacks come into existence.

Stacks of the root assembly are deployed by hand (`cdk deploy`, README's bootstrap) in the order of their
manifest dependencies, before any pipeline runs. Stacks of a stage's nested assembly are deployed by a
pipeline's CloudFormation actions: stage by stage, and by run order within a stage. Whatever a stack or a
pipeline definition names must exist by then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cicd.readiness.assembly import Assembly, Resource, Stack

EXECUTE_MODES = {"CHANGE_SET_EXECUTE", "CREATE_UPDATE", "REPLACE_ON_FAILURE"}
ARN_ACCOUNT = r"arn:[^:]+:[^:]+:[^:]*:(\d{12}):"


@dataclass(frozen=True)
class Action:
    stage_index: int
    stage_name: str
    name: str
    category: str
    provider: str
    run_order: int
    role_arn: str | None  # the action's own role, resolved; None: the pipeline role performs it
    configuration: dict[str, Any] = field(hash=False)

    @property
    def where(self) -> str:
        return f"stage {self.stage_name}, action {self.name}"


@dataclass(frozen=True)
class Pipeline:
    resource: Resource
    role_arn: str
    stages: tuple[dict[str, Any], ...] = field(hash=False)  # each stage, resolved
    actions: tuple[Action, ...] = field(hash=False)


def pipelines(assembly: Assembly) -> list[Pipeline]:
    found = []
    for resource in assembly.resources("AWS::CodePipeline::Pipeline"):
        props = assembly.deep(resource.stack, resource.props)
        stages = tuple(stage for stage in props.get("Stages") or () if isinstance(stage, dict))
        actions = []
        for index, stage in enumerate(stages):
            for action in stage.get("Actions") or ():
                type_id = action.get("ActionTypeId") or {}
                actions.append(
                    Action(
                        stage_index=index,
                        stage_name=str(stage.get("Name")),
                        name=str(action.get("Name")),
                        category=str(type_id.get("Category")),
                        provider=str(type_id.get("Provider")),
                        run_order=int(action.get("RunOrder") or 1),
                        role_arn=str(action["RoleArn"]) if action.get("RoleArn") else None,
                        configuration=action.get("Configuration") or {},
                    )
                )
        found.append(Pipeline(resource, str(props.get("RoleArn", "")), stages, tuple(actions)))
    return found


@dataclass(frozen=True, order=True)
class Step:
    """A point in time of the first deployment: the hand-run `cdk deploy`, then pipeline stages."""

    phase: int  # 0: `cdk deploy` of the root assembly; 1: a pipeline run
    stage: int
    run_order: int
    label: str = field(compare=False)


class DeployOrder:
    def __init__(self, assembly: Assembly) -> None:
        self.assembly = assembly
        self.pipelines = pipelines(assembly)
        self.steps: dict[str, Step] = {}  # stack path -> the step that creates it
        for pipeline in self.pipelines:
            for action in pipeline.actions:
                mode = str(action.configuration.get("ActionMode", ""))
                if action.provider != "CloudFormation" or mode not in EXECUTE_MODES:
                    continue
                stack = self._deployed_stack(action)
                if stack is not None and stack.path not in self.steps:
                    self.steps[stack.path] = Step(
                        1,
                        action.stage_index,
                        action.run_order,
                        f"pipeline {pipeline.resource.stack.path} {action.where} (run order {action.run_order})",
                    )

    def _deployed_stack(self, action: Action) -> Stack | None:
        name = str(action.configuration.get("StackName", ""))
        account = account_of(action.role_arn or "")
        candidates = [s for s in self.assembly.stacks if not s.top_level and s.name == name]
        exact = [s for s in candidates if account is None or s.account == account]
        return (exact or candidates)[0] if candidates else None

    def step(self, stack: Stack) -> Step | None:
        if stack.top_level:
            return Step(0, 0, 0, "`cdk deploy` of the root assembly")
        return self.steps.get(stack.path)

    def describe(self, stack: Stack) -> str:
        step = self.step(stack)
        return step.label if step is not None else "no pipeline action deploys it"

    def depends_on(self, stack: Stack, other: Stack) -> bool:
        """Whether `stack` depends on `other` through the manifest, directly or through other stacks."""
        seen: set[str] = set()
        pending = list(stack.dependencies)
        while pending:
            artifact = pending.pop()
            if artifact in seen:
                continue
            seen.add(artifact)
            if artifact == other.artifact_id:
                return True
            dependency = self.assembly.by_artifact.get(artifact)
            if dependency is not None:
                pending += dependency.dependencies
        return False

    def exists_before(self, creator: Stack, need: Stack | Step) -> bool:
        """Whether `creator` is deployed before `need` (a stack's deployment, or a pipeline step) starts."""
        if creator is need:
            return True
        if creator.top_level:
            if isinstance(need, Stack) and need.top_level:
                return self.depends_on(need, creator)
            return True  # the root stacks are deployed before the pipeline first runs
        created = self.steps.get(creator.path)
        if created is None:
            return False
        needed = need if isinstance(need, Step) else self.step(need)
        return (
            needed is not None
            and needed.phase == 1
            and (created.stage, created.run_order)
            < (
                needed.stage,
                needed.run_order,
            )
        )


def account_of(arn: str) -> str | None:
    """The account of an ARN (None for ARNs without one, such as S3 buckets')."""
    match = re.match(ARN_ACCOUNT, arn)
    return match[1] if match else None
