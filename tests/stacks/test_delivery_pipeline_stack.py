"""The delivery pipeline as app.py builds it: order, gates, rollback conditions, who may approve."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk import assertions
from constructs import change_evidence, integration_toolchain, trust_boundary
from constructs.gate_build_spec import GATE_RUNTIMES, TRUSTED_CACHE_PATHS

from config import load_all
from pipeline_assets.approval_guard import evidence as guard_evidence
from platform_vocabulary.naming import release_lane_stage
from stacks.delivery_pipeline_stack import APPROVAL_ACTION, MAIN_COMMAND, STAGE_PACKAGES_COMMAND

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_stacks(whole_app):
    stacks = {child.node.id: child for child in whole_app.node.children}
    return {
        "pipeline": assertions.Template.from_stack(stacks["DeliveryPipeline"]),
        "audit": assertions.Template.from_stack(stacks["DeliveryAudit"]),
        "pipeline_stack": stacks["DeliveryPipeline"],
    }


@pytest.fixture(scope="module")
def pipeline(app_stacks) -> dict:
    [resource] = app_stacks["pipeline"].find_resources("AWS::CodePipeline::Pipeline").values()
    return resource["Properties"]


def stage(pipeline: dict, name: str) -> dict:
    return next(s for s in pipeline["Stages"] if s["Name"] == name)


def actions(pipeline: dict, name: str) -> dict[str, dict]:
    return {a["Name"]: a for a in stage(pipeline, name)["Actions"]}


def test_v2_queued_and_named(pipeline):
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ExecutionMode"] == "QUEUED"
    assert pipeline["Name"] == load_all().delivery.pipeline_name


def test_stages_run_source_evidence_build_trust_gate_selfmutate_assets_then_dev_staging_approval_prod(pipeline):
    names = [s["Name"] for s in pipeline["Stages"]]
    assert names == [
        "Source",
        "ChangeEvidence",
        "Build",
        "ApproveTrustBoundary",
        "UpdatePipeline",
        "Assets",
        "Dev",
        "Staging",
        "ApproveProd",
        "Prod",
        "ProdRelease",
    ]


def test_the_build_runs_exactly_the_readme_main_command(app_stacks):
    readme = (ROOT / "README.md").read_text()
    assert f"{MAIN_COMMAND}   #" in readme.splitlines()[3]
    projects = app_stacks["pipeline"].find_resources("AWS::CodeBuild::Project")
    specs = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in projects.values()
        if "BuildSpec" in p["Properties"]["Source"] and "RELEASE_ID" in p["Properties"]["Source"]["BuildSpec"]
    ]
    [spec] = specs
    # The release build stages the runtimes' packages first and may not synth without them.
    assert spec["phases"]["build"]["commands"] == [STAGE_PACKAGES_COMMAND, MAIN_COMMAND]
    assert spec["env"]["variables"]["PACKAGES_REQUIRED"] == "true"
    assert spec["reports"]["ValidationGate"]["files"] == ["build/gate/junit.xml"]
    assert "RELEASE_ID" in spec["env"]["exported-variables"]
    # Issue 17 #5: only caches that are verified before anything in them runs (constructs/gate_build_spec.py).
    assert spec["cache"]["paths"] == TRUSTED_CACHE_PATHS
    assert "build/gate/mypy-cache/**/*" in spec["cache"]["paths"]  # type-check starts warm


def test_the_validate_build_runs_on_an_image_with_maven_and_selects_java_17(app_stacks):
    # `make packages` fetches jars with mvn (cicd/packages/maven.py) and checks it first (make packages-toolchain).
    # CodeBuild's Amazon Linux standard 5.0 image ships Maven 3.9 (/opt/maven) and Corretto 17, which the
    # install phase selects; a different image must bring both (the toolchain check then stops the build).
    projects = app_stacks["pipeline"].find_resources("AWS::CodeBuild::Project")
    [validate] = [p for p in projects.values() if "RELEASE_ID" in str(p["Properties"]["Source"].get("BuildSpec"))]
    assert validate["Properties"]["Environment"]["Image"] == "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
    spec = json.loads(validate["Properties"]["Source"]["BuildSpec"])
    assert spec["phases"]["install"]["runtime-versions"]["java"] == "corretto17"
    assert spec["phases"]["build"]["commands"][0] == STAGE_PACKAGES_COMMAND == "make packages"
    makefile = (ROOT / "Makefile").read_text()
    assert "spark-jars: packages-toolchain " in makefile and "packages: spark-jars mwaa-wheelhouse" in makefile


def test_prod_approval_and_guard_have_their_own_stage_without_conditions_before_any_prod_deploy(pipeline):
    gate = stage(pipeline, "ApproveProd")
    assert not {"OnFailure", "OnSuccess", "BeforeEntry"} & set(gate)  # a rejection never triggers a rollback
    approve = actions(pipeline, "ApproveProd")
    approval = approve[APPROVAL_ACTION]
    assert approval["ActionTypeId"]["Category"] == "Approval"
    assert "NotificationArn" in approval["Configuration"]
    guard = approve["SeparationOfDuties"]
    assert guard["ActionTypeId"]["Provider"] == "Lambda"
    assert json.loads(guard["Configuration"]["UserParameters"])["approval_stage"] == "ApproveProd"
    check = approve["ConfirmPermissionsBroadening.Check"]
    assert check["RunOrder"] < approve["ConfirmPermissionsBroadening.Confirm"]["RunOrder"] < approval["RunOrder"]
    assert approval["RunOrder"] < guard["RunOrder"]
    # CDK's check finds its Confirm action by the stage it was placed in.
    assert (
        '"name":"STAGE_NAME","type":"PLAINTEXT","value":"ApproveProd"' in check["Configuration"]["EnvironmentVariables"]
    )
    names = [s["Name"] for s in pipeline["Stages"]]
    assert names.index("ApproveProd") + 1 == names.index("Prod")


def test_prod_platform_stage_reviews_change_sets_and_its_release_lane_deploys_alone(pipeline):
    prod = actions(pipeline, "Prod")
    reviews = [name for name in prod if "ReviewChangeSet" in name]
    assert {r.split(".")[0] for r in reviews} == {"Storage", "Compute", "Orchestration"}
    assert not [name for name in prod if name.startswith("Release.")]
    assert not {"OnFailure", "OnSuccess"} & set(stage(pipeline, "Prod"))  # platform lane: no stage rollback
    release = actions(pipeline, "ProdRelease")
    assert {name: a["RunOrder"] for name, a in release.items()} == {"Release.Prepare": 1, "Release.Deploy": 2}
    assert release["Release.Deploy"]["Configuration"]["StackName"] == "Prod-Release"


def test_the_rollback_command_and_the_pipeline_name_the_release_lane_stage_alike():
    assert release_lane_stage("Prod") == "ProdRelease"


def test_dev_and_staging_are_not_gated_by_a_human(pipeline):
    for name in ("Dev", "Staging"):
        categories = {a["ActionTypeId"]["Category"] for a in stage(pipeline, name)["Actions"]}
        assert "Approval" not in categories


def test_staging_and_prod_release_lane_roll_back_on_failure_and_bake_on_the_release_bake_alarm(pipeline):
    config = load_all()
    for name, env_name in (("Staging", "staging"), ("ProdRelease", "prod")):
        declared = stage(pipeline, name)
        env = config.environment(env_name)
        assert declared["OnFailure"] == {"Result": "ROLLBACK"}
        [condition] = declared["OnSuccess"]["Conditions"]
        assert condition["Result"] == "ROLLBACK"
        [rule] = condition["Rules"]
        assert rule["RuleTypeId"]["Provider"] == "CloudWatchAlarm"
        assert rule["Configuration"]["AlarmName"] == f"data-platform-{env.name}-release-bake"
        assert rule["Configuration"]["WaitTime"] == str(env.approval.bake_minutes)
        assert rule["RoleArn"] == f"arn:aws:iam::{env.account}:role/data-platform-{env.name}-release-health-reader"
    assert "OnFailure" not in stage(pipeline, "Dev")  # dev.yaml: auto_rollback false
    conditioned = [s["Name"] for s in pipeline["Stages"] if {"OnFailure", "OnSuccess"} & set(s)]
    assert conditioned == ["Staging", "ProdRelease"]


def alarm_look_back(resources: dict, alarm_name: str) -> dict[str, int]:
    """Minutes until each metric alarm under a composite judges only data after a given moment.

    A metric alarm looks back Period x EvaluationPeriods on clock-aligned periods and is evaluated up
    to a period late: Period x (EvaluationPeriods + 1). Composite members are followed to their leaves.
    """
    by_name = {}
    for logical_id, r in resources.items():
        if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            by_name[r["Properties"].get("AlarmName", logical_id)] = (logical_id, r)
    _, composite = by_name[alarm_name]
    found: dict[str, int] = {}

    def walk(rule) -> None:
        text = json.dumps(rule)
        for logical_id, r in resources.items():
            if f'"{logical_id}"' not in text or r["Type"] not in (
                "AWS::CloudWatch::Alarm",
                "AWS::CloudWatch::CompositeAlarm",
            ):
                continue
            if r["Type"] == "AWS::CloudWatch::CompositeAlarm":
                walk(r["Properties"]["AlarmRule"])
                continue
            props = r["Properties"]
            periods = (
                [props["Period"]] if "Period" in props else [m["Period"] for m in props["Metrics"] if "Period" in m]
            )
            if not periods:
                periods = [m["MetricStat"]["Period"] for m in props["Metrics"] if "MetricStat" in m]
            found[logical_id] = max(periods) // 60 * (props["EvaluationPeriods"] + 1)

    walk(composite["Properties"]["AlarmRule"])
    return found


@pytest.mark.parametrize(("stage_name", "env_name"), [("Staging", "staging"), ("ProdRelease", "prod")])
def test_the_bake_judges_only_data_the_new_release_had_time_to_produce(pipeline, synth, stage_name, env_name):
    # Fails on 9cf02fd: the bake read the release-health alarm, whose 15-minute and one-hour members (some
    # treating missing data as breaching) still judged the previous release when the bake ended.
    [condition] = stage(pipeline, stage_name)["OnSuccess"]["Conditions"]
    [rule] = condition["Rules"]
    bake = int(rule["Configuration"]["WaitTime"])
    resources = synth.template(env_name, "Monitoring").to_json()["Resources"]
    look_back = alarm_look_back(resources, rule["Configuration"]["AlarmName"])
    assert look_back, "the bake alarm has no member"
    assert {member: minutes for member, minutes in look_back.items() if minutes > bake} == {}
    # Still gating: DAG health and import errors judge within the shortest allowed bake (10 minutes).
    assert any("DagHealth" in member for member in look_back) and any("ImportErrors" in m for m in look_back)


def test_the_pipeline_role_that_evaluates_the_bake_rule_may_assume_the_alarm_readers(app_stacks, pipeline):
    role_ref = pipeline["RoleArn"]["Fn::GetAtt"][0]
    readers = {
        rule["RoleArn"]
        for s in pipeline["Stages"]
        for c in s.get("OnSuccess", {}).get("Conditions", [])
        for rule in c["Rules"]
    }
    assert len(readers) == 2
    assumable = set()
    for _, statement in _statements_of_role(app_stacks["pipeline"], role_ref):
        if statement["Action"] == "sts:AssumeRole":
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assumable |= {r for r in resources if isinstance(r, str)}
    assert readers <= assumable


def test_staging_post_steps_run_integration_tests_then_canaries(pipeline):
    staging = actions(pipeline, "Staging")
    assert staging["IntegrationTests"]["RunOrder"] < staging["PostReleaseCanaries"]["RunOrder"]
    deploy = max(a["RunOrder"] for n, a in staging.items() if n.endswith(".Deploy"))
    assert staging["IntegrationTests"]["RunOrder"] > deploy


def test_the_in_vpc_integration_tests_install_only_wheels_built_outside_the_vpc(app_stacks, pipeline):
    # Fails on 9cf02fd: IntegrationTests (staging VPC, no cache, routes only to MSK and Snowflake) ran
    # `make integration-test`, whose `venv` prerequisite installs from PyPI and npm.
    staging = actions(pipeline, "Staging")
    toolchain, tests = staging["IntegrationToolchain"], staging["IntegrationTests"]
    assert toolchain["RunOrder"] < tests["RunOrder"] < staging["PostReleaseCanaries"]["RunOrder"]
    built = {a["Name"] for a in toolchain["OutputArtifacts"]}
    assert built & {a["Name"] for a in tests["InputArtifacts"]}
    projects = app_stacks["pipeline"].find_resources("AWS::CodeBuild::Project")

    def project(action: dict) -> dict:
        return projects[action["Configuration"]["ProjectName"]["Ref"]]["Properties"]

    assert "VpcConfig" in project(tests) and "VpcConfig" not in project(toolchain)
    spec = json.loads(project(tests)["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"][-1] == "make integration-test"
    assert "cache" not in spec
    # Wheels install only on the Python they were built for, and the lock was resolved for the gate's.
    built_spec = json.loads(project(toolchain)["Source"]["BuildSpec"])
    for runtimes in (s["phases"]["install"]["runtime-versions"] for s in (spec, built_spec)):
        assert runtimes["python"] == GATE_RUNTIMES["python"] and runtimes["java"] == "corretto17"  # Spark's JVM
    makefile = (ROOT / "Makefile").read_text()
    assert f"INTEGRATION_WHEELS := {integration_toolchain.WHEEL_DIR}\n" in makefile
    dry_run = subprocess.run(["make", "-n", "integration-test"], cwd=ROOT, capture_output=True, text=True, check=True)
    recipe = dry_run.stdout
    assert "uv pip" not in recipe and "npm" not in recipe and "make venv" not in recipe
    installs = [line for line in recipe.splitlines() if "pip install" in line or "\\" in line]
    assert installs and all("--no-index" in line for line in installs if "pip install" in line)


def _statements(template: assertions.Template) -> list[tuple[str, dict]]:
    found = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            found.append((logical_id, statement))
    return found


def _statements_of_role(template: assertions.Template, role_logical_id: str) -> list[tuple[str, dict]]:
    policies = template.find_resources("AWS::IAM::Policy")
    attached = {lid for lid, p in policies.items() if {"Ref": role_logical_id} in p["Properties"]["Roles"]}
    return [(lid, s) for lid, s in _statements(template) if lid in attached]


def _actions_of(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _action_role(pipeline: dict, stage_name: str, action_name: str) -> str:
    return actions(pipeline, stage_name)[action_name]["RoleArn"]["Fn::GetAtt"][0]


def test_only_the_approvers_role_may_approve_the_promotion_and_trust_boundary_changes(app_stacks):
    granted = []
    for logical_id, statement in _statements(app_stacks["pipeline"]):
        if any(a in ("codepipeline:PutApprovalResult", "codepipeline:*", "*") for a in _actions_of(statement)):
            granted.append((logical_id, json.dumps(statement["Resource"])))
    approvers = [g for g in granted if g[0].startswith("ProdApproversPolicy")]
    assert len(approvers) == 1 and f"/ApproveProd/{APPROVAL_ACTION}" in approvers[0][1]
    assert f"/{trust_boundary.STAGE_NAME}/{trust_boundary.APPROVAL_ACTION}" in approvers[0][1]
    others = [g for g in granted if not g[0].startswith("ProdApproversPolicy")]
    # CDK's broadening check may approve its own Confirm action, and nothing else.
    assert others and all(
        json.loads(r)[0]["Fn::Join"][1][-1].endswith("/ApproveProd/ConfirmPermissionsBroadening.Confirm")
        for _, r in others
    ), others
    assert all(APPROVAL_ACTION not in resource and "TrustBoundary" not in resource for _, resource in others)
    policies = app_stacks["pipeline"].find_resources("AWS::IAM::Policy")
    approver_policy = next(p for lid, p in policies.items() if lid.startswith("ProdApproversPolicy"))
    assert approver_policy["Properties"]["Roles"] == ["DataPlatformReleaseApprovers"]


def test_the_auto_approve_lambda_may_read_the_pipeline_state_it_looks_the_token_up_in(app_stacks):
    found = [
        s
        for lid, s in _statements(app_stacks["pipeline"])
        if "AutoApprove" in lid and "codepipeline:GetPipelineState" in _actions_of(s)
    ]
    [statement] = found
    assert _actions_of(statement) == ["codepipeline:GetPipelineState"]
    assert statement["Resource"]["Fn::Join"][1][-1].endswith(
        ":codepipeline:eu-west-1:111111111111:data-platform-delivery"
    )


def test_approval_requests_are_published_by_the_approval_actions_own_roles(app_stacks, pipeline):
    template = app_stacks["pipeline"]
    for stage_name, action_name in (
        ("ApproveProd", APPROVAL_ACTION),
        (trust_boundary.STAGE_NAME, trust_boundary.APPROVAL_ACTION),
    ):
        assert actions(pipeline, stage_name)[action_name]["Configuration"]["NotificationArn"] == {
            "Ref": next(iter(template.find_resources("AWS::SNS::Topic")))
        }
        granted = {
            a: s
            for _, s in _statements_of_role(template, _action_role(pipeline, stage_name, action_name))
            for a in _actions_of(s)
        }
        assert granted["sns:Publish"]["Resource"]["Ref"].startswith("NotificationsTopic")
        assert granted["kms:GenerateDataKey*"]["Resource"]["Fn::GetAtt"][0].startswith("NotificationsTopicKey")
        assert "kms:Decrypt" in granted
    pipeline_role = pipeline["RoleArn"]["Fn::GetAtt"][0]
    assert not [s for _, s in _statements_of_role(template, pipeline_role) if "sns:Publish" in _actions_of(s)]


def test_every_role_using_the_connection_may_use_it_under_both_service_prefixes(app_stacks):
    users = [s for _, s in _statements(app_stacks["pipeline"]) if any("UseConnection" in a for a in _actions_of(s))]
    assert len(users) >= 6  # source action, Validate, integration tests, canaries, change-set reviews, PRs
    for statement in users:
        assert {"codeconnections:UseConnection", "codestar-connections:UseConnection"} <= set(_actions_of(statement))
        assert statement["Resource"].startswith("arn:aws:codeconnections:")


def test_cloudwatch_logs_may_use_the_build_key_for_this_accounts_log_groups_only(app_stacks):
    template = app_stacks["pipeline"]
    [key] = [k for lid, k in template.find_resources("AWS::KMS::Key").items() if lid.startswith("BuildKey")]
    [logs] = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Principal", {}).get("Service")]
    assert logs["Principal"]["Service"] == "logs.eu-west-1.amazonaws.com"
    assert set(logs["Action"]) == {
        "kms:Encrypt*",
        "kms:Decrypt*",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:Describe*",
    }
    arn = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert json.dumps(arn).endswith(':logs:eu-west-1:111111111111:log-group:*"]]}')
    encrypted = [g for g in template.find_resources("AWS::Logs::LogGroup").values() if "KmsKeyId" in g["Properties"]]
    assert len(encrypted) == 3  # the pipeline's build logs, the PR builds' and ChangeEvidence's
    assert all(
        g["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
        == next(lid for lid in template.find_resources("AWS::KMS::Key") if lid.startswith("BuildKey"))
        for g in encrypted
    )


def test_trust_boundary_changes_are_approved_by_the_deployed_guard_before_self_mutation(pipeline):
    names = [s["Name"] for s in pipeline["Stages"]]
    assert names.index("Build") < names.index(trust_boundary.STAGE_NAME) < names.index("UpdatePipeline")
    gate = stage(pipeline, trust_boundary.STAGE_NAME)
    gate_actions = actions(pipeline, trust_boundary.STAGE_NAME)
    approval, guard = gate_actions[trust_boundary.APPROVAL_ACTION], gate_actions[trust_boundary.GUARD_ACTION]
    assert approval["ActionTypeId"]["Category"] == "Approval" and approval["RunOrder"] < guard["RunOrder"]
    # The guard is the function deployed now (a Ref into the audit stack), invoked before UpdatePipeline deploys it.
    assert guard["ActionTypeId"]["Provider"] == "Lambda"
    assert json.loads(guard["Configuration"]["UserParameters"])["approval_stage"] == trust_boundary.STAGE_NAME
    [condition] = gate["BeforeEntry"]["Conditions"]
    assert condition["Result"] == "SKIP"
    [rule] = condition["Rules"]
    assert rule["Configuration"] == {
        "Variable": f"#{{TrustBoundary.{trust_boundary.VARIABLE}}}",
        "Value": "true",
        "Operator": "EQ",
    }
    assert actions(pipeline, "Build")["Validate"]["Namespace"] == "BuildVariables"


def test_the_deployed_check_judges_the_validate_builds_output_right_after_it(pipeline):
    """Issue 17 #1: the boundary is decided by a function of the audit stack from what will deploy."""
    build = actions(pipeline, "Build")
    check, validate = build[trust_boundary.CHECK_ACTION], build["Validate"]
    assert check["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"}
    assert check["RunOrder"] == validate["RunOrder"] + 1
    assert check["InputArtifacts"] == validate["OutputArtifacts"]
    assert check["Namespace"] == "TrustBoundary"
    assert "Fn::ImportValue" in json.dumps(check["Configuration"]["FunctionName"])
    assert json.loads(check["Configuration"]["UserParameters"])["hint"] == "#{ChangeEvidence.TRUST_BOUNDARY_HINT}"


