"""The deployed trust-boundary check as CodePipeline runs it: the Build artifact in, a verdict out.

The stacks are deployed to moto's CloudFormation (GetTemplate then answers what was deployed); the Build
artifact is a cloud assembly, zipped as CodePipeline stores it, in moto S3. CodePipeline's job-result
calls go through a real client whose requests are validated and answered locally (moto has no job API).
The fast tests use a small assembly; the attack itself is played on DeliveryAudit as the real stack
synthesizes it (twice, hence `slow`: `make test` runs it, the gate's unit-tests leave it).
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from constructs import evidence_functions, trust_boundary_check

from config import load_all
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.store import EvidenceStore
from pipeline_assets.trust_boundary_check.handler import (
    CheckError,
    Settings,
    StackElsewhere,
    assembly_templates,
    assumed_cloudformation,
    run_check,
)
from stacks.delivery_audit_stack import DeliveryAuditStack, approvers_role_arns

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT, REGION = "111111111111", "eu-west-1"
EVIDENCE = "evidence-bucket"
ARTIFACTS = "pipeline-artifacts"
JOB = "22222222-abcd-4222-8bcd-222222abcdef"
PIPELINE_TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "delivery"}}},
    "Outputs": {"PipelineName": {"Value": "data-platform-delivery"}},
}
STAGING = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


def audit_template(bundle: str) -> dict[str, Any]:
    """A small DeliveryAudit: a queue, and a function deployed from the bundle named by its content hash."""
    return {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "GuardRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "EvidenceApprovalGuard0A1B2C3D": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": STAGING, "S3Key": f"{bundle}.zip"},
                    "Handler": "pipeline_assets.approval_guard.handler.handler",
                    "Role": {"Fn::GetAtt": ["GuardRole", "Arn"]},
                    "Runtime": "python3.12",
                },
            },
        }
    }


def small_assembly(out: Path, bundle: str, **elsewhere: dict[str, Any]) -> Path:
    out.mkdir(parents=True)
    templates = {"DeliveryPipeline": PIPELINE_TEMPLATE, "DeliveryAudit": audit_template(bundle), **elsewhere}
    artifacts = {
        name: {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{name}.template.json"}}
        for name in templates
    }
    (out / "manifest.json").write_text(json.dumps({"version": "41.0.0", "artifacts": artifacts}))
    for name, template in templates.items():
        (out / f"{name}.template.json").write_text(json.dumps(template))
    return out


def synthesize_audit(out: Path, repo_root: Path) -> Path:
    """DeliveryAudit as app.py builds it, its Lambda bundles taken from `repo_root`."""
    config = load_all()
    patch = pytest.MonkeyPatch()
    patch.setattr(evidence_functions, "REPO_ROOT", repo_root)
    patch.setattr(trust_boundary_check, "REPO_ROOT", repo_root)
    try:
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        app = cdk.App(context=context, outdir=str(out))
        DeliveryAuditStack(
            app,
            "DeliveryAudit",
            env=cdk.Environment(account=ACCOUNT, region=REGION),
            pipeline_name=config.delivery.pipeline_name,
            environment_accounts=[env.account for env in config.environments],
            retention_days=2557,
            approvers=approvers_role_arns(config),
            approver_identity=config.delivery.approver_identity,
            break_glass=[],
            trail_mode="create",
            organization_trail_arn=None,
            alarm_emails=["a@example.com"],
            identity_aliases=config.identity_aliases(),
        )
        app.synth()
    finally:
        patch.undo()
    (out / "DeliveryPipeline.template.json").write_text(json.dumps(PIPELINE_TEMPLATE))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["artifacts"]["DeliveryPipeline"] = {
        "type": "aws:cloudformation:stack",
        "environment": f"aws://{ACCOUNT}/{REGION}",
        "properties": {"templateFile": "DeliveryPipeline.template.json"},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def zipped(assembly: Path, into: Path) -> Path:
    return Path(shutil.make_archive(str(into), "zip", root_dir=assembly))


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    """The deployed build, and one whose guard bundle has another content hash."""
    base = tmp_path_factory.mktemp("small")
    deployed = small_assembly(base / "deployed", "a" * 64)
    changed = small_assembly(base / "changed", "b" * 64)
    return {"deployed": zipped(deployed, base / "deployed"), "changed": zipped(changed, base / "changed"),
            "deployed_dir": deployed}  # fmt: skip


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory) -> dict[str, Path]:
    """The deployed build, and a build whose only change is a pipeline_assets/__init__.py (outside the old path
    list, yet packed into the guard's bundle) that turns the guard's self-approval check off."""
    base = tmp_path_factory.mktemp("assemblies")
    repo = base / "repo"
    shutil.copytree(ROOT / "pipeline_assets", repo / "pipeline_assets", ignore=shutil.ignore_patterns("__pycache__"))
    deployed = synthesize_audit(base / "deployed", repo)
    (repo / "pipeline_assets" / "__init__.py").write_text(
        "from pipeline_assets.approval_guard import policy\npolicy.same_person = lambda *a, **k: False\n"
    )
    planted = synthesize_audit(base / "planted", repo)
    return {"deployed": zipped(deployed, base / "deployed"), "planted": zipped(planted, base / "planted"),
            "deployed_dir": deployed}  # fmt: skip


@pytest.fixture
def aws(object_lock_bucket):
    """moto with the evidence bucket, the artifact bucket and CDK's staging bucket."""
    s3 = object_lock_bucket(EVIDENCE)
    for bucket in (ARTIFACTS, STAGING):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String"
    )
    return {"s3": s3, "cloudformation": boto3.client("cloudformation", region_name=REGION)}


