"""Release lane: upload the bundle to its immutable prefix, then activate it; never touch MWAA."""

from __future__ import annotations

import json
from pathlib import Path

from constructs.release_activator import ACTIVATOR_SOURCE


def resources(synth, env="dev") -> dict:
    return synth.template(env, "Release").to_json()["Resources"]


def one(found: dict) -> tuple[str, dict]:
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def test_resource_counts(synth):
    template = synth.template("dev", "Release")
    template.resource_count_is("Custom::CDKBucketDeployment", 1)
    template.resource_count_is("Custom::ReleaseActivation", 1)
    template.resource_count_is("AWS::Lambda::Function", 3)  # activator, provider framework, BucketDeployment
    template.resource_count_is("AWS::Logs::LogGroup", 3)
    # The fast lane: a release never updates the MWAA environment or any platform resource.
    for kind in ("AWS::MWAA::Environment", "AWS::EMRServerless::Application", "AWS::S3::Bucket", "AWS::KMS::Key"):
        template.resource_count_is(kind, 0)


def test_the_bundle_goes_to_its_own_prefix_and_is_never_pruned_or_deleted(synth, release_id):
    _, upload = one(synth.template("dev", "Release").find_resources("Custom::CDKBucketDeployment"))
    props = upload["Properties"]
    assert props["DestinationBucketKeyPrefix"] == f"releases/{release_id}/"
    assert props["Prune"] is False
    assert props["RetainOnDelete"] is True
    assert props["DestinationBucketName"] == {"Fn::ImportValue": "Dev-Storage:ExportsOutputRefReleaseBucket27D7FE39"}


def test_activation_names_the_release_and_waits_for_the_upload(synth, release_id):
    all_resources = resources(synth)
    upload_id, _ = one({k: v for k, v in all_resources.items() if v["Type"] == "Custom::CDKBucketDeployment"})
    _, activation = one({k: v for k, v in all_resources.items() if v["Type"] == "Custom::ReleaseActivation"})
    props = activation["Properties"]
    assert props["ReleaseId"] == release_id
    assert props["DagPrefix"] == "dags/"
    assert props["ParameterName"] == "/data-platform/dev/active-release"
    assert props["StateKey"] == "active-release.json"
    assert props["DagBucket"] == {"Fn::ImportValue": "Dev-Storage:ExportsOutputRefDagBucket51041479"}
    assert upload_id in activation["DependsOn"]


def test_the_activator_runs_from_the_handler_in_pipeline_assets(synth):
    functions = synth.template("dev", "Release").find_resources("AWS::Lambda::Function")
    activator = [f for f in functions.values() if f["Properties"].get("Handler") == "handler.on_event"]
    assert len(activator) == 1
    props = activator[0]["Properties"]
    assert props["Runtime"] == "python3.14"
    assert "ReservedConcurrentExecutions" not in props  # config/dev.yaml states no quota: nothing reserved
    assert props["Timeout"] == 300


def test_the_activator_package_is_the_handler_only(synth, tmp_path):
    stage = synth.stage("dev")
    assembly = stage.synth()
    template = json.loads(
        Path(assembly.get_stack_artifact(stage.release_lane.artifact_id).template_full_path).read_text()
    )
    assets = Path(assembly.directory)
    code = template["Resources"][stage.release_lane.resolve(stage.activator_function.node.default_child.logical_id)]
    asset_dir = next(
        p
        for p in assets.parent.glob("asset.*")
        if p.name.startswith(f"asset.{code['Properties']['Code']['S3Key'][:-4]}")
    )
    shipped = sorted(p.name for p in asset_dir.iterdir())
    assert "handler.py" in shipped
    assert "bench.py" not in shipped and "__pycache__" not in shipped
    assert (ACTIVATOR_SOURCE / "handler.py").read_bytes() == (asset_dir / "handler.py").read_bytes()


def test_the_activator_may_touch_only_the_dag_prefix_state_file_and_parameter(synth, cfn):
    stage = synth.stage("dev")
    template = synth.template("dev", "Release")
    statements = cfn.statements_of(template, cfn.logical_id(stage.release_lane.activator.role))
    for statement in statements:
        actions = cfn.as_list(statement["Action"])
        resources_text = cfn.rendered(statement["Resource"])
        assert "*" not in cfn.as_list(statement["Resource"])
        if any(a.startswith(("s3:Put", "s3:Delete", "s3:Abort")) for a in actions):
            objects = [r for r in cfn.as_list(statement["Resource"]) if "Fn::Join" in r]
            assert all(cfn.rendered(r).endswith(('/dags/*"]]}', '/active-release.json"]]}')) for r in objects)
            assert "ReleaseBucket" not in resources_text  # releases are never overwritten by activation
        if any(a.startswith("ssm:") for a in actions):
            assert set(actions) == {"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"}
            assert resources_text.endswith(':parameter/data-platform/dev/active-release"]]}')


def test_outputs_name_the_release_and_its_parameter(synth, release_id):
    outputs = synth.template("dev", "Release").to_json()["Outputs"]
    assert outputs["ReleaseId"]["Value"] == release_id
    assert outputs["ActiveReleaseParameterName"]["Value"] == "/data-platform/dev/active-release"
    assert outputs["ReleasePrefix"]["Value"] == f"releases/{release_id}/"
    assert outputs["ActiveReleaseId"]["Value"]["Fn::GetAtt"][1] == "ReleaseId"
