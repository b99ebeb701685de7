"""The delivery pipeline as app.py builds it: order, gates, rollback conditions, who may approve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import assertions

from config import load_all
from stacks import release_bundle
from stacks.delivery_pipeline_stack import APPROVAL_ACTION, MAIN_COMMAND

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app_stacks(release_dir, cfn):
    patch = pytest.MonkeyPatch()
    patch.setattr(release_bundle, "DEFAULT_RELEASE_DIR", release_dir)
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("cdk_app_for_pipeline_tests", ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app = module.build_app(load_all(), cfn.new_app())
        stacks = {child.node.id: child for child in app.node.children}
        return {
            "pipeline": assertions.Template.from_stack(stacks["DeliveryPipeline"]),
            "audit": assertions.Template.from_stack(stacks["DeliveryAudit"]),
            "pipeline_stack": stacks["DeliveryPipeline"],
        }
    finally:
        patch.undo()


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


def test_stages_run_source_build_selfmutate_assets_then_dev_staging_prod(pipeline):
    names = [s["Name"] for s in pipeline["Stages"]]
    assert names[:3] == ["Source", "Build", "UpdatePipeline"]
    assert [n for n in names if n in ("Dev", "Staging", "Prod")] == ["Dev", "Staging", "Prod"]
    assert names.index("Dev") < names.index("Staging") < names.index("Prod")


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
    assert spec["phases"]["build"]["commands"] == [MAIN_COMMAND]
    assert spec["reports"]["ValidationGate"]["files"] == ["build/gate/junit.xml"]
    assert spec["env"]["exported-variables"] == ["RELEASE_ID"]
    assert ".venv/**/*" in spec["cache"]["paths"]


def test_prod_approval_comes_before_the_guard_and_before_any_deploy(pipeline):
    prod = actions(pipeline, "Prod")
    approval = prod[APPROVAL_ACTION]
    assert approval["ActionTypeId"]["Category"] == "Approval"
    assert "NotificationArn" in approval["Configuration"]
    guard = prod["SeparationOfDuties"]
    assert guard["ActionTypeId"]["Provider"] == "Lambda"
    deploys = [a["RunOrder"] for name, a in prod.items() if name.endswith(".Deploy")]
    prepares = [a["RunOrder"] for name, a in prod.items() if name.endswith(".Prepare")]
    assert approval["RunOrder"] < guard["RunOrder"] <= min(prepares)
    assert guard["RunOrder"] < min(deploys)
    reviews = [name for name in prod if "ReviewChangeSet" in name]
    assert {r.split(".")[0] for r in reviews} == {"Storage", "Compute", "Orchestration"}
    assert "ConfirmPermissionsBroadening.Check" in prod


def test_dev_and_staging_are_not_gated_by_a_human(pipeline):
    for name in ("Dev", "Staging"):
        categories = {a["ActionTypeId"]["Category"] for a in stage(pipeline, name)["Actions"]}
        assert "Approval" not in categories


def test_staging_and_prod_roll_back_on_failure_and_bake_on_the_release_health_alarm(pipeline):
    config = load_all()
    for name in ("Staging", "Prod"):
        declared = stage(pipeline, name)
        env = config.environment(name.lower())
        assert declared["OnFailure"] == {"Result": "ROLLBACK"}
        [condition] = declared["OnSuccess"]["Conditions"]
        assert condition["Result"] == "ROLLBACK"
        [rule] = condition["Rules"]
        assert rule["RuleTypeId"]["Provider"] == "CloudWatchAlarm"
        assert rule["Configuration"]["AlarmName"] == f"data-platform-{env.name}-release-health"
        assert rule["Configuration"]["WaitTime"] == str(env.approval.bake_minutes)
        assert rule["RoleArn"] == f"arn:aws:iam::{env.account}:role/data-platform-{env.name}-release-health-reader"
    assert "OnFailure" not in stage(pipeline, "Dev")  # dev.yaml: auto_rollback false


def test_staging_post_steps_run_integration_tests_then_canaries(pipeline):
    staging = actions(pipeline, "Staging")
    assert staging["IntegrationTests"]["RunOrder"] < staging["PostReleaseCanaries"]["RunOrder"]
    deploy = max(a["RunOrder"] for n, a in staging.items() if n.endswith(".Deploy"))
    assert staging["IntegrationTests"]["RunOrder"] > deploy


def _statements(template: assertions.Template) -> list[tuple[str, dict]]:
    found = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            found.append((logical_id, statement))
    return found


def test_only_the_approvers_role_may_approve_the_promotion(app_stacks):
    granted = []
    for logical_id, statement in _statements(app_stacks["pipeline"]):
        actions_ = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a in ("codepipeline:PutApprovalResult", "codepipeline:*", "*") for a in actions_):
            granted.append((logical_id, json.dumps(statement["Resource"])))
    approvers = [g for g in granted if g[0].startswith("ProdApproversPolicy")]
    assert len(approvers) == 1 and f"/Prod/{APPROVAL_ACTION}" in approvers[0][1]
    others = [g for g in granted if not g[0].startswith("ProdApproversPolicy")]
    # CDK's broadening check may approve its own Confirm action, and nothing else.
    assert all("ConfirmPermissionsBroadening.Confirm" in resource for _, resource in others), others
    assert all(f"/Prod/{APPROVAL_ACTION}" not in resource for _, resource in others)
    policies = app_stacks["pipeline"].find_resources("AWS::IAM::Policy")
    approver_policy = next(p for lid, p in policies.items() if lid.startswith("ProdApproversPolicy"))
    assert approver_policy["Properties"]["Roles"] == ["DataPlatformReleaseApprovers"]


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
