"""Rollback: CodePipeline through a Stubber (moto has no RollbackStage/ListActionExecutions), SSM/S3 in moto.

Where CloudFormation would run the release activator, the tests' `sleep` plays that part: the first
wait of a deployment writes the active-release parameter, as the activator does last.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.stub import ANY

from cicd.rollback.drill import record_build_evidence
from cicd.rollback.rollback import RollbackFailedError, RollbackRefusedError, Steps, rollback, status
from cicd.rollback.template import TemplateError, release_stack_template

from .conftest import (
    ARTIFACT_BUCKET,
    EVIDENCE_BUCKET,
    EXEC,
    PARAMETER,
    PIPELINE,
    A,
    B,
    C,
    cloud_assembly,
    pipeline_history,
    record_build,
)


class Activator:
    """What the deployment does to the environment, once, on the first wait of the rollback."""

    def __init__(self, ssm, release_id: str | None) -> None:
        self.ssm, self.release_id, self.waits = ssm, release_id, 0

    def __call__(self, seconds: float) -> None:
        self.waits += 1
        if self.waits == 1 and self.release_id:
            self.ssm.put_parameter(Name=PARAMETER, Value=self.release_id, Type="String", Overwrite=True)


def active(ssm) -> str:
    return ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]


def list_actions(stub, now, items=None):
    stub.add_response(
        "list_action_executions",
        {"actionExecutionDetails": items if items is not None else pipeline_history(now)},
        {"pipelineName": PIPELINE, "maxResults": 100},
    )


def execution(status: str) -> dict:
    return {"pipelineExecution": {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback", "status": status}}


def expect_change_set(cfn_stub, release_id: str) -> None:
    stack = {"StackName": "Prod-Release"}
    any_change_set = {"ChangeSetName": ANY, **stack}
    create = {**stack, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "Capabilities": ANY, "Description": ANY}
    cfn_stub.add_response(
        "create_change_set", {"Id": f"changeSet/rollback-{release_id}", "StackId": "s"}, {**create, "TemplateBody": ANY}
    )
    cfn_stub.add_response("describe_change_set", {**stack, "Status": "CREATE_IN_PROGRESS"}, any_change_set)
    change = {"Type": "Resource", "ResourceChange": {"Action": "Modify", "LogicalResourceId": "ActivatorActivation"}}
    cfn_stub.add_response(
        "describe_change_set", {**stack, "Status": "CREATE_COMPLETE", "Changes": [change]}, any_change_set
    )
    cfn_stub.add_response("execute_change_set", {}, any_change_set)
    created = {**stack, "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "UPDATE_COMPLETE"}
    cfn_stub.add_response("describe_stacks", {"Stacks": [created]}, stack)


def test_rolls_back_through_the_pipeline_to_the_execution_that_deployed_the_previous_release(world, now):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now)
    pipeline.add_response(
        "rollback_stage",
        {"pipelineExecutionId": "exec-rollback"},
        {"pipelineName": PIPELINE, "stageName": "Prod", "targetPipelineExecutionId": EXEC[A]},
    )
    pipeline.add_response(
        "get_pipeline_execution",
        execution("InProgress"),
        {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback"},
    )
    pipeline.add_response(
        "get_pipeline_execution",
        execution("Succeeded"),
        {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback"},
    )
    lines = []

    result = rollback(env, clients, steps=Steps(echo=lines.append), sleep=Activator(clients.ssm, A), poll_s=0)

    assert (result.method, result.from_release, result.to_release, result.reference) == (
        "pipeline",
        B,
        A,
        "exec-rollback",
    )
    assert active(clients.ssm) == A
    assert [s["step"] for s in result.steps] == [
        "read the release history",
        f"find the execution of {PIPELINE} that deployed {A} to Prod",
        f"RollbackStage {PIPELINE}/Prod",
        "wait for the rollback execution",
        "verify the active release",
    ]
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in result.steps)
    assert any("execution exec-rollback: InProgress" in line for line in lines)
    assert lines[0].startswith("[") and "s] read the release history" in lines[0]


@pytest.mark.parametrize(
    "refusal",
    [
        ("add_client_error", "UnableToRollbackStageException", "the stage cannot be rolled back"),
        ("add_client_error", "PipelineExecutionOutdatedException", "target execution is outdated"),
        ("failed_execution", "Failed", "Prod-Release.Deploy failed"),
    ],
)
def test_when_the_pipeline_cannot_the_stored_template_is_redeployed(world, now, refusal):
    env, clients, pipeline, cfn = world
    list_actions(pipeline, now)
    if refusal[0] == "add_client_error":
        pipeline.add_client_error("rollback_stage", refusal[1], refusal[2])
    else:
        pipeline.add_response(
            "rollback_stage",
            {"pipelineExecutionId": "exec-rollback"},
            {"pipelineName": PIPELINE, "stageName": "Prod", "targetPipelineExecutionId": EXEC[A]},
        )
        pipeline.add_response(
            "get_pipeline_execution",
            execution("Failed"),
            {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback"},
        )
    expect_change_set(cfn, A)
    lines = []

    result = rollback(env, clients, steps=Steps(echo=lines.append), sleep=Activator(clients.ssm, A), poll_s=0)

    assert result.method == "template" and result.to_release == A
    assert result.fallback_reason.startswith(
        ("UnableToRollbackStageException", "PipelineExecutionOutdatedException", "RollbackExecutionFailed")
    )
    assert active(clients.ssm) == A
    assert any("falling back to the stored template" in line for line in lines)
    assert "deploy the stored template of Prod-Release (change set)" in [s["step"] for s in result.steps]


def history_across_a_pipeline_change(now) -> list[dict]:
    """A deployed under pipeline version 3; a self-mutation later, B deployed under version 4."""
    items = pipeline_history(now)
    for item in items:
        item["pipelineVersion"] = 3 if item["pipelineExecutionId"] == EXEC[A] else 4
    return items


def test_after_a_pipeline_change_the_stored_template_is_redeployed_without_asking_the_pipeline(world, now):
    # Fails on 9cf02fd: it called RollbackStage first (refused in AWS) instead of knowing from the history.
    env, clients, pipeline, cfn = world
    list_actions(pipeline, now, items=history_across_a_pipeline_change(now))
    expect_change_set(cfn, A)
    lines = []

    result = rollback(env, clients, steps=Steps(echo=lines.append), sleep=Activator(clients.ssm, A), poll_s=0)

    assert (result.method, result.to_release) == ("template", A)
    assert result.fallback_reason.startswith(f"PipelineVersionChanged: execution {EXEC[A]} ran pipeline version 3")
    assert not any(step["step"].startswith("RollbackStage") for step in result.steps)  # the stub saw no call
    assert any("falling back to the stored template" in line for line in lines)
    assert active(clients.ssm) == A


def test_after_a_pipeline_change_the_dry_run_plans_the_template_and_pipeline_only_is_refused(world, now):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now, items=history_across_a_pipeline_change(now))
    assert rollback(env, clients, dry_run=True).method == "dry-run (template)"
    list_actions(pipeline, now, items=history_across_a_pipeline_change(now))
    with pytest.raises(RollbackFailedError, match="PipelineVersionChanged"):
        rollback(env, clients, method="pipeline")
    assert active(clients.ssm) == B


def test_fallback_change_set_really_runs_in_moto_cloudformation(world, now):
    """moto executes the change set: the stack's SSM parameter resource plays the activator's write."""
    env, clients, pipeline, _ = world
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")  # unstubbed: moto

    def template(release_id):
        return {
            "Description": f"release lane {release_id}",
            "Resources": {
                "Active": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": "/data-platform/prod/marker", "Type": "String", "Value": release_id},
                }
            },
        }

    cloudformation.create_stack(StackName="Prod-Release", TemplateBody=json.dumps(template(B)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(cloud_assembly(A))) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            body = source.read(name)
            if name == "assembly-Prod/ProdReleaseDEF.template.json":
                body = json.dumps(template(A)).encode()
            target.writestr(name, body)
    clients.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="manual/exec-aaaa.zip", Body=buffer.getvalue())
    record_build(clients.s3, "exec-manual", A, buffer.getvalue(), now)  # the build that made this artifact
    clients.cloudformation = cloudformation
    env = type(env)(**{**env.__dict__, "release_stack": "Prod-Release"})
    list_actions(pipeline, now)

    result = rollback(
        env,
        clients,
        method="template",
        artifact=f"s3://{ARTIFACT_BUCKET}/manual/exec-aaaa.zip",
        steps=Steps(echo=lambda _: None),
        sleep=Activator(clients.ssm, A),
        poll_s=0,
    )

    assert result.method == "template"
    assert clients.ssm.get_parameter(Name="/data-platform/prod/marker")["Parameter"]["Value"] == A
    assert cloudformation.describe_stacks(StackName="Prod-Release")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


@pytest.mark.parametrize(
    ("to", "message"),
    [
        (B, "already the active release of prod"),
        ("r-ffffffffffffffff", "unknown release r-ffffffffffffffff: not in prod's activation history"),
        (C, "was uploaded but never active in prod"),
    ],
)
def test_refuses_a_target_that_is_active_unknown_or_never_active(world, to, message):
    env, clients, _, _ = world
    with pytest.raises(RollbackRefusedError, match=message):
        rollback(env, clients, to=to, steps=Steps(echo=lambda _: None))
    assert active(clients.ssm) == B


def test_refuses_when_there_is_no_earlier_release(world):
    env, clients, _, _ = world
    env = type(env)(**{**env.__dict__, "parameter": "/data-platform/dev/active-release"})
    clients.ssm.put_parameter(Name=env.parameter, Value=A, Type="String")
    with pytest.raises(RollbackRefusedError, match="has only ever run"):
        rollback(env, clients, steps=Steps(echo=lambda _: None))


def test_refuses_when_the_target_bundle_is_gone(world):
    env, clients, _, _ = world
    clients.s3.delete_object(Bucket=env.release_bucket, Key=f"releases/{A}/release.json")
    with pytest.raises(RollbackRefusedError, match=r"release\.json is gone"):
        rollback(env, clients, steps=Steps(echo=lambda _: None))


def test_unknown_to_the_pipeline_needs_an_artifact_to_fall_back_on(world, now):
    env, clients, pipeline, cfn = world
    list_actions(pipeline, now, items=[])
    with pytest.raises(RollbackFailedError, match="pass --artifact"):
        rollback(env, clients, steps=Steps(echo=lambda _: None), sleep=Activator(clients.ssm, None))
    assert active(clients.ssm) == B

    list_actions(pipeline, now, items=[])
    expect_change_set(cfn, A)
    result = rollback(
        env,
        clients,
        artifact=f"s3://{ARTIFACT_BUCKET}/data-platform/Synth_Outp/{EXEC[A]}.zip",
        steps=Steps(echo=lambda _: None),
        sleep=Activator(clients.ssm, A),
        poll_s=0,
    )
    assert result.method == "template" and result.fallback_reason.startswith("NoSuchExecution")


def test_a_pipeline_rollback_still_running_at_the_timeout_is_not_raced_by_a_change_set(world, now):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now)
    pipeline.add_response(
        "rollback_stage",
        {"pipelineExecutionId": "exec-rollback"},
        {"pipelineName": PIPELINE, "stageName": "Prod", "targetPipelineExecutionId": EXEC[A]},
    )
    pipeline.add_response(
        "get_pipeline_execution",
        execution("InProgress"),
        {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback"},
    )
    ticks = iter(range(0, 1000, 10))  # every look at the clock is 10 s later
    steps = Steps(echo=lambda _: None, clock=lambda: float(next(ticks)))
    with pytest.raises(RollbackFailedError, match="do not start a second rollback"):
        rollback(env, clients, steps=steps, timeout_s=5, poll_s=0, sleep=lambda _: None)


def test_forcing_the_pipeline_method_does_not_fall_back(world, now):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now)
    pipeline.add_client_error("rollback_stage", "ConflictException", "another execution is in progress")
    with pytest.raises(RollbackFailedError, match="ConflictException"):
        rollback(env, clients, method="pipeline", steps=Steps(echo=lambda _: None))


def test_a_deployment_that_does_not_change_the_active_release_is_a_failure(world, now):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now)
    pipeline.add_response(
        "rollback_stage",
        {"pipelineExecutionId": "exec-rollback"},
        {"pipelineName": PIPELINE, "stageName": "Prod", "targetPipelineExecutionId": EXEC[A]},
    )
    pipeline.add_response(
        "get_pipeline_execution",
        execution("Succeeded"),
        {"pipelineName": PIPELINE, "pipelineExecutionId": "exec-rollback"},
    )
    ticks = iter(range(0, 10000, 30))
    steps = Steps(echo=lambda _: None, clock=lambda: float(next(ticks)))
    with pytest.raises(RollbackFailedError, match=f"still names {B}, not {A}"):
        rollback(env, clients, steps=steps, poll_s=0, sleep=lambda _: None)


def test_dry_run_resolves_everything_and_changes_nothing(world, now):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now)
    result = rollback(env, clients, dry_run=True, steps=Steps(echo=lambda _: None))
    assert (result.method, result.reference, result.to_release) == ("dry-run (pipeline)", EXEC[A], A)
    assert active(clients.ssm) == B


def test_status_reports_the_active_release_its_execution_and_the_history(world, now):
    env, clients, pipeline, _ = world
    clients.ssm.put_parameter(Name=PARAMETER, Value=A, Type="String", Overwrite=True)  # a rollback to A
    list_actions(pipeline, now)
    report = status(env, clients)
    assert report["active_release"] == A and report["previous_release"] == B
    assert report["deployed_by_execution"] == EXEC[A]
    assert [(h["release_id"], h["kind"]) for h in report["history"]] == [(A, "rollback"), (B, "deploy"), (A, "deploy")]


def test_the_release_template_is_found_by_its_activation_resource_and_checked():
    found = release_stack_template(cloud_assembly(A), stage="Prod", release_id=A)
    assert found.stack_name == "Prod-Release" and found.source.endswith("assembly-Prod/ProdReleaseDEF.template.json")
    with pytest.raises(TemplateError, match=f"activates {A}, not {B}: wrong artifact"):
        release_stack_template(cloud_assembly(A), stage="Prod", release_id=B)
    with pytest.raises(TemplateError, match="not a zip archive"):
        release_stack_template(b"not a zip", stage="Prod", release_id=A)


def test_a_template_over_the_body_limit_is_staged_in_s3(world):
    from cicd.rollback.template import StackTemplate, redeploy

    _, clients, _, cfn = world
    big = StackTemplate(
        "Prod-Release",
        {"Resources": {"Pad": {"Type": "AWS::CloudFormation::WaitConditionHandle", "Metadata": {"x": "y" * 60_000}}}},
        "artifact",
    )
    with pytest.raises(TemplateError, match="--template-bucket"):
        redeploy(clients.cloudformation, big, release_id=A)
    cfn.add_response(
        "create_change_set",
        {"Id": "cs-1"},
        {
            "StackName": "Prod-Release",
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "Capabilities": ANY,
            "Description": ANY,
            "TemplateURL": ANY,
        },
    )
    cfn.add_response(
        "describe_change_set",
        {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
        {"ChangeSetName": "cs-1", "StackName": "Prod-Release"},
    )
    with pytest.raises(TemplateError, match="didn't contain changes"):
        redeploy(clients.cloudformation, big, release_id=A, s3=clients.s3, template_bucket=ARTIFACT_BUCKET, poll_s=0)
    staged = clients.s3.list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix="rollback/Prod-Release/")["Contents"]
    assert len(staged) == 1 and staged[0]["Size"] > 51_200


def test_history_timestamps_order_versions(world):
    env, clients, _, _ = world
    from cicd.rollback.history import activations

    history = activations(clients.ssm, env.parameter)
    assert [(a.release_id, a.version) for a in history] == [(A, 1), (B, 2)]
    assert history[1].activated_at - history[0].activated_at >= timedelta(0)


def tampered_artifact(release_id: str) -> bytes:
    """The release's synth artifact with one extra resource in its release lane template (same ReleaseId)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(cloud_assembly(release_id))) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            body = source.read(name)
            if name == "assembly-Prod/ProdReleaseDEF.template.json":
                template = json.loads(body)
                template["Resources"]["Backdoor"] = {"Type": "AWS::IAM::User"}
                body = json.dumps(template).encode()
            target.writestr(name, body)
    return buffer.getvalue()


