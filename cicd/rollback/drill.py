"""Rollback drill: activate release A, then B, roll back to A, and prove the DAG folder is A's again.

    cicd release rollback-drill [--path pipeline|template|both] [--pad 180] [--json]

What is real and what is played, so that the numbers mean what they say:

- real: the release bundles (this repository's `dags` part, plus a `dbt/` file that must never
  reach the DAG folder), the release activator Lambda handler (pipeline_assets/activator) driven by
  CloudFormation-shaped custom-resource events, S3 and SSM (moto), and the rollback command's code
  (history, refusals, finding the execution, RollbackStage, waiting, fallback, verification).
- played: CodePipeline and CloudFormation, which cannot run here (moto has no RollbackStage or
  ListActionExecutions, and its CloudFormation cannot invoke a custom resource's Lambda without
  Docker). `DrillPipeline` and `DrillCloudFormation` answer those APIs and, where the real service
  would update the release lane stack, send the activator the Update event CloudFormation sends.

Each scenario checks: the DAG prefix is byte-identical to A's `dags/` part; every object outside
the prefix (MWAA's requirements/startup files, the release bucket) and every other SSM parameter
is untouched (same version ids); only the activator's state file and the active-release parameter
changed. It prints the measured local time per step and the modeled cloud time per step with sources.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cicd.release.bundle import content_hash
from cicd.release.parts import all_parts
from cicd.rollback.pipeline import release_lane_stage
from cicd.rollback.rollback import Clients, Environment, Steps, rollback
from pipeline_assets.activator.handler import on_event

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
RELEASE_BUCKET = "drill-release-bucket"
DAG_BUCKET = "drill-dag-bucket"
ARTIFACT_BUCKET = "drill-pipeline-artifacts"
EVIDENCE_BUCKET = "drill-evidence-bucket"
PARAMETER = "/data-platform/prod/active-release"
OTHER_PARAMETER = "/data-platform/prod/unrelated-setting"
PIPELINE = "data-platform-delivery"
STAGE = "Prod"
RELEASE_STACK = "Prod-Release"
DAG_PREFIX = "dags/"
STATE_KEY = "active-release.json"
TARGET_SECONDS = 180.0

# Cloud time per step, seconds (low, high), and where the numbers come from. Measured numbers come
# from this drill and pipeline_assets/activator/bench.py; the rest are estimates named as such.
MODEL: list[dict[str, Any]] = [
    {
        "step": "RollbackStage accepted, rollback execution starts",
        "paths": ("pipeline",),
        "low": 2,
        "high": 10,
        "source": "estimate: one API call plus CodePipeline scheduling the stage "
        "(https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-rollback.html)",
    },
    {
        "step": "download the synth artifact and find the template",
        "paths": ("template",),
        "low": 1,
        "high": 5,
        "source": "measured by this drill on moto (steps above) plus S3 transfer of a few MB",
    },
    {
        "step": "check the template's digest against the ledger",
        "paths": ("template",),
        "low": 1,
        "high": 10,
        "source": "estimate: one listing of 30 days of ledger partitions plus a few GETs (measured on moto above)",
    },
    {
        "step": "create the release lane change set",
        "paths": ("pipeline", "template"),
        "low": 10,
        "high": 30,
        "source": "estimate: CloudFormation CreateChangeSet for one small stack",
    },
    {
        "step": "execute: bundle upload custom resource re-copies A's bundle (prune=False)",
        "paths": ("pipeline", "template"),
        "low": 15,
        "high": 45,
        "source": "estimate: aws-cdk-lib BucketDeployment Lambda (aws s3 sync of an unchanged prefix)",
    },
    {
        "step": "execute: release activator custom resource",
        "paths": ("pipeline", "template"),
        "low": 5,
        "high": 20,
        "source": "activator: measured by this drill on moto (its line above) and by "
        "pipeline_assets/activator/bench.py for 200 files; plus the Provider framework's Lambda hop and response",
    },
    {
        "step": "CloudFormation stack update bookkeeping (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS -> COMPLETE)",
        "paths": ("pipeline", "template"),
        "low": 5,
        "high": 20,
        "source": "estimate",
    },
    {
        "step": "MWAA picks the DAG files up",
        "paths": ("pipeline", "template"),
        "low": 30,
        "high": 90,
        "source": "MWAA syncs the S3 DAG folder to its containers every 30 s "
        "(https://docs.aws.amazon.com/mwaa/latest/userguide/configuring-dag-folder.html); changed files are "
        "re-parsed within min_file_process_interval (30 s default), added/removed files within "
        "scheduler.dag_dir_list_interval = 60 s (constructs/airflow_environment.py)",
        "phase": "airflow",  # after activation: MWAA's own sync, the same for every deploy
    },
]
# The pipeline path re-runs the release-lane stage only (ProdRelease: Release.Prepare + Release.Deploy);
# the platform stacks deploy in stage Prod and the approval waits in stage ApproveProd, neither re-run.
# What would take seconds off, in order of effect (for the pipeline and the release lane's owners).
LEVERS = (
    "let the bundle upload skip a release whose release.json is already in the bucket (-15..-45 s on both paths)",
    "done: the release lane stack has its own pipeline stage (ProdRelease), so RollbackStage re-runs two actions "
    "instead of every platform stack's no-op change sets (was +60..+120 s on the pipeline path)",
    "done: the manual approval is in its own stage (ApproveProd), so a rollback never waits for a person",
)
DETECTION = (
    "automatic trigger: the DAG-health canary runs every 5 min and the release-health alarm evaluates 5-min "
    "periods, so a broken release is in ALARM 5-10 min after activation, inside the prod bake (20 min, "
    "config/prod.yaml); the stage's OnSuccess CloudWatchAlarm rule then rolls the stage back "
    "(https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-conditions.html)"
)


class DrillFailedError(AssertionError):
    pass


def release_files(root: Path, pad: int = 0) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """A: this repository's DAG folder as the release build bundles it. B: a realistic next release.

    `pad` adds that many generated pipelines (a DAG file and a spec each, a few KB like the real
    ones) to both releases, to drill at the platform's scale of 180 pipelines.
    """
    dags = {f"dags/{rel}": data for rel, data in all_parts()["dags"](root)}
    if not dags:
        raise DrillFailedError(f"the dags part of {root} is empty: nothing to drill with")
    for i in range(pad):
        name = f"generated_{i:03d}"
        dags[f"dags/{name}.py"] = f'"""Pipeline {name}."""\nfrom platform_dags import pipeline_dags\n'.encode() * 40
        dags[f"dags/pipelines/{name}.yaml"] = f"id: {name}\nowner: drill\nschedule: '@daily'\n".encode() * 30
    a = {**dags, "dbt/dbt_project.yml": b"name: data_platform\n"}  # other parts never reach the DAG folder
    b = dict(a)
    changed = sorted(k for k in a if k.endswith(".py"))[0]
    b[changed] = a[changed] + b"\n# changed in release B\n"
    removed = sorted(k for k in a if k.startswith("dags/") and k != changed)[-1]
    del b[removed]
    b["dags/pipelines/drill_new_pipeline.yaml"] = b"id: drill_new_pipeline\n"
    b["dags/drill_new_pipeline.py"] = b"# a DAG file that only release B has\n"
    return a, b


def upload(s3: Any, files: dict[str, bytes]) -> str:
    """As the release lane's bundle upload leaves it: releases/<id>/... and release.json (cicd/release/bundle.py)."""
    digest = content_hash(files)
    release_id = f"r-{digest[:16]}"
    manifest = {
        "release_id": release_id,
        "content_sha256": digest,
        "git_sha": None,
        "build_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    for path, data in files.items():
        s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/{path}", Body=data)
    s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/release.json", Body=json.dumps(manifest).encode())
    return release_id


def activation_properties(release_id: str) -> dict[str, str]:
    """The Custom::ReleaseActivation properties the release lane stack carries (constructs/release_activator.py)."""
    return {
        "ServiceToken": "arn:aws:lambda:eu-west-1:444444444444:function:Prod-Release-ActivatorProvider",
        "ReleaseBucket": RELEASE_BUCKET,
        "ReleaseId": release_id,
        "DagBucket": DAG_BUCKET,
        "DagPrefix": DAG_PREFIX,
        "ParameterName": PARAMETER,
        "StateKey": STATE_KEY,
    }


def release_lane_template(release_id: str) -> dict[str, Any]:
    return {
        "Description": f"Data platform release lane: release {release_id} (fast lane, no MWAA update)",
        "Resources": {
            "ActivatorActivation": {
                "Type": "Custom::ReleaseActivation",
                "Properties": activation_properties(release_id),
            }
        },
    }


def synth_artifact(release_id: str) -> bytes:
    """The synth action's output: a zipped cloud assembly with the Prod stage's release lane template."""
    top = {
        "artifacts": {"assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}}
    }
    nested = {
        "artifacts": {
            "ProdRelease": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "ProdRelease.template.json", "stackName": RELEASE_STACK},
            }
        }
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps(top))
        archive.writestr("assembly-Prod/manifest.json", json.dumps(nested))
        archive.writestr("assembly-Prod/ProdRelease.template.json", json.dumps(release_lane_template(release_id)))
    return buffer.getvalue()