def test_every_ref_in_the_reshaped_stages_names_a_resource_of_this_template(app_stacks, pipeline):
    """The stages are rewritten at synthesis: cross-stack references (the guard) must still become imports."""
    template = app_stacks["pipeline"].to_json()
    known = set(template["Resources"]) | set(template.get("Parameters", {}))

    def refs(value):
        if isinstance(value, dict):
            if set(value) == {"Ref"} and not value["Ref"].startswith("AWS::"):
                yield value["Ref"]
            for item in value.values():
                yield from refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from refs(item)

    assert set(refs(pipeline["Stages"])) <= known
    # cfn-lint E3703 accepts configuration role ARNs as Fn::Sub only.
    role_arns = [
        a["Configuration"]["RoleArn"]
        for s in pipeline["Stages"]
        for a in s["Actions"]
        if "RoleArn" in a.get("Configuration", {})
    ]
    assert role_arns and not [r for r in role_arns if "Fn::Join" in r]
    for stage_name, action_name in (
        ("ApproveProd", "SeparationOfDuties"),
        (trust_boundary.STAGE_NAME, trust_boundary.GUARD_ACTION),
    ):
        assert "Fn::ImportValue" in actions(pipeline, stage_name)[action_name]["Configuration"]["FunctionName"]


def _change_evidence_project(app_stacks) -> tuple[str, dict]:
    [(logical_id, project)] = [
        (lid, p["Properties"])
        for lid, p in app_stacks["pipeline"].find_resources("AWS::CodeBuild::Project").items()
        if change_evidence.HEREDOC in p["Properties"]["Source"].get("BuildSpec", "")
    ]
    return logical_id, project