def artifact_rollback(env, clients, key: str):
    return rollback(
        env,
        clients,
        artifact=f"s3://{ARTIFACT_BUCKET}/{key}",
        steps=Steps(echo=lambda _: None),
        sleep=Activator(clients.ssm, A),
        poll_s=0,
    )


def test_an_artifact_whose_template_the_ledger_did_not_record_is_refused_before_deploying(world, now):
    env, clients, pipeline, _ = world  # the CloudFormation stub has no responses: any deploy call would fail
    clients.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="manual/tampered.zip", Body=tampered_artifact(A))
    list_actions(pipeline, now, items=[])
    with pytest.raises(RollbackRefusedError) as refused:
        artifact_rollback(env, clients, "manual/tampered.zip")
    message = str(refused.value)
    assert "manual/tampered.zip:assembly-Prod/ProdReleaseDEF.template.json has sha256" in message
    assert f"execution {EXEC[A]}" in message and "not the template that release was built with" in message
    assert active(clients.ssm) == B


def test_an_artifact_for_a_release_the_ledger_has_no_record_of_is_refused(world, now):
    env, clients, pipeline, _ = world
    for item in clients.s3.list_objects_v2(Bucket=EVIDENCE_BUCKET)["Contents"]:
        if f"/{EXEC[A]}/" in item["Key"]:
            clients.s3.delete_object(Bucket=EVIDENCE_BUCKET, Key=item["Key"])
    list_actions(pipeline, now, items=[])
    with pytest.raises(RollbackRefusedError, match=f"records no template of stack Prod-Release for release {A}"):
        artifact_rollback(env, clients, f"data-platform/Synth_Outp/{EXEC[A]}.zip")
    assert active(clients.ssm) == B