@dataclass
class ReleaseLane:
    """The deployed release lane stack: its current custom-resource properties, updated the way CloudFormation does."""

    s3: Any
    ssm: Any
    properties: dict[str, str] | None = None
    activator_seconds: list[float] = field(default_factory=list)

    def deploy(self, release_id: str) -> None:
        new = activation_properties(release_id)
        event: dict[str, Any] = {
            "RequestType": "Create" if self.properties is None else "Update",
            "ResourceProperties": new,
        }
        if self.properties is not None:
            event |= {
                "OldResourceProperties": self.properties,
                "PhysicalResourceId": f"release-activation:{DAG_BUCKET}/{DAG_PREFIX}",
            }
        started = time.perf_counter()
        on_event(event, None, s3=self.s3, ssm=self.ssm)  # the real activator handler
        self.activator_seconds.append(time.perf_counter() - started)
        self.properties = new


def record_build_evidence(
    s3: Any,
    bucket: str,
    *,
    pipeline: str,
    execution_id: str,
    release_id: str,
    archive: bytes,
    at: datetime,
    reported: bool = True,
    build_id: str | None = None,
) -> None:
    """What the synth step and the ledger Lambda leave for an execution: templates.json (hashed by the same
    code as in the pipeline) and release.json, uploaded from the Validate build's folder, as ledger records;
    and (`reported`) the ledger's record of CodePipeline's event that this build was the execution's
    succeeded Build/Validate action."""
    from cicd.audit.evidence import template_hashes
    from pipeline_assets.ledger import layout
    from pipeline_assets.ledger.records import build_evidence_record, codepipeline_record

    build_id = build_id or f"DataPlatformValidate:{uuid.uuid5(uuid.NAMESPACE_URL, execution_id)}"
    with tempfile.TemporaryDirectory() as folder:
        zipfile.ZipFile(io.BytesIO(archive)).extractall(folder)
        templates = json.dumps(template_hashes(Path(folder))).encode()
    release = json.dumps({"release_id": release_id}).encode()
    for name, raw in (("templates.json", templates), ("release.json", release)):
        key = layout.incoming_key(
            pipeline=pipeline, execution_id=execution_id, upload_id=layout.safe(build_id), name=name
        )
        record = build_evidence_record(
            pipeline=pipeline,
            execution_id=execution_id,
            name=name,
            raw=raw,
            location={"bucket": bucket, "key": key},
            uploaded_at=at,
            recorded_at=at,
        )
        s3.put_object(Bucket=bucket, Key=record.key, Body=record.payload())
    if reported:
        event = {
            "version": "0",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"validate/{execution_id}")),
            "detail-type": "CodePipeline Action Execution State Change",
            "source": "aws.codepipeline",
            "account": "111111111111",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "pipeline": pipeline,
                "execution-id": execution_id,
                "stage": "Build",
                "action": "Validate",
                "state": "SUCCEEDED",
                "action-execution-id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"validate-action/{execution_id}")),
                "type": {"owner": "AWS", "provider": "CodeBuild", "category": "Build", "version": "1"},
                "execution-result": {"external-execution-id": build_id},
                "pipeline-execution-attempt": 1.0,
                "version": 1.0,
            },
        }
        record = codepipeline_record(event, recorded_at=at)
        s3.put_object(Bucket=bucket, Key=record.key, Body=record.payload())