def deploy(aws, assembly: Path) -> None:
    """Both boundary stacks as deployed now, from `assembly` (each bundle placed where CloudFormation reads it)."""
    for name in ("DeliveryPipeline", "DeliveryAudit"):
        body = (assembly / f"{name}.template.json").read_text()
        for key in set(re.findall(r'"S3Key": "([^"]+)"', body)):
            aws["s3"].put_object(Bucket=STAGING, Key=key, Body=b"PK\x05\x06" + b"\x00" * 18)
        aws["cloudformation"].create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])


class CodePipeline:
    """A real CodePipeline client (requests are validated against the service model) whose job-result calls
    are answered locally and remembered."""

    def __init__(self) -> None:
        self.client = boto3.client("codepipeline", region_name=REGION)
        self.results: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("before-call.codepipeline", self._answer)

    def _answer(self, params, model, **_):
        self.results.append((model.name, json.loads(params["body"])))
        return SimpleNamespace(status_code=200, headers={}), {}


def job(artifact_key: str, *, hint: str = "false") -> dict[str, Any]:
    params = {"hint": hint, "pipeline_name": "data-platform-delivery", "execution_id": "e-7"}
    return {
        "CodePipeline.job": {
            "id": JOB,
            "accountId": ACCOUNT,
            "data": {
                "actionConfiguration": {"configuration": {"FunctionName": "f", "UserParameters": json.dumps(params)}},
                "inputArtifacts": [
                    {
                        "name": "Synth_Output",
                        "location": {"type": "S3", "s3Location": {"bucketName": ARTIFACTS, "objectKey": artifact_key}},
                    }
                ],
                "outputArtifacts": [],
                "artifactCredentials": {"accessKeyId": "ASIAJOB", "secretAccessKey": "s", "sessionToken": "t"},
            },
        }
    }


def check(
    aws,
    assemblies,
    build: str,
    *,
    hint: str = "false",
    stacks=("DeliveryPipeline", "DeliveryAudit"),
    elsewhere: tuple[StackElsewhere, ...] = (),
):
    key = f"data-platform-deli/Synth_Outp/{build}"
    aws["s3"].upload_file(str(assemblies[build]), ARTIFACTS, key)
    codepipeline = CodePipeline()
    credentials_seen = []

    def artifacts_s3(credentials):
        credentials_seen.append(credentials)
        return aws["s3"]

    store = EvidenceStore(aws["s3"], EVIDENCE, retention_days=2557)
    verdict = run_check(
        job(key, hint=hint),
        codepipeline=codepipeline.client,
        cloudformation=aws["cloudformation"],
        artifacts_s3=artifacts_s3,
        store=store,
        settings=Settings(EVIDENCE, 2557, None, tuple(stacks), elsewhere),
        cloudformation_in=lambda role_arn, region: assumed_cloudformation(
            boto3.client("sts", region_name=REGION), role_arn, region
        ),
    )
    assert credentials_seen in ([], [{"accessKeyId": "ASIAJOB", "secretAccessKey": "s", "sessionToken": "t"}])
    [(operation, params)] = codepipeline.results
    return verdict, operation, params, store