def test_change_evidence_runs_before_build_from_its_own_deployed_build_spec(app_stacks, pipeline):
    """Issue 17 (design): no repository code, no cache, the collector inlined in the deployed spec."""
    logical_id, project = _change_evidence_project(app_stacks)
    [action] = stage(pipeline, change_evidence.STAGE_NAME)["Actions"]
    assert action["Name"] == change_evidence.ACTION_NAME and action["Namespace"] == change_evidence.NAMESPACE
    assert action["Configuration"]["ProjectName"] == {"Ref": logical_id}
    assert action["InputArtifacts"] == stage(pipeline, "Source")["Actions"][0]["OutputArtifacts"]
    spec = json.loads(project["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == change_evidence.build_spec_commands(
        change_evidence.COLLECTOR.read_text()
    )
    assert "set -euo pipefail" in spec["phases"]["build"]["commands"][2]
    assert spec["env"]["variables"] == {"GIT_NO_REPLACE_OBJECTS": "1"}
    assert set(spec["env"]["exported-variables"]) == {"TRUST_BOUNDARY_HINT", "CHANGE_EVIDENCE_KEY"}
    assert "cache" not in spec and project["Cache"] == {"Type": "NO_CACHE"}  # a fresh container, nothing restored
    variables = {v["Name"]: v for v in project["Environment"]["EnvironmentVariables"]}
    assert variables["PROVIDER_TOKEN"]["Type"] == "SECRETS_MANAGER"
    assert variables["PROVIDER_TOKEN"]["Value"] == load_all().delivery.source_provider.token_secret_arn
    assert json.loads(variables["APPROVAL_GATES"]["Value"]) == {
        "ApproveProd": "SeparationOfDuties",
        trust_boundary.STAGE_NAME: trust_boundary.GUARD_ACTION,
    }
    assert json.loads(variables["SELF_MUTATION"]["Value"]) == {"UpdatePipeline": "SelfMutate"}
    assert "SelfMutate" in actions(pipeline, "UpdatePipeline")
    # The guard looks for this very stage and action.
    assert (guard_evidence.EVIDENCE_STAGE, guard_evidence.EVIDENCE_ACTION) == (
        change_evidence.STAGE_NAME,
        change_evidence.ACTION_NAME,
    )


def test_only_the_change_evidence_role_carries_the_change_evidence_writer_tag(app_stacks):
    _, project = _change_evidence_project(app_stacks)
    role = project["ServiceRole"]["Fn::GetAtt"][0]
    tagged = [
        lid
        for stack in ("pipeline", "audit")
        for lid, r in app_stacks[stack].find_resources("AWS::IAM::Role").items()
        if {"Key": "evidence-writer", "Value": "change-evidence"} in r["Properties"].get("Tags", [])
    ]
    assert tagged == [role]
    writes = [
        s for _, s in _statements_of_role(app_stacks["pipeline"], role) if "s3:PutObject" in json.dumps(s["Action"])
    ]
    assert len(writes) == 1 and "/trusted/change-evidence/*" in json.dumps(writes[0]["Resource"])


def test_the_validate_build_no_longer_judges_who_made_the_change_or_the_boundary(app_stacks):
    """It runs the change's own code: its evidence is the gate report and the release, nothing that decides."""
    [spec] = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in app_stacks["pipeline"].find_resources("AWS::CodeBuild::Project").values()
        if "RELEASE_ID" in p["Properties"]["Source"].get("BuildSpec", "")
    ]
    post = spec["phases"]["post_build"]["commands"]
    assert "make change-identities" not in post and not [c for c in post if "git diff" in c]
    assert set(spec["env"]["exported-variables"]) == {"RELEASE_ID"}