def _client_error(code: str, message: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class DrillPipeline:
    """CodePipeline's answers for the drill: the executions that built and deployed releases, and RollbackStage."""

    lane: ReleaseLane
    artifacts_s3: Any
    refuse_rollback: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self, release_id: str) -> str:
        """A normal execution: synth exports RELEASE_ID and stores the artifact, stage ProdRelease deploys."""
        execution = str(uuid.uuid4())
        key = f"{PIPELINE}/Synth_Outp/{execution[:8]}.zip"
        archive = synth_artifact(release_id)
        self.artifacts_s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=archive)
        now = datetime.now(UTC)
        record_build_evidence(
            self.artifacts_s3, EVIDENCE_BUCKET, pipeline=PIPELINE, execution_id=execution, release_id=release_id,
            archive=archive, at=now,
        )  # fmt: skip
        output = {
            "outputVariables": {"RELEASE_ID": release_id},
            "outputArtifacts": [{"name": "Synth_Output", "s3location": {"bucket": ARTIFACT_BUCKET, "key": key}}],
        }
        self.actions.append(self._action(execution, "Build", "Validate", now, output))
        self.lane.deploy(release_id)
        for name in ("Release.Prepare", "Release.Deploy"):
            self.actions.append(self._action(execution, release_lane_stage(STAGE), name, datetime.now(UTC), {}))
        self.executions[execution] = {"release_id": release_id, "status": "Succeeded"}
        return execution

    @staticmethod
    def _action(execution: str, stage: str, name: str, at: datetime, output: dict[str, Any]) -> dict[str, Any]:
        return {
            "pipelineExecutionId": execution,
            "stageName": stage,
            "actionName": name,
            "status": "Succeeded",
            "startTime": at,
            "lastUpdateTime": at,
            "output": output,
        }

    def list_action_executions(self, pipelineName: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        return {"actionExecutionDetails": list(reversed(self.actions))}

    def rollback_stage(self, pipelineName: str, stageName: str, targetPipelineExecutionId: str) -> dict[str, Any]:  # noqa: N803
        if self.refuse_rollback:
            raise _client_error(
                "UnableToRollbackStageException",
                "the target execution was started in an earlier pipeline structure version",
                "RollbackStage",
            )
        if stageName != release_lane_stage(STAGE):
            # Any other stage would not redeploy the release lane (ApproveProd, Prod) or not exist.
            raise _client_error(
                "StageNotFoundException", f"{stageName} does not deploy the release lane", "RollbackStage"
            )
        target = self.executions[targetPipelineExecutionId]
        self.lane.deploy(target["release_id"])  # the stage re-runs with the target's artifacts
        execution = str(uuid.uuid4())
        self.executions[execution] = {"release_id": target["release_id"], "status": "Succeeded", "rollback": True}
        return {"pipelineExecutionId": execution}

    def get_pipeline_execution(self, pipelineName: str, pipelineExecutionId: str) -> dict[str, Any]:  # noqa: N803
        status = self.executions[pipelineExecutionId]["status"]
        return {"pipelineExecution": {"pipelineExecutionId": pipelineExecutionId, "status": status}}


@dataclass
class DrillCloudFormation:
    """CloudFormation's answers for the fallback: a change set whose execution updates the custom resource."""

    lane: ReleaseLane
    change_sets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create_change_set(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["StackName"] != RELEASE_STACK or "TemplateBody" not in kwargs:
            raise _client_error("ValidationError", f"unexpected change set request {sorted(kwargs)}", "CreateChangeSet")
        change_set = f"arn:aws:cloudformation:{REGION}:444444444444:changeSet/{kwargs['ChangeSetName']}/{uuid.uuid4()}"
        self.change_sets[change_set] = json.loads(kwargs["TemplateBody"])
        return {"Id": change_set, "StackId": f"stack/{RELEASE_STACK}"}

    def describe_change_set(self, ChangeSetName: str, StackName: str) -> dict[str, Any]:  # noqa: N803
        template = self.change_sets[ChangeSetName]
        props = template["Resources"]["ActivatorActivation"]["Properties"]
        changed = props != self.lane.properties
        changes = [{"ResourceChange": {"LogicalResourceId": "ActivatorActivation"}}] if changed else []
        return {"Status": "CREATE_COMPLETE", "Changes": changes}

    def execute_change_set(self, ChangeSetName: str, StackName: str) -> dict[str, Any]:  # noqa: N803
        props = self.change_sets[ChangeSetName]["Resources"]["ActivatorActivation"]["Properties"]
        self.lane.deploy(props["ReleaseId"])  # CloudFormation sends the custom resource its new properties
        return {}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803
        return {"Stacks": [{"StackName": StackName, "StackStatus": "UPDATE_COMPLETE"}]}


def snapshot(s3: Any, ssm: Any) -> dict[str, Any]:
    """Every object version id and parameter version: 'nothing else changed' means these are equal."""
    objects = {}
    for bucket in (DAG_BUCKET, RELEASE_BUCKET):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                if version["IsLatest"]:
                    objects[f"{bucket}/{version['Key']}"] = version["VersionId"]
    parameters = {
        p["Name"]: p["Version"]
        for p in ssm.get_parameters_by_path(Path="/data-platform/", Recursive=True)["Parameters"]
    }
    return {"objects": objects, "parameters": parameters}


def dag_folder(s3: Any) -> dict[str, bytes]:
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=DAG_BUCKET, Prefix=DAG_PREFIX)
        for item in page.get("Contents", [])
    ]
    return {key: s3.get_object(Bucket=DAG_BUCKET, Key=key)["Body"].read() for key in keys}


