"""The roles the delivery pipeline names in environment accounts exist before the pipeline (B2)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import assertions

from stacks.pipeline_access_stack import PipelineAccessStack

ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def top_level(whole_app) -> dict:
    return {child.node.id: child for child in whole_app.node.children}


def access_stack(top_level, env: str) -> PipelineAccessStack:
    stack = top_level[f"{env.capitalize()}PipelineAccess"]
    assert isinstance(stack, PipelineAccessStack)
    return stack


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_account_gets_its_reader_role_trusting_only_the_delivery_account(top_level, config, env):
    stack = access_stack(top_level, env)
    assert (stack.account, stack.region) == (config.environment(env).account, config.environment(env).region)
    template = assertions.Template.from_stack(stack)
    [(role_id, role)] = template.find_resources("AWS::IAM::Role").items()
    assert role["Properties"]["RoleName"] == f"data-platform-{env}-release-health-reader"
    trust = json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    assert f":iam::{config.delivery.account}:root" in trust
    [policy] = template.find_resources("AWS::IAM::Policy").values()
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "cloudwatch:DescribeAlarms"
    for alarm in (f"data-platform-{env}-release-health", f"data-platform-{env}-release-bake"):
        assert f"alarm:{alarm}" in json.dumps(statement["Resource"]), alarm
    assert stack.release_health_reader_role_arn == (
        f"arn:aws:iam::{config.environment(env).account}:role/data-platform-{env}-release-health-reader"
    )


def bake_rule_roles(pipeline_stack) -> list[str]:
    [pipeline] = assertions.Template.from_stack(pipeline_stack).find_resources("AWS::CodePipeline::Pipeline").values()
    return [
        rule["RoleArn"]
        for stage in pipeline["Properties"]["Stages"]
        for condition in stage.get("OnSuccess", {}).get("Conditions", [])
        for rule in condition["Rules"]
        if "RoleArn" in rule
    ]


def test_every_role_a_bake_rule_names_is_created_by_a_stack_the_pipeline_is_deployed_after(top_level):
    # Fails on 9cf02fd: the roles were created by each stage's Monitoring stack, which the pipeline deploys
    # only after it exists; nothing deployed them before the pipeline named them.
    pipeline = top_level["DeliveryPipeline"]
    named = bake_rule_roles(pipeline)
    assert len(named) == 2  # Staging and ProdRelease bake; dev does not roll back by itself
    creators = {s.release_health_reader_role_arn: s for s in top_level.values() if isinstance(s, PipelineAccessStack)}
    for role_arn in named:
        assert role_arn in creators, f"no stack deployed before the pipeline creates {role_arn}"
        assert creators[role_arn] in pipeline.dependencies, f"{creators[role_arn].stack_name} is not deployed first"


def test_the_stages_the_pipeline_deploys_create_no_reader_role_twice(synth):
    for env in ENVIRONMENTS:
        for stack in synth.stage(env).stacks:
            roles = assertions.Template.from_stack(stack).find_resources("AWS::IAM::Role").values()
            assert not any("release-health-reader" in json.dumps(r["Properties"].get("RoleName", "")) for r in roles)


def test_self_mutation_deploys_the_pipeline_with_its_dependencies(top_level):
    # `cdk deploy <pipeline>` without --exclusively deploys the stacks it depends on first.
    projects = assertions.Template.from_stack(top_level["DeliveryPipeline"]).find_resources("AWS::CodeBuild::Project")
    specs = [p["Properties"]["Source"].get("BuildSpec") for p in projects.values()]
    json_specs = [json.loads(spec) for spec in specs if isinstance(spec, str) and spec.lstrip().startswith("{")]
    commands = [
        command for spec in json_specs for phase in spec["phases"].values() for command in phase.get("commands", [])
    ]
    [deploy] = [c for c in commands if " deploy DeliveryPipeline " in c]
    assert "--exclusively" not in deploy and " -e " not in deploy


def deployed_with(stack) -> set:
    """The stack and every stack `cdk deploy` of it deploys first (self-mutation does not pass --exclusively)."""
    found = {stack}
    for dependency in stack.dependencies:
        found |= deployed_with(dependency)
    return found


def test_every_stack_self_mutation_deploys_is_judged_by_the_deployed_trust_boundary_check(top_level, config):
    # Self-mutation deploys the PipelineAccess stacks into the environment accounts before any approval: were
    # they outside the check's boundary, an unapproved commit could change IAM in prod through them.
    audit = assertions.Template.from_stack(top_level["DeliveryAudit"])
    [check] = [
        f["Properties"]
        for f in audit.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "pipeline_assets.trust_boundary_check.handler.handler"
    ]
    variables = check["Environment"]["Variables"]
    elsewhere = json.loads(variables["BOUNDARY_STACKS_ELSEWHERE"])
    judged = set(variables["BOUNDARY_STACKS"].split(",")) | {e["stack"] for e in elsewhere}
    assert {s.stack_name for s in deployed_with(top_level["DeliveryPipeline"])} == judged
    qualifier = config.delivery.bootstrap_qualifier
    for entry in elsewhere:
        stack = top_level[entry["stack"]]
        assert entry["role_arn"] == (
            f"arn:aws:iam::{stack.account}:role/cdk-{qualifier}-lookup-role-{stack.account}-{stack.region}"
        )
        assert entry["region"] == stack.region
    assumed = [
        s
        for p in audit.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ReadBoundaryTemplatesElsewhere"
    ]
    assert assumed == [
        {
            "Sid": "ReadBoundaryTemplatesElsewhere",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": sorted(e["role_arn"] for e in elsewhere),
        }
    ]