def test_pull_requests_cannot_touch_the_trusted_toolchain_cache_and_stamps_are_never_cached(app_stacks):
    template = app_stacks["pipeline"]
    projects = template.find_resources("AWS::CodeBuild::Project")
    [pr] = [p["Properties"] for p in projects.values() if p["Properties"].get("Triggers", {}).get("Webhook")]
    [validate] = [
        p["Properties"] for p in projects.values() if "RELEASE_ID" in p["Properties"]["Source"].get("BuildSpec", "")
    ]
    trusted = validate["Cache"]["Location"]["Fn::Join"][1][0]["Ref"]
    assert trusted.startswith("ToolchainCache")
    assert pr["Cache"]["Location"]["Fn::Join"][1][0]["Ref"].startswith("PullRequestCache")
    pr_role = pr["ServiceRole"]["Fn::GetAtt"][0]
    # The one exception: reading (never writing) the gate's passed results, under their own prefix.
    touching_trusted = [s for _, s in _statements_of_role(template, pr_role) if trusted in json.dumps(s)]
    assert [(s["Action"], s["Effect"]) for s in touching_trusted] == [("s3:GetObject", "Allow")]
    assert "/gate-results/*" in json.dumps(touching_trusted[0]["Resource"])
    pr_env = {v["Name"]: v["Value"] for v in pr["Environment"]["EnvironmentVariables"]}
    assert pr_env["GATE_CACHE_READONLY"] == "1"
    assert "gate-results" in json.dumps(pr_env["GATE_CACHE_URI"])
    validate_env = {v["Name"]: v["Value"] for v in validate["Environment"]["EnvironmentVariables"]}
    assert "GATE_CACHE_READONLY" not in validate_env
    assert trusted in json.dumps(validate_env["GATE_CACHE_URI"])
    buckets = [
        lid
        for lid in template.find_resources("AWS::S3::Bucket")
        if lid.startswith(("ToolchainCache", "PullRequestCache"))
    ]
    assert len(buckets) == 2
    for project in projects.values():
        spec = project["Properties"]["Source"].get("BuildSpec", "")
        assert ".make/" not in spec