def test_a_build_that_deploys_what_is_deployed_does_not_move_the_boundary(aws, small):
    deploy(aws, small["deployed_dir"])

    verdict, operation, params, store = check(aws, small, "deployed")

    assert operation == "PutJobSuccessResult" and params["outputVariables"] == {"TRUST_BOUNDARY_CHANGED": "false"}
    assert verdict is not None and verdict.stacks == {"DeliveryPipeline": [], "DeliveryAudit": []}
    [key] = store.list_keys(layout.TRUST_BOUNDARY_PREFIX)
    assert key == layout.trust_boundary_key(pipeline="data-platform-delivery", execution_id="e-7", job_id=JOB)
    assert store.get_json(key)["changed"] is False


def test_a_changed_bundle_hash_moves_the_boundary_and_the_record_says_where(aws, small):
    deploy(aws, small["deployed_dir"])

    verdict, _, params, store = check(aws, small, "changed")

    assert params["outputVariables"] == {"TRUST_BOUNDARY_CHANGED": "true"}
    assert verdict is not None and verdict.stacks == {
        "DeliveryPipeline": [],
        "DeliveryAudit": ["changed /Resources/EvidenceApprovalGuard0A1B2C3D/Properties/Code/S3Key"],
    }
    [key] = store.list_keys(layout.TRUST_BOUNDARY_PREFIX)
    assert store.get_json(key)["differences"]["DeliveryAudit"] == verdict.stacks["DeliveryAudit"]


@pytest.mark.slow
def test_a_file_the_path_list_missed_that_changes_the_guard_bundle_moves_the_boundary(aws, assemblies):
    """Issue 17 #1: pipeline_assets/__init__.py was outside the path list (9cf02fd's in_boundary() said False),
    yet it is packed into the guard's bundle; one that patches policy.same_person made the guard accept a
    self-approval. Played on DeliveryAudit as the real stack synthesizes it."""
    deploy(aws, assemblies["deployed_dir"])

    verdict, _, params, store = check(aws, assemblies, "planted")

    assert params["outputVariables"] == {"TRUST_BOUNDARY_CHANGED": "true"}
    assert verdict is not None and verdict.stacks["DeliveryPipeline"] == []
    changed = verdict.stacks["DeliveryAudit"]
    assert any(re.fullmatch(r"changed /Resources/EvidenceApprovalGuard\w+/Properties/Code/S3Key", d) for d in changed)
    assert "moves the trust boundary: DeliveryAudit" in params["executionDetails"]["summary"]
    [key] = store.list_keys(layout.TRUST_BOUNDARY_PREFIX)
    assert store.get_json(key)["difference_counts"]["DeliveryAudit"] == len(changed)


@pytest.mark.parametrize("hint", ["true", "#{ChangeEvidence.TRUST_BOUNDARY_HINT}", ""])
def test_a_path_hint_other_than_false_counts_as_a_change(aws, small, hint):
    deploy(aws, small["deployed_dir"])

    verdict, _, params, _ = check(aws, small, "deployed", hint=hint)

    assert params["outputVariables"] == {"TRUST_BOUNDARY_CHANGED": "true"}
    assert verdict is not None and "path hint" in verdict.summary


def test_a_stack_cloudformation_does_not_have_fails_the_job(aws, small):
    deploy(aws, small["deployed_dir"])
    aws["cloudformation"].delete_stack(StackName="DeliveryPipeline")

    verdict, operation, params, store = check(aws, small, "deployed")

    assert verdict is None and operation == "PutJobFailureResult"
    assert "trust-boundary check error" in params["failureDetails"]["message"]
    assert list(store.list_keys(layout.TRUST_BOUNDARY_PREFIX)) == []


def test_a_stack_missing_from_the_artifact_fails_the_job_naming_it(aws, small):
    deploy(aws, small["deployed_dir"])

    verdict, operation, params, _ = check(aws, small, "deployed", stacks=("DeliveryPipeline", "Elsewhere"))

    assert verdict is None and operation == "PutJobFailureResult"
    assert (
        params["failureDetails"]["message"] == "the Build artifact's cloud assembly has no template for stack Elsewhere"
    )


ENV_ACCOUNT = "222222222222"
LOOKUP_ROLE = f"arn:aws:iam::{ENV_ACCOUNT}:role/cdk-hnb659fds-lookup-role-{ENV_ACCOUNT}-{REGION}"
ACCESS_STACK = StackElsewhere("DevPipelineAccess", LOOKUP_ROLE, REGION)


def reader_template(trusted: str) -> dict[str, Any]:
    """A small DevPipelineAccess: the role the bake names, trusting `trusted`."""
    trust = {"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}
    return {
        "Resources": {
            "Reader": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "data-platform-dev-release-health-reader",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
                },
            }
        }
    }