def verify(s3: Any, ssm: Any, before: dict[str, Any], files_a: dict[str, bytes], release_a: str) -> dict[str, Any]:
    folder = dag_folder(s3)
    expected = {k: v for k, v in files_a.items() if k.startswith("dags/")}
    if folder != expected:
        missing, extra = sorted(set(expected) - set(folder)), sorted(set(folder) - set(expected))
        different = sorted(k for k in set(folder) & set(expected) if folder[k] != expected[k])
        raise DrillFailedError(
            f"DAG folder is not A's: missing {missing[:3]}, extra {extra[:3]}, different {different[:3]}"
        )
    after = snapshot(s3, ssm)
    changed_objects = sorted(
        k for k in set(before["objects"]) | set(after["objects"]) if before["objects"].get(k) != after["objects"].get(k)
    )
    # The DAG folder (checked byte for byte above) and the activator's state file may change; nothing else.
    allowed = (f"{DAG_BUCKET}/{DAG_PREFIX}", f"{DAG_BUCKET}/{STATE_KEY}")
    unexpected = [k for k in changed_objects if not k.startswith(allowed)]
    if unexpected:
        raise DrillFailedError(f"objects outside the DAG folder changed: {unexpected[:5]}")
    changed_parameters = sorted(
        k
        for k in set(before["parameters"]) | set(after["parameters"])
        if before["parameters"].get(k) != after["parameters"].get(k)
    )
    if changed_parameters != [PARAMETER]:
        raise DrillFailedError(f"SSM parameters changed: {changed_parameters} (expected only {PARAMETER})")
    if ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] != release_a:
        raise DrillFailedError(f"{PARAMETER} does not name {release_a}")
    state = json.loads(s3.get_object(Bucket=DAG_BUCKET, Key=STATE_KEY)["Body"].read())
    if state["release_id"] != release_a:
        raise DrillFailedError(f"the activator's state file names {state['release_id']}, not {release_a}")
    return {
        "dag_files": len(folder),
        "dag_bytes": sum(len(v) for v in folder.values()),
        "objects_rewritten_in_dag_folder": len(
            [k for k in changed_objects if k.startswith(f"{DAG_BUCKET}/{DAG_PREFIX}")]
        ),
        "untouched_objects": len(set(after["objects"]) - set(changed_objects)),
        "changed_parameters": changed_parameters,
    }


