"""CodePipeline V2 stage structure and conditions that CDK Pipelines has no property for (escape hatches).

CDK Pipelines renders one CodePipeline stage per Stage/Wave and has no stage conditions. `StageLayout`
takes the rendered stages once, after every L2 stage and action exists, lets the pipeline stack
reshape them by *name* (never by index: adding a stage shifts every index after it, see
TOOLCHAIN.md), and writes them back as one `Stages` override.

OnFailure ROLLBACK: a failed deploy in the stage re-runs the stage with the last successful
execution's artifacts. OnSuccess: after the stage succeeds, the release-health alarm is watched for
the bake period; if it goes to ALARM the stage is rolled back the same way. BeforeEntry SKIP: the
stage runs only while a VariableCheck rule holds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codepipeline as codepipeline

Stage = dict[str, Any]


def bake_condition(*, alarm_name: str, bake_minutes: int, alarm_reader_role_arn: str) -> dict[str, Any]:
    return {
        "Result": "ROLLBACK",
        "Rules": [
            {
                "Name": "ReleaseHealthBake",
                "RuleTypeId": {"Category": "Rule", "Owner": "AWS", "Provider": "CloudWatchAlarm", "Version": "1"},
                "Configuration": {"AlarmName": alarm_name, "AlarmStates": "ALARM", "WaitTime": str(bake_minutes)},
                # The alarm lives in the environment's account; the pipeline's service role, which
                # evaluates stage conditions, reads it through this role (it must be allowed to assume it).
                "RoleArn": alarm_reader_role_arn,
            }
        ],
    }


def skip_unless_condition(*, rule_name: str, variable: str, equals: str) -> dict[str, Any]:
    """Enter the stage when `variable` == `equals`; otherwise skip it (VariableCheck supports SKIP)."""
    return {
        "Result": "SKIP",
        "Rules": [
            {
                "Name": rule_name,
                "RuleTypeId": {"Category": "Rule", "Owner": "AWS", "Provider": "VariableCheck", "Version": "1"},
                "Configuration": {"Variable": variable, "Value": equals, "Operator": "EQ"},
            }
        ],
    }


def _find(stages: list[Stage], name: str) -> Stage:
    for stage in stages:
        if stage["Name"] == name:
            return stage
    raise ValueError(f"pipeline has no stage {name!r} (stages: {', '.join(s['Name'] for s in stages)})")


def _find_action(stages: list[Stage], stage_name: str, action_name: str) -> dict[str, Any]:
    for action in _find(stages, stage_name)["Actions"]:
        if action["Name"] == action_name:
            return action
    raise ValueError(f"stage {stage_name!r} has no action {action_name!r}")


def _split(stages: list[Stage], stage_name: str, new_stage_name: str, moves: Callable[[str], bool]) -> None:
    if new_stage_name in [s["Name"] for s in stages]:
        raise ValueError(f"pipeline already has a stage {new_stage_name!r}")
    source = _find(stages, stage_name)
    moved = [a for a in source["Actions"] if moves(a["Name"])]
    kept = [a for a in source["Actions"] if not moves(a["Name"])]
    if not moved or not kept:
        raise ValueError(
            f"splitting {stage_name!r} into {new_stage_name!r} must leave actions in both "
            f"(moving {len(moved)} of {len(source['Actions'])})"
        )
    offset = min(a["RunOrder"] for a in moved) - 1
    source["Actions"] = kept
    new_stage: Stage = {"Name": new_stage_name, "Actions": [{**a, "RunOrder": a["RunOrder"] - offset} for a in moved]}
    stages.insert(stages.index(source) + 1, new_stage)


def _walk(value: Any, replace: Callable[[Any], Any]) -> Any:
    replaced = replace(value)
    if replaced is not value:
        return replaced
    if isinstance(value, dict):
        return {k: _walk(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, replace) for v in value]
    return value


def _referenced_ids(value: Any) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"} and not str(node["Ref"]).startswith("AWS::"):
            found.add(str(node["Ref"]))
        if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
            found.add(str(node["Fn::GetAtt"][0]))
        return node

    _walk(value, visit)
    return found


def _join_as_sub(value: Any) -> Any:
    if not (isinstance(value, dict) and set(value) == {"Fn::Join"} and value["Fn::Join"][0] == ""):
        return value
    parts = []
    for part in value["Fn::Join"][1]:
        if isinstance(part, str) and "${" not in part:
            parts.append(part)
        elif isinstance(part, dict) and set(part) == {"Ref"} and isinstance(part["Ref"], str):
            parts.append("${" + part["Ref"] + "}")
        else:
            return value
    return {"Fn::Sub": "".join(parts)}


class StageLayout:
    """The pipeline's rendered stages, reshaped by name and applied once as the `Stages` override.

    The stages are rendered (resolved) now, before CDK turns cross-stack references into
    exports/imports at synthesis: a reference to another stack's resource would come out as a
    plain Ref. So every such token is passed in `references` and put back as a token, which CDK
    then resolves to an import as usual; any other foreign reference is an error here.
    Call `apply()` last: L2 stages or actions added to the pipeline afterwards would not appear.
    """

    def __init__(self, pipeline: codepipeline.Pipeline, *, references: Sequence[str] = ()) -> None:
        cfn = pipeline.node.default_child
        assert isinstance(cfn, codepipeline.CfnPipeline)
        self._cfn = cfn
        stack = cdk.Stack.of(pipeline)
        resolved = stack.resolve(cfn.stages)
        # The L1's own converter turns the L2's camelCase declarations into CloudFormation's shape
        # (it validates the whole props object, hence the placeholder for the required roleArn).
        rendered = copy.deepcopy(list(cfn._render_properties({"stages": resolved, "roleArn": "unused"})["Stages"]))
        tokens = {json.dumps(stack.resolve(t), sort_keys=True): t for t in references}
        self.stages: list[Stage] = _walk(
            rendered,
            lambda node: tokens.get(json.dumps(node, sort_keys=True), node) if isinstance(node, dict) else node,
        )
        local = {
            stack.resolve(e.logical_id)
            for e in stack.node.find_all()
            if isinstance(e, cdk.CfnElement) and cdk.Stack.of(e) is stack
        }
        foreign = _referenced_ids(self.stages) - local
        if foreign:
            raise ValueError(
                f"pipeline stages reference {', '.join(sorted(foreign))} of another stack; pass the referencing "
                "token (e.g. function.function_name) to StageLayout(references=...) so it becomes an import"
            )

    @property
    def names(self) -> list[str]:
        return [stage["Name"] for stage in self.stages]

    def stage(self, name: str) -> Stage:
        return _find(self.stages, name)

    def action(self, stage_name: str, action_name: str) -> dict[str, Any]:
        return _find_action(self.stages, stage_name, action_name)

    def set_action_property(self, stage_name: str, action_name: str, key: str, value: Any) -> None:
        _find_action(self.stages, stage_name, action_name)[key] = value

    def split_stage(self, stage_name: str, new_stage_name: str, moves: Callable[[str], bool]) -> None:
        """Move the actions whose name `moves` into a new stage right after `stage_name`.

        Run orders are kept relative and restart at 1, so dependencies among the moved actions hold.
        The caller guarantees no action left behind depends on a moved one.
        """
        _split(self.stages, stage_name, new_stage_name, moves)

    def set_rollback(self, stage_name: str, *, alarm_name: str, bake_minutes: int, alarm_reader_role_arn: str) -> None:
        bake = bake_condition(
            alarm_name=alarm_name, bake_minutes=bake_minutes, alarm_reader_role_arn=alarm_reader_role_arn
        )
        _find(self.stages, stage_name).update(
            {"OnFailure": {"Result": "ROLLBACK"}, "OnSuccess": {"Conditions": [bake]}}
        )

    def set_before_entry(self, stage_name: str, condition: dict[str, Any]) -> None:
        _find(self.stages, stage_name)["BeforeEntry"] = {"Conditions": [condition]}

    def configuration_role_arns_as_sub(self) -> None:
        """Write CDK's `Fn::Join ["", ...]` role ARNs in action configurations as the equal `Fn::Sub`.

        cfn-lint's pipeline-action rule (E3703) checks Configuration.RoleArn as an ARN and accepts a
        Sub but not a Join; CloudFormation resolves both to the same string. Only joins of literals
        and Refs are rewritten; anything else is left as CDK rendered it.
        """
        for stage in self.stages:
            for action in stage["Actions"]:
                configuration = action.get("Configuration") or {}
                if "RoleArn" in configuration:
                    configuration["RoleArn"] = _join_as_sub(configuration["RoleArn"])

    def apply(self) -> None:
        self._cfn.add_property_override("Stages", self.stages)