@pytest.mark.parametrize("forgery", ["made-up-execution", "another-builds-upload"])
def test_records_no_reported_validate_build_made_cannot_vouch_for_a_tampered_template(world, now, forgery):
    """Issue 17 #6: any Validate build can upload templates.json and release.json under incoming/ for any
    execution; the ledger records them. Only the folder of the Validate build CodePipeline reported counts."""
    env, clients, pipeline, _ = world
    tampered = tampered_artifact(A)
    clients.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="manual/tampered.zip", Body=tampered)
    execution = "exec-forged" if forgery == "made-up-execution" else EXEC[A]
    record_build_evidence(
        clients.s3, EVIDENCE_BUCKET, pipeline=PIPELINE, execution_id=execution, release_id=A, archive=tampered,
        at=datetime.now(UTC) - timedelta(hours=2), reported=False, build_id="DataPlatformValidate:attackers-build",
    )  # fmt: skip
    list_actions(pipeline, now, items=[])
    with pytest.raises(RollbackRefusedError) as refused:
        artifact_rollback(env, clients, "manual/tampered.zip")
    assert "not the template that release was built with" in str(refused.value)
    assert active(clients.ssm) == B


def test_a_rollback_from_an_artifact_needs_the_ledger(world, now):
    env, clients, pipeline, _ = world
    env = type(env)(**{**env.__dict__, "evidence_bucket": None})
    list_actions(pipeline, now, items=[])
    with pytest.raises(RollbackRefusedError, match="pass --evidence-bucket"):
        artifact_rollback(env, clients, f"data-platform/Synth_Outp/{EXEC[A]}.zip")
    assert active(clients.ssm) == B


