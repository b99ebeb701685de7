"""StageLayout reshapes a real L2 pipeline's stages by name and lands them in the template."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_s3 as s3
from constructs.stage_conditions import StageLayout, skip_unless_condition

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


def _pipeline(bucket_in_other_stack: bool = False) -> tuple[cdk.Stack, codepipeline.Pipeline]:
    app = cdk.App()
    stack = cdk.Stack(app, "Test", env=ENV)
    bucket = s3.Bucket(cdk.Stack(app, "Other", env=ENV) if bucket_in_other_stack else stack, "Bucket")
    source = codepipeline.Artifact("Source")
    pipeline = codepipeline.Pipeline(stack, "Pipeline", pipeline_type=codepipeline.PipelineType.V2)
    pipeline.add_stage(
        stage_name="Source",
        actions=[actions.S3SourceAction(action_name="Fetch", bucket=bucket, bucket_key="src.zip", output=source)],
    )
    pipeline.add_stage(
        stage_name="Prod",
        actions=[
            actions.ManualApprovalAction(action_name="Storage.Prepare", run_order=1),
            actions.ManualApprovalAction(action_name="Storage.Deploy", run_order=2),
            actions.ManualApprovalAction(action_name="Release.Prepare", run_order=3),
            actions.ManualApprovalAction(action_name="Release.Deploy", run_order=4),
        ],
    )
    return stack, pipeline


def _stages(stack: cdk.Stack) -> list[dict]:
    [pipeline] = assertions.Template.from_stack(stack).find_resources("AWS::CodePipeline::Pipeline").values()
    return pipeline["Properties"]["Stages"]


def test_split_moves_actions_into_a_new_stage_after_the_source_with_run_orders_from_one():
    stack, pipeline = _pipeline()
    layout = StageLayout(pipeline)
    layout.split_stage("Prod", "ProdRelease", lambda name: name.startswith("Release."))
    layout.set_rollback("ProdRelease", alarm_name="health", bake_minutes=20, alarm_reader_role_arn="arn:reader")
    layout.apply()

    stages = _stages(stack)
    assert [s["Name"] for s in stages] == ["Source", "Prod", "ProdRelease"]
    assert [(a["Name"], a["RunOrder"]) for a in stages[1]["Actions"]] == [("Storage.Prepare", 1), ("Storage.Deploy", 2)]
    assert [(a["Name"], a["RunOrder"]) for a in stages[2]["Actions"]] == [("Release.Prepare", 1), ("Release.Deploy", 2)]
    assert "OnFailure" not in stages[1] and stages[2]["OnFailure"] == {"Result": "ROLLBACK"}
    [rule] = stages[2]["OnSuccess"]["Conditions"][0]["Rules"]
    assert rule["Configuration"] == {"AlarmName": "health", "AlarmStates": "ALARM", "WaitTime": "20"}
    assert rule["RoleArn"] == "arn:reader"
    assert stages[0]["Actions"][0]["Configuration"]["S3ObjectKey"] == "src.zip"  # the rest is kept as rendered


def test_entry_condition_skips_unless_the_variable_matches():
    stack, pipeline = _pipeline()
    layout = StageLayout(pipeline)
    layout.set_before_entry("Prod", skip_unless_condition(rule_name="Changed", variable="#{V.X}", equals="true"))
    layout.apply()
    [condition] = _stages(stack)[1]["BeforeEntry"]["Conditions"]
    assert condition["Result"] == "SKIP"
    assert condition["Rules"][0]["RuleTypeId"]["Provider"] == "VariableCheck"
    assert condition["Rules"][0]["Configuration"] == {"Variable": "#{V.X}", "Value": "true", "Operator": "EQ"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda layout: layout.stage("Nope"), "pipeline has no stage 'Nope' (stages: Source, Prod)"),
        (lambda layout: layout.action("Prod", "Nope"), "stage 'Prod' has no action 'Nope'"),
        (lambda layout: layout.split_stage("Prod", "Source", lambda n: True), "already has a stage 'Source'"),
        (lambda layout: layout.split_stage("Prod", "X", lambda n: True), "must leave actions in both"),
        (lambda layout: layout.split_stage("Prod", "X", lambda n: False), "must leave actions in both"),
    ],
)
def test_mistakes_name_the_stage_and_what_is_wrong(call, message):
    _, pipeline = _pipeline()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(StageLayout(pipeline))


def test_a_cross_stack_reference_stays_an_import_when_its_token_is_passed():
    stack, pipeline = _pipeline(bucket_in_other_stack=True)
    with pytest.raises(ValueError, match=r"reference Bucket\w+ of another stack; pass the referencing token"):
        StageLayout(pipeline)
    other_bucket = stack.node.root.node.find_child("Other").node.find_child("Bucket")
    layout = StageLayout(pipeline, references=[other_bucket.bucket_name])
    layout.apply()
    bucket = _stages(stack)[0]["Actions"][0]["Configuration"]["S3Bucket"]
    assert "Fn::ImportValue" in bucket  # a plain Ref here would name a resource this template does not have


@pytest.mark.parametrize(
    ("role_arn", "expected"),
    [
        (
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::222222222222:role/deploy"]]},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::222222222222:role/deploy"},
        ),
        ({"Fn::GetAtt": ["Role", "Arn"]}, {"Fn::GetAtt": ["Role", "Arn"]}),
        (
            {"Fn::Join": ["", ["a", {"Fn::GetAtt": ["R", "Arn"]}]]},
            {"Fn::Join": ["", ["a", {"Fn::GetAtt": ["R", "Arn"]}]]},
        ),
        ({"Fn::Join": [":", ["a", "b"]]}, {"Fn::Join": [":", ["a", "b"]]}),
    ],
)
def test_configuration_role_arns_become_the_equal_sub_only_when_they_are_plain_joins(role_arn, expected):
    _, pipeline = _pipeline()
    layout = StageLayout(pipeline)
    layout.stage("Prod")["Actions"][0]["Configuration"] = {"RoleArn": role_arn}
    layout.configuration_role_arns_as_sub()
    assert layout.stage("Prod")["Actions"][0]["Configuration"]["RoleArn"] == expected