def test_no_role_of_the_pipeline_has_an_unscoped_star_action(app_stacks):
    for logical_id, statement in _statements(app_stacks["pipeline"]):
        actions_ = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in actions_, logical_id
        assert not any(a.endswith(":*") for a in actions_), (logical_id, actions_)


def test_pull_requests_run_the_gate_changed_only_and_report_status(app_stacks):
    projects = app_stacks["pipeline"].find_resources("AWS::CodeBuild::Project")
    [pr] = [p["Properties"] for p in projects.values() if p["Properties"].get("Triggers", {}).get("Webhook")]
    assert pr["Source"]["ReportBuildStatus"] is True
    assert pr["Source"]["Auth"]["Type"] == "CODECONNECTIONS"
    events = {f["Pattern"] for group in pr["Triggers"]["FilterGroups"] for f in group if f["Type"] == "EVENT"}
    assert events == {"PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED"}
    assert "make validate-changed" in pr["Source"]["BuildSpec"]


def test_notifications_cover_failures_approvals_and_rollbacks(app_stacks):
    template = app_stacks["pipeline"]
    [rule] = template.find_resources("AWS::CodeStarNotifications::NotificationRule").values()
    assert {"codepipeline-pipeline-pipeline-execution-failed", "codepipeline-pipeline-manual-approval-needed"} <= set(
        rule["Properties"]["EventTypeIds"]
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": assertions.Match.object_like(
                {
                    "detail": assertions.Match.object_like(
                        {"execution-trigger": {"trigger-type": ["AutomatedRollback", "ManualRollback"]}}
                    )
                }
            )
        },
    )


