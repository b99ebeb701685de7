"""The stage: what it exposes to later steps, its stack order, and a clear stop without a bundle."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest

from stacks.data_platform_stage import DataPlatformStage, has_delivery_access
from stacks.release_bundle import BUILD_COMMAND, ReleaseBundleError
from stacks.release_lane_stack import ReleaseLaneStack

DELIVERY = {"delivery_account": "111111111111", "delivery_pipeline_name": "data-platform-delivery"}

OUTPUTS = {
    "ReleaseBucketName": "Storage",
    "DagBucketName": "Storage",
    "BatchApplicationId": "Compute",
    "StreamingApplicationId": "Compute",
    "AirflowEnvironmentName": "Orchestration",
    "ActiveReleaseParameterName": "Release",
    "ReleaseId": "Release",
}


def test_the_stage_holds_its_stacks_in_deployment_order(synth):
    stage = synth.stage("staging")
    assert [s.node.id for s in stage.stacks] == [
        "Storage",
        "Compute",
        "Orchestration",
        "Release",
        "Audit",
        "Monitoring",
        "DeliveryAccess",
    ]
    assert isinstance(stage.release_lane, ReleaseLaneStack)
    # Cross-stack references become dependencies when the stage is synthesized.
    artifacts = {a.hierarchical_id.split("/")[-1]: a for a in stage.synth().stacks}
    depends = {
        stack_id: {
            d.hierarchical_id.split("/")[-1] for d in a.dependencies if d.id in {x.id for x in artifacts.values()}
        }
        for stack_id, a in artifacts.items()
    }
    assert depends["Compute"] == {"Storage"}
    assert depends["Orchestration"] == {"Storage", "Compute"}
    assert depends["Release"] == {"Storage", "Orchestration"}


def test_every_stack_is_deployed_to_the_environments_account_and_region(synth, config):
    for env in ("dev", "prod"):
        settings = config.environment(env)
        for stack in synth.stage(env).stacks:
            assert (stack.account, stack.region) == (settings.account, settings.region)
            assert stack.stack_name == f"{env.capitalize()}-{stack.node.id}"


def test_later_steps_get_names_as_attributes_and_outputs(synth, release_id):
    stage = synth.stage("dev")
    resolve = stage.storage.resolve
    assert resolve(stage.release_bucket_name) == {"Ref": "ReleaseBucket"}
    assert resolve(stage.dag_bucket_name) == {"Ref": "DagBucket"}
    assert stage.compute.resolve(stage.batch_application_id) == {"Fn::GetAtt": ["BatchApplication", "ApplicationId"]}
    assert stage.compute.resolve(stage.streaming_application_id) == {
        "Fn::GetAtt": ["StreamingApplication", "ApplicationId"]
    }
    assert stage.active_release_parameter_name == "/data-platform/dev/active-release"
    assert stage.release_id == release_id
    for name, stack_id in OUTPUTS.items():
        output = stage.outputs[name]
        assert isinstance(output, cdk.CfnOutput)
        assert cdk.Stack.of(output).node.id == stack_id, name


def test_a_missing_bundle_stops_synth_with_the_build_command(config, tmp_path):
    missing = tmp_path / "build" / "release" / "current"
    with pytest.raises(ReleaseBundleError) as raised:
        DataPlatformStage(cdk.App(), "Dev", env_config=config.environment("dev"), release_dir=missing, **DELIVERY)
    message = str(raised.value)
    assert str(missing) in message
    assert BUILD_COMMAND in message and "cicd.release.bundle import build" in message


@pytest.mark.parametrize(
    ("manifest", "files", "expected"),
    [
        ("{not json", {}, "is not valid JSON"),
        (json.dumps({"release_id": "latest", "files": {}}), {}, "'latest' is not a release id"),
        (
            json.dumps({"release_id": "r-0123456789abcdef", "files": {"dags/a.py": "00"}}),
            {},
            r"1 file\(s\) of release\.json are missing",
        ),
        (
            json.dumps({"release_id": "r-0123456789abcdef", "files": {"dbt/x.yml": "00"}}),
            {"dbt/x.yml": b"x"},
            "lists no dags/ files",
        ),
    ],
)
def test_a_malformed_bundle_is_refused_with_the_reason(config, tmp_path, manifest, files, expected):
    (tmp_path / "release.json").write_text(manifest)
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    with pytest.raises(ReleaseBundleError, match=expected) as raised:
        DataPlatformStage(cdk.App(), "Dev", env_config=config.environment("dev"), release_dir=tmp_path, **DELIVERY)
    assert str(tmp_path) in str(raised.value)


def test_integration_outputs_are_environment_variables_backed_by_stack_outputs(synth):
    stage = synth.stage("dev")
    assert all(name.isupper() and isinstance(o, cdk.CfnOutput) for name, o in stage.integration_outputs.items())
    assert stage.integration_outputs["RELEASE_BUCKET"] is stage.outputs["ReleaseBucketName"]
    assert stage.integration_outputs["ACTIVE_RELEASE_PARAMETER"] is stage.outputs["ActiveReleaseParameterName"]
    assert [s.node.id for s in stage.platform_stacks] == ["Storage", "Compute", "Orchestration"]


def test_prod_has_no_delivery_access_stack_and_refuses_to_name_its_role(synth):
    stage = synth.stage("prod")
    assert "DeliveryAccess" not in [s.node.id for s in stage.stacks]
    assert stage.delivery_access is None
    with pytest.raises(ValueError, match=r"data_platform_stage\.py: prod has no DeliveryAccess role.*staging"):
        _ = stage.integration_test_role_arn


def test_staging_keeps_the_role_its_integration_tests_assume(synth, config):
    stage = synth.stage("staging")
    assert stage.delivery_access is not None
    assert stage.integration_test_role_arn == (
        f"arn:aws:iam::{config.environment('staging').account}:role/data-platform-staging-integration-tests"
    )


@pytest.mark.parametrize(("env", "expected"), [("dev", True), ("staging", True), ("prod", False)])
def test_no_environment_holding_production_data_is_reachable_from_the_delivery_account(config, env, expected):
    settings = config.environment(env)
    assert has_delivery_access(settings) is expected
    production_copy = settings.model_copy(update={"data": settings.data.model_copy(update={"source": "production"})})
    assert has_delivery_access(production_copy) is False
