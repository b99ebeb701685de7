"""CodePipeline V2 stage conditions that CDK Pipelines has no property for (escape hatches).

OnFailure ROLLBACK: a failed deploy in the stage re-runs the stage with the last successful
execution's artifacts. OnSuccess: after the stage succeeds, the release-health alarm is watched for
the bake period; if it goes to ALARM the stage is rolled back the same way.
"""

from __future__ import annotations

from aws_cdk import aws_codepipeline as codepipeline


def stage_index(pipeline: codepipeline.Pipeline, stage_name: str) -> int:
    names = [stage.stage_name for stage in pipeline.stages]
    if stage_name not in names:
        raise ValueError(f"pipeline has no stage {stage_name!r} (stages: {', '.join(names)})")
    return names.index(stage_name)


def add_rollback_conditions(
    pipeline: codepipeline.Pipeline,
    *,
    stage_name: str,
    alarm_name: str,
    bake_minutes: int,
    alarm_reader_role_arn: str,
) -> None:
    cfn = pipeline.node.default_child
    assert isinstance(cfn, codepipeline.CfnPipeline)
    index = stage_index(pipeline, stage_name)
    cfn.add_property_override(f"Stages.{index}.OnFailure", {"Result": "ROLLBACK"})
    cfn.add_property_override(
        f"Stages.{index}.OnSuccess",
        {
            "Conditions": [
                {
                    "Result": "ROLLBACK",
                    "Rules": [
                        {
                            "Name": "ReleaseHealthBake",
                            "RuleTypeId": {
                                "Category": "Rule",
                                "Owner": "AWS",
                                "Provider": "CloudWatchAlarm",
                                "Version": "1",
                            },
                            "Configuration": {
                                "AlarmName": alarm_name,
                                "AlarmStates": "ALARM",
                                "WaitTime": str(bake_minutes),
                            },
                            # The alarm lives in the environment's account; the rule reads it through this role.
                            "RoleArn": alarm_reader_role_arn,
                        }
                    ],
                }
            ]
        },
    )