def test_evidence_bucket_is_object_locked_in_compliance_mode_and_never_deleted(app_stacks):
    audit = app_stacks["audit"]
    config = load_all()
    days = round(max(e.retention.evidence_years for e in config.environments) * 365.25)
    audit.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": assertions.Match.object_like(
                {
                    "ObjectLockEnabled": True,
                    "ObjectLockConfiguration": {
                        "ObjectLockEnabled": "Enabled",
                        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": days}},
                    },
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )
    [policy] = [
        p for lid, p in audit.find_resources("AWS::S3::BucketPolicy").items() if lid.startswith("EvidenceBucket")
    ]
    deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "EvidenceIsNeverDeleted"]
    assert deny and deny[0]["Effect"] == "Deny" and "s3:DeleteObjectVersion" in deny[0]["Action"]


def test_audit_trail_validates_log_files(app_stacks):
    app_stacks["audit"].has_resource_properties(
        "AWS::CloudTrail::Trail", {"EnableLogFileValidation": True, "IsMultiRegionTrail": True, "IsLogging": True}
    )


def test_ledger_listens_to_pipeline_approval_evidence_and_stack_events(app_stacks):
    rules = app_stacks["audit"].find_resources("AWS::Events::Rule")
    sources = sorted(json.dumps(r["Properties"]["EventPattern"]["source"]) for r in rules.values())
    assert sources.count('["aws.codepipeline"]') == 2
    assert sources.count('["aws.cloudformation"]') == 2
    assert sources.count('["aws.s3"]') == 1