def test_the_recorded_template_is_deployed_and_the_step_names_its_build(world, now):
    env, clients, pipeline, cfn = world
    list_actions(pipeline, now, items=[])
    expect_change_set(cfn, A)
    result = artifact_rollback(env, clients, f"data-platform/Synth_Outp/{EXEC[A]}.zip")
    [check] = [s for s in result.steps if s["step"] == "check the template against the ledger"]
    assert check["status"] == "ok" and f"as recorded by execution {EXEC[A]}" in check["detail"]


# --- faults while the pipeline rolls back (found by the fault suite, issue 24) ------------------------


@pytest.mark.parametrize("how", ["unreadable execution", "RollbackStage answer lost"])
def test_a_started_pipeline_rollback_is_never_raced_by_a_change_set(world, now, how):
    env, clients, pipeline, _ = world
    list_actions(pipeline, now)
    if how == "unreadable execution":
        pipeline.add_response(
            "rollback_stage",
            {"pipelineExecutionId": "exec-rollback"},
            {"pipelineName": PIPELINE, "stageName": "Prod", "targetPipelineExecutionId": EXEC[A]},
        )
        pipeline.add_client_error("get_pipeline_execution", "InternalServiceException", http_status_code=500)
        expected = "rollback execution exec-rollback was started: watch it in the console, do not start a second"
    else:

        def lost(**_):
            raise ConnectionClosedError(endpoint_url="codepipeline RollbackStage")

        clients.codepipeline.meta.events.register("before-parameter-build.codepipeline.RollbackStage", lost)
        expected = "RollbackStage may have started a rollback of data-platform-delivery/Prod"

    with pytest.raises(RollbackFailedError, match=expected):
        rollback(env, clients, steps=Steps(echo=lambda _: None), sleep=lambda _: None, poll_s=0)
    if how != "unreadable execution":
        clients.codepipeline.meta.events.unregister("before-parameter-build.codepipeline.RollbackStage", lost)


def test_a_history_that_cannot_be_read_fails_naming_it_and_changes_nothing(world, now):
    env, clients, _, _ = world

    def refuse(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetParameterHistory")

    clients.ssm.meta.events.register("before-parameter-build.ssm.GetParameterHistory", refuse)
    try:
        with pytest.raises(RollbackFailedError, match=r"could not read prod's release history .*nothing was changed"):
            rollback(env, clients, steps=Steps(echo=lambda _: None))
    finally:
        clients.ssm.meta.events.unregister("before-parameter-build.ssm.GetParameterHistory", refuse)