@contextmanager
def moto_environment() -> Iterator[tuple[Any, Any]]:
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "drill",
        "AWS_SECRET_ACCESS_KEY": "drill",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ.setdefault(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        ssm = boto3.client("ssm", region_name=REGION)
        for bucket in (RELEASE_BUCKET, DAG_BUCKET, ARTIFACT_BUCKET, EVIDENCE_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        # MWAA's own files beside the DAG folder, and a parameter that is none of the activator's business.
        mwaa = ROOT / "pipeline_assets" / "mwaa"
        for name in ("requirements.txt", "startup.sh"):
            body = (mwaa / name).read_bytes() if (mwaa / name).exists() else f"# {name}\n".encode()
            s3.put_object(Bucket=DAG_BUCKET, Key=name, Body=body)
        ssm.put_parameter(Name=OTHER_PARAMETER, Value="keep-me", Type="String")
        yield s3, ssm


def run_scenario(path: str, root: Path = ROOT, echo: Callable[[str], None] = print, pad: int = 0) -> dict[str, Any]:
    files_a, files_b = release_files(root, pad)
    with moto_environment() as (s3, ssm):
        release_a, release_b = upload(s3, files_a), upload(s3, files_b)
        lane = ReleaseLane(s3, ssm)
        pipeline = DrillPipeline(lane, s3)
        started = time.perf_counter()
        pipeline.run(release_a)
        activate_a = time.perf_counter() - started
        started = time.perf_counter()
        pipeline.run(release_b)
        switch_b = time.perf_counter() - started
        if dag_folder(s3) != {k: v for k, v in files_b.items() if k.startswith("dags/")}:
            raise DrillFailedError("activating B did not produce B's DAG folder")
        before = snapshot(s3, ssm)
        pipeline.refuse_rollback = path == "template"
        clients = Clients(codepipeline=pipeline, cloudformation=DrillCloudFormation(lane), s3=s3, ssm=ssm)
        env = Environment("prod", STAGE, PIPELINE, PARAMETER, RELEASE_BUCKET, evidence_bucket=EVIDENCE_BUCKET)
        steps = Steps(echo=echo)
        started = time.perf_counter()
        result = rollback(env, clients, steps=steps, poll_s=0, sleep=lambda _: None)
        rollback_seconds = time.perf_counter() - started
        checks = verify(s3, ssm, before, files_a, release_a)
    if result.to_release != release_a or result.method != path:
        raise DrillFailedError(
            f"rolled back to {result.to_release} via {result.method}, expected {release_a} via {path}"
        )
    modeled = [m for m in MODEL if path in m["paths"]]
    low, high = sum(m["low"] for m in modeled), sum(m["high"] for m in modeled)
    activated_high = sum(m["high"] for m in modeled if m.get("phase") != "airflow")
    return {
        "path": path,
        "release_a": release_a,
        "release_b": release_b,
        "files": {"a": len(files_a), "b": len(files_b)},
        "measured_local_seconds": {
            "activate_a": round(activate_a, 3),
            "switch_to_b": round(switch_b, 3),
            "rollback_command": round(rollback_seconds, 3),
            "activator_during_rollback": round(lane.activator_seconds[-1], 3),
        },
        "rollback_steps": [{"step": s["step"], "seconds": s["seconds"], "detail": s["detail"]} for s in result.steps],
        "fallback_reason": result.fallback_reason,
        "checks": checks,
        "modeled_cloud_seconds": {
            "low": low,
            "high": high,
            "activated_high": activated_high,  # worst case until the DAG folder and parameter are A's
            "target": TARGET_SECONDS,
            "steps": modeled,
        },
    }


def render(results: list[dict[str, Any]]) -> str:
    out = []
    for r in results:
        m = r["measured_local_seconds"]
        c = r["checks"]
        out.append(f"\n== rollback drill, {r['path']} path: {r['release_b']} -> {r['release_a']} ==")
        out.append(
            f"bundles: A {r['files']['a']} files, B {r['files']['b']} files (this repository's dags part + padding)"
        )
        out.append(
            f"measured locally (moto): activate A {m['activate_a']:.3f}s, switch to B {m['switch_to_b']:.3f}s, "
            f"rollback command {m['rollback_command']:.3f}s (activator {m['activator_during_rollback']:.3f}s)"
        )
        for step in r["rollback_steps"]:
            out.append(f"  {step['seconds']:7.3f}s  {step['step']}")
        if r["fallback_reason"]:
            out.append(f"  pipeline refused: {r['fallback_reason']}")
        out.append(
            f"verified: DAG folder byte-identical to A ({c['dag_files']} files, {c['dag_bytes']} bytes, "
            f"{c['objects_rewritten_in_dag_folder']} rewritten); {c['untouched_objects']} other objects untouched; "
            f"parameters changed: {', '.join(c['changed_parameters'])}"
        )
        model = r["modeled_cloud_seconds"]
        out.append(f"modeled cloud time, trigger -> A live ({r['path']} path):")
        for step in model["steps"]:
            out.append(f"  {step['low']:4d}-{step['high']:<4d}s  {step['step']}\n{'':14}source: {step['source']}")
        verdict = (
            "within"
            if model["high"] <= model["target"]
            else ("may exceed" if model["low"] <= model["target"] else "exceeds")
        )
        out.append(f"  total {model['low']}-{model['high']} s: {verdict} the {model['target']:.0f} s target")
        out.append(
            f"  worst case until A is active (DAG folder and parameter, before MWAA's sync): "
            f"{model['activated_high']} s"
        )
    out.append("\nlevers:\n" + "\n".join(f"  - {lever}" for lever in LEVERS))
    out.append(f"\n{DETECTION}")
    return "\n".join(out)


def run_from_args(args: argparse.Namespace) -> int:
    paths = ("pipeline", "template") if args.path == "both" else (args.path,)
    echo = (lambda line: print(line, file=sys.stderr)) if args.json else (lambda line: None)
    root = Path(getattr(args, "root", None) or ROOT)
    try:
        results = [run_scenario(path, root, echo=echo, pad=args.pad) for path in paths]
    except DrillFailedError as exc:
        print(f"rollback drill FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=2, default=str) if args.json else render(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    from cicd.rollback.cli import add_drill_arguments

    parser = argparse.ArgumentParser(
        prog="cicd release rollback-drill", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", default=str(ROOT), help="repository whose dags part is drilled (default: this one)")
    add_drill_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