def test_a_stack_depending_on_the_release_lane_stops_the_split_with_the_fix():
    from types import SimpleNamespace

    import aws_cdk as cdk

    from stacks.delivery_pipeline_stack import DeliveryPipelineStack

    stage = cdk.Stage(cdk.App(), "Prod")
    lane, monitoring = cdk.Stack(stage, "Release"), cdk.Stack(stage, "Monitoring")
    monitoring.add_dependency(lane)
    platform = SimpleNamespace(stage_name="Prod", release_lane=lane, stacks=[lane, monitoring])
    with pytest.raises(ValueError, match=r"Monitoring depend on the release lane stack Release.*stage\.py"):
        DeliveryPipelineStack._split_release_lane(None, platform)  # type: ignore[arg-type]


def test_the_inline_change_evidence_spec_stays_within_a_conservative_size(app_stacks):
    """CodeBuild documents no limit for an inline build spec; stay under 25,000 characters so a limit of that order,
    if the API enforces one, never fails a self-mutation."""
    _, project = _change_evidence_project(app_stacks)
    assert len(project["Source"]["BuildSpec"]) < 25_000


def test_the_retained_artifact_bucket_keeps_the_key_its_artifacts_are_encrypted_with(app_stacks):
    template = app_stacks["pipeline"]
    buckets = template.find_resources("AWS::S3::Bucket")
    [(_, artifacts)] = [(i, b) for i, b in buckets.items() if i.startswith("PipelineArtifactsBucket")]
    encryption = artifacts["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    key_id = encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]

    assert artifacts["DeletionPolicy"] == "Retain"
    assert template.to_json()["Resources"][key_id]["DeletionPolicy"] == "Retain"
