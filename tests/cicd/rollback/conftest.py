"""An environment with two released and activated releases (moto), and a stubbed delivery pipeline."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cicd.rollback.drill import record_build_evidence
from cicd.rollback.rollback import Clients, Environment

REGION = "eu-west-1"
A, B, C = "r-000000000000000a", "r-000000000000000b", "r-000000000000000c"
PARAMETER = "/data-platform/prod/active-release"
RELEASE_BUCKET = "prod-release-bucket"
ARTIFACT_BUCKET = "pipeline-artifact-bucket"
EVIDENCE_BUCKET = "delivery-evidence-bucket"
PIPELINE = "data-platform-delivery"
EXEC = {A: "exec-aaaa", B: "exec-bbbb"}


def release_template(release_id: str) -> dict:
    """The release lane stack as CDK synthesizes it, reduced to what the rollback looks at."""
    return {
        "Description": f"Data platform release lane: release {release_id}",
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Resources": {
            "ActivatorActivation": {
                "Type": "Custom::ReleaseActivation",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:eu-west-1:444444444444:function:provider",
                    "ReleaseId": release_id,
                },
            }
        },
    }


def cloud_assembly(release_id: str) -> bytes:
    """A zipped cdk.out of a pipeline synth: top manifest, one nested assembly per stage."""
    top = {
        "version": "41.0.0",
        "artifacts": {
            f"assembly-{s}": {
                "type": "cdk:cloud-assembly",
                "properties": {"directoryName": f"assembly-{s}", "displayName": s},
            }
            for s in ("Staging", "Prod")
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps(top))
        for stage in ("Staging", "Prod"):
            manifest = {
                "artifacts": {
                    f"{stage}StorageABC": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://444444444444/eu-west-1",
                        "properties": {
                            "templateFile": f"{stage}StorageABC.template.json",
                            "stackName": f"{stage}-Storage",
                        },
                    },
                    f"{stage}ReleaseDEF": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://444444444444/eu-west-1",
                        "properties": {
                            "templateFile": f"{stage}ReleaseDEF.template.json",
                            "stackName": f"{stage}-Release",
                        },
                    },
                }
            }
            archive.writestr(f"assembly-{stage}/manifest.json", json.dumps(manifest))
            archive.writestr(
                f"assembly-{stage}/{stage}StorageABC.template.json",
                json.dumps({"Resources": {"Key": {"Type": "AWS::KMS::Key"}}}),
            )
            archive.writestr(
                f"assembly-{stage}/{stage}ReleaseDEF.template.json", json.dumps(release_template(release_id))
            )
    return buffer.getvalue()


def record_build(s3, execution: str, release_id: str, archive: bytes, at: datetime) -> None:
    """The ledger records the synth step leaves for an execution (templates.json, release.json)."""
    record_build_evidence(
        s3, EVIDENCE_BUCKET, pipeline=PIPELINE, execution_id=execution, release_id=release_id, archive=archive, at=at
    )


def action(
    execution: str,
    stage: str,
    name: str,
    status: str,
    *,
    at: datetime,
    release_id: str | None = None,
    artifact: str | None = None,
) -> dict:
    output: dict = {}
    if release_id:
        output["outputVariables"] = {"RELEASE_ID": release_id}
    if artifact:
        output["outputArtifacts"] = [
            {"name": "Synth_Output", "s3location": {"bucket": ARTIFACT_BUCKET, "key": artifact}}
        ]
    return {
        "pipelineExecutionId": execution,
        "actionExecutionId": f"{execution}-{stage}-{name}",
        "stageName": stage,
        "actionName": name,
        "startTime": at,
        "lastUpdateTime": at,
        "status": status,
        "output": output,
    }


def pipeline_history(now: datetime) -> list[dict]:
    """Executions: A built and deployed to prod, B built and deployed, C built but stopped at staging."""
    items = []
    for offset, (release_id, execution) in enumerate(((A, EXEC[A]), (B, EXEC[B]))):
        at = now - timedelta(hours=5 - offset * 2)
        items.append(
            action(
                execution,
                "Build",
                "Validate",
                "Succeeded",
                at=at,
                release_id=release_id,
                artifact=f"data-platform/Synth_Outp/{execution}.zip",
            )
        )
        items.append(action(execution, "Prod", "Prod-Release.Prepare", "Succeeded", at=at + timedelta(minutes=40)))
        items.append(action(execution, "Prod", "Prod-Release.Deploy", "Succeeded", at=at + timedelta(minutes=41)))
    items.append(
        action(
            "exec-cccc",
            "Build",
            "Validate",
            "Succeeded",
            at=now,
            release_id=C,
            artifact="data-platform/Synth_Outp/exec-cccc.zip",
        )
    )
    items.append(action("exec-cccc", "Prod", "Prod-Release.Deploy", "Failed", at=now))
    return items


@pytest.fixture(scope="module")
def _aws():
    # One mock and one set of clients per module, reset before each test (client creation dominates).
    mock = mock_aws()
    mock.start()
    try:
        names = ("s3", "ssm", "cloudformation", "codepipeline")
        yield mock, {name: boto3.client(name, region_name=REGION) for name in names}
    finally:
        mock.stop()


@pytest.fixture
def world(_aws):
    """Moto SSM and S3 with A then B activated in prod, release bundles and synth artifacts uploaded."""
    mock, aws = _aws
    mock.reset()
    s3, ssm = aws["s3"], aws["ssm"]
    for bucket in (RELEASE_BUCKET, ARTIFACT_BUCKET, EVIDENCE_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for release_id in (A, B, C):
        manifest = {"release_id": release_id, "git_sha": release_id[-1] * 40, "build_time": "2026-01-01T00:00:00+00:00"}
        s3.put_object(
            Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/release.json", Body=json.dumps(manifest).encode()
        )
    for release_id, execution in EXEC.items():
        s3.put_object(
            Bucket=ARTIFACT_BUCKET, Key=f"data-platform/Synth_Outp/{execution}.zip", Body=cloud_assembly(release_id)
        )
        record_build(s3, execution, release_id, cloud_assembly(release_id), datetime.now(UTC) - timedelta(days=1))
    for release_id in (A, B):
        ssm.put_parameter(Name=PARAMETER, Value=release_id, Type="String", Overwrite=True)
    env = Environment(
        name="prod",
        stage="Prod",
        pipeline=PIPELINE,
        parameter=PARAMETER,
        release_bucket=RELEASE_BUCKET,
        evidence_bucket=EVIDENCE_BUCKET,
    )
    with Stubber(aws["codepipeline"]) as pipeline_stub, Stubber(aws["cloudformation"]) as cfn_stub:
        clients = Clients(codepipeline=aws["codepipeline"], cloudformation=aws["cloudformation"], s3=s3, ssm=ssm)
        yield env, clients, pipeline_stub, cfn_stub
        pipeline_stub.assert_no_pending_responses()
        cfn_stub.assert_no_pending_responses()


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def rollback_world(_aws):
    """`reset()` -> (env, clients) of a fresh `world` (A then B activated), for tests that need many in a row."""
    mock, aws = _aws

    def reset():
        mock.reset()
        s3, ssm = aws["s3"], aws["ssm"]
        for bucket in (RELEASE_BUCKET, ARTIFACT_BUCKET, EVIDENCE_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for release_id in (A, B):
            manifest = {
                "release_id": release_id,
                "git_sha": release_id[-1] * 40,
                "build_time": "2026-01-01T00:00:00+00:00",
            }
            s3.put_object(
                Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/release.json", Body=json.dumps(manifest).encode()
            )
        for release_id, execution in EXEC.items():
            s3.put_object(
                Bucket=ARTIFACT_BUCKET, Key=f"data-platform/Synth_Outp/{execution}.zip", Body=cloud_assembly(release_id)
            )
            record_build(s3, execution, release_id, cloud_assembly(release_id), datetime.now(UTC) - timedelta(days=1))
        for release_id in (A, B):
            ssm.put_parameter(Name=PARAMETER, Value=release_id, Type="String", Overwrite=True)
        env = Environment(
            name="prod",
            stage="Prod",
            pipeline=PIPELINE,
            parameter=PARAMETER,
            release_bucket=RELEASE_BUCKET,
            evidence_bucket=EVIDENCE_BUCKET,
        )
        return env, Clients(codepipeline=None, cloudformation=None, s3=s3, ssm=ssm)

    return reset, datetime.now(UTC)