def deployed_elsewhere(aws, tmp_path, build_reader: dict[str, Any]) -> dict[str, Path]:
    """DevPipelineAccess deployed in the environment account (moto: credentials of an assumed role act in the
    role's account), and a build whose DevPipelineAccess is `build_reader`."""
    ours = reader_template(f"arn:aws:iam::{ACCOUNT}:root")
    deployed = small_assembly(tmp_path / "deployed", "a" * 64, DevPipelineAccess=ours)
    built = small_assembly(tmp_path / "built", "a" * 64, DevPipelineAccess=build_reader)
    deploy(aws, deployed)
    environment = assumed_cloudformation(boto3.client("sts", region_name=REGION), LOOKUP_ROLE, REGION)
    environment.create_stack(
        StackName="DevPipelineAccess", TemplateBody=json.dumps(ours), Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    with pytest.raises(aws["cloudformation"].exceptions.ClientError):  # only the environment account has it
        aws["cloudformation"].describe_stacks(StackName="DevPipelineAccess")
    return {"built": zipped(built, tmp_path / "built")}


def test_a_changed_stack_that_self_mutation_deploys_in_another_account_moves_the_boundary(aws, tmp_path):
    """Self-mutation (`cdk deploy DeliveryPipeline`) deploys the stacks the pipeline depends on, the environment
    accounts' PipelineAccess stacks included: a commit that lets everyone assume the role there must wait for
    ApproveTrustBoundary like a change to DeliveryAudit. Read through the environment's lookup role."""
    builds = deployed_elsewhere(aws, tmp_path, reader_template("*"))

    verdict, _, params, store = check(aws, builds, "built", elsewhere=(ACCESS_STACK,))

    assert params["outputVariables"] == {"TRUST_BOUNDARY_CHANGED": "true"}
    changed = ["changed /Resources/Reader/Properties/AssumeRolePolicyDocument/Statement[0]/Principal/AWS"]
    assert verdict is not None and verdict.stacks["DevPipelineAccess"] == changed
    assert "moves the trust boundary: DevPipelineAccess" in params["executionDetails"]["summary"]
    [key] = store.list_keys(layout.TRUST_BOUNDARY_PREFIX)
    assert store.get_json(key)["differences"]["DevPipelineAccess"] == changed


def test_an_unchanged_stack_in_another_account_leaves_the_boundary_where_it_is(aws, tmp_path):
    builds = deployed_elsewhere(aws, tmp_path, reader_template(f"arn:aws:iam::{ACCOUNT}:root"))

    verdict, _, params, _ = check(aws, builds, "built", elsewhere=(ACCESS_STACK,))

    assert params["outputVariables"] == {"TRUST_BOUNDARY_CHANGED": "false"}
    assert verdict is not None
    assert verdict.stacks == {"DeliveryPipeline": [], "DeliveryAudit": [], "DevPipelineAccess": []}


def test_stacks_elsewhere_come_from_the_environment_and_a_malformed_list_is_refused_naming_it():
    env = {"EVIDENCE_BUCKET": "b", "EVIDENCE_RETENTION_DAYS": "7", "BOUNDARY_STACKS": "DeliveryPipeline"}
    elsewhere = [{"stack": "DevPipelineAccess", "role_arn": LOOKUP_ROLE, "region": REGION}]
    assert Settings.from_env({**env, "BOUNDARY_STACKS_ELSEWHERE": json.dumps(elsewhere)}).elsewhere == (ACCESS_STACK,)
    assert Settings.from_env(env).elsewhere == ()
    with pytest.raises(CheckError, match=r"BOUNDARY_STACKS_ELSEWHERE must be a JSON list of .*KeyError"):
        Settings.from_env({**env, "BOUNDARY_STACKS_ELSEWHERE": '[{"stack": "DevPipelineAccess"}]'})


def test_misconfiguration_names_every_missing_variable():
    with pytest.raises(CheckError, match=r"EVIDENCE_BUCKET is not set; .*BOUNDARY_STACKS names no stack"):
        Settings.from_env({"EVIDENCE_RETENTION_DAYS": "7"})


def test_only_a_cloud_assembly_is_read(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("other.txt", "x")
    with zipfile.ZipFile(archive) as opened, pytest.raises(CheckError, match=r"no manifest\.json at its root"):
        assembly_templates(opened, ("DeliveryAudit",))
