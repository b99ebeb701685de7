"""Trust-boundary check: does this build change what self-mutation will deploy?

The boundary is what UpdatePipeline deploys: the DeliveryPipeline stack and the stacks it depends on
(DeliveryAudit: the ledger, the approval guard, the approvers role, this check). A list of paths can
only guess at that: `pipeline_assets/__init__.py` is packed into the guard's bundle, and any module
app.py imports can change a template. So this function, deployed by DeliveryAudit (the change's own
copy never judges the change), reads those stacks' templates from the Build artifact, asks
CloudFormation for the templates deployed now (GetTemplate, TemplateStage Original: what was
submitted, exactly as synthesized) and compares them as JSON. Every asset a template deploys is named
by its content hash in the template (a Lambda's S3Key), so a changed bundle is a changed template.
Any difference, or a ChangeEvidence path hint other than "false", sets TRUST_BOUNDARY_CHANGED=true
and stage ApproveTrustBoundary (the deployed approvers and guard) runs before UpdatePipeline.

Self-mutation also deploys the stacks DeliveryPipeline depends on in the environment accounts (the
`<Env>PipelineAccess` stacks that create the roles the pipeline names there): their templates are read
through each account's CDK bootstrap lookup role (read-only; `cdk bootstrap --trust-for-lookup`), so an
unapproved change can no more reach them than DeliveryAudit.

The verdict and the differences are written create-only under `trusted/trust-boundary/`, which only
this function's role may write. Anything it cannot establish (no artifact, a stack missing from the
assembly or from CloudFormation, a template that is not JSON) fails the job, and with it the stage.

Environment: EVIDENCE_BUCKET, EVIDENCE_RETENTION_DAYS, EVIDENCE_KMS_KEY_ARN (as the ledger writer),
BOUNDARY_STACKS (comma-separated stack names), BOUNDARY_STACKS_ELSEWHERE (optional JSON list of
{"stack", "role_arn", "region"}: stacks in other accounts and the role that may read their templates).
UserParameters (JSON): {"hint": "#{ChangeEvidence.TRUST_BOUNDARY_HINT}", "pipeline_name": ...,
"execution_id": "#{codepipeline.PipelineExecutionId}"}.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline_assets.ledger import layout
from pipeline_assets.ledger.store import EvidenceStore, utcnow

LOG = logging.getLogger("trust_boundary_check")
LOG.setLevel(logging.INFO)

VARIABLE = "TRUST_BOUNDARY_CHANGED"
MAX_LISTED = 40
MAX_FAILURE_MESSAGE = 5000


class CheckError(Exception):
    """The check could not establish what would deploy; the job fails with this message."""


@dataclass(frozen=True)
class StackElsewhere:
    """A boundary stack in another account or region, and the role through which its template is read."""

    stack: str
    role_arn: str
    region: str


def _elsewhere(raw: str) -> tuple[StackElsewhere, ...]:
    try:
        entries = json.loads(raw or "[]")
        return tuple(StackElsewhere(str(e["stack"]), str(e["role_arn"]), str(e["region"])) for e in entries)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckError(
            f"trust-boundary check misconfigured: BOUNDARY_STACKS_ELSEWHERE must be a JSON list of "
            f'{{"stack", "role_arn", "region"}} ({type(exc).__name__}: {exc})'
        ) from exc


@dataclass(frozen=True)
class Settings:
    bucket: str
    retention_days: int
    kms_key_id: str | None
    stacks: tuple[str, ...]
    elsewhere: tuple[StackElsewhere, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        stacks = tuple(s.strip() for s in env.get("BOUNDARY_STACKS", "").split(",") if s.strip())
        days = env.get("EVIDENCE_RETENTION_DAYS", "").strip()
        problems = [
            *(["EVIDENCE_BUCKET is not set"] if not env.get("EVIDENCE_BUCKET", "").strip() else []),
            *(["EVIDENCE_RETENTION_DAYS must be a whole number >= 1"] if not days.isdigit() or int(days) < 1 else []),
            *(["BOUNDARY_STACKS names no stack"] if not stacks else []),
        ]
        if problems:
            raise CheckError("trust-boundary check misconfigured: " + "; ".join(problems))
        elsewhere = _elsewhere(env.get("BOUNDARY_STACKS_ELSEWHERE", ""))
        return cls(
            env["EVIDENCE_BUCKET"].strip(), int(days), env.get("EVIDENCE_KMS_KEY_ARN") or None, stacks, elsewhere
        )


def assembly_templates(archive: zipfile.ZipFile, stacks: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The named stacks' templates from a cloud assembly (the Build artifact, zipped by CodePipeline)."""
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except KeyError as exc:
        raise CheckError("the Build artifact has no manifest.json at its root: it is not a cloud assembly") from exc
    files = {
        (artifact.get("properties") or {}).get("stackName") or name: (artifact.get("properties") or {}).get(
            "templateFile"
        )
        for name, artifact in (manifest.get("artifacts") or {}).items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    found: dict[str, dict[str, Any]] = {}
    for stack in stacks:
        name = files.get(stack)
        if not name or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
            raise CheckError(f"the Build artifact's cloud assembly has no template for stack {stack}")
        found[stack] = json.loads(archive.read(name))
    return found


def deployed_template(cloudformation: Any, stack: str) -> dict[str, Any]:
    body = cloudformation.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise CheckError(f"the deployed template of {stack} is not JSON; redeploy it from this app") from exc
    return json.loads(json.dumps(body))  # plain dicts, as the artifact's


def differences(deployed: Any, built: Any, path: str = "") -> list[str]:
    """Where two templates differ, as JSON paths (a resource added, removed or changed, and where)."""
    if isinstance(deployed, dict) and isinstance(built, dict):
        found: list[str] = []
        for key in sorted(set(deployed) | set(built)):
            here = f"{path}/{key}"
            if key not in deployed:
                found.append(f"added {here}")
            elif key not in built:
                found.append(f"removed {here}")
            else:
                found += differences(deployed[key], built[key], here)
        return found
    if isinstance(deployed, list) and isinstance(built, list) and len(deployed) == len(built):
        return [
            d for i, (a, b) in enumerate(zip(deployed, built, strict=True)) for d in differences(a, b, f"{path}[{i}]")
        ]
    return [] if deployed == built else [f"changed {path or '/'}"]


@dataclass(frozen=True)
class Verdict:
    changed: bool
    stacks: dict[str, list[str]]
    hint: str | None

    @property
    def summary(self) -> str:
        moved = [f"{s} ({len(d)} difference(s))" for s, d in self.stacks.items() if d]
        if moved:
            return "moves the trust boundary: " + ", ".join(moved)
        if self.changed:
            return f"templates unchanged, but the ChangeEvidence path hint is {self.hint!r}: treated as a change"
        return "does not move the trust boundary: the deployed templates are unchanged"


# (role ARN, region) -> a CloudFormation client acting through that role, for the stacks elsewhere.
CloudFormationIn = Callable[[str, str], Any]


def judge(
    archive: zipfile.ZipFile,
    *,
    cloudformation: Any,
    stacks: tuple[str, ...],
    hint: str | None,
    elsewhere: tuple[StackElsewhere, ...] = (),
    cloudformation_in: CloudFormationIn | None = None,
) -> Verdict:
    built = assembly_templates(archive, stacks + tuple(e.stack for e in elsewhere))
    found = {stack: differences(deployed_template(cloudformation, stack), built[stack]) for stack in stacks}
    if elsewhere and cloudformation_in is None:
        raise CheckError("stacks in other accounts are in the boundary but the check has no way to read them")
    for remote in elsewhere:
        assert cloudformation_in is not None
        deployed = deployed_template(cloudformation_in(remote.role_arn, remote.region), remote.stack)
        found[remote.stack] = differences(deployed, built[remote.stack])
    changed = any(found.values()) or (hint or "").strip().lower() != "false"
    return Verdict(changed, found, hint)


def assumed_cloudformation(sts: Any, role_arn: str, region: str) -> Any:
    """CloudFormation in another account, through a role that account trusts the delivery account with."""
    import boto3

    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="trust-boundary-check")["Credentials"]
    return boto3.client(
        "cloudformation",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _params(job: dict[str, Any]) -> dict[str, Any]:
    raw = (((job.get("data") or {}).get("actionConfiguration") or {}).get("configuration") or {}).get(
        "UserParameters"
    ) or "{}"
    try:
        params = json.loads(raw)
    except ValueError as exc:
        raise CheckError(f"UserParameters is not JSON ({exc})") from exc
    if not isinstance(params, dict) or not params.get("pipeline_name") or not params.get("execution_id"):
        raise CheckError("UserParameters must name pipeline_name and execution_id")
    return params


def _artifact(job: dict[str, Any], artifacts_s3: Callable[[dict[str, Any]], Any], into: str) -> zipfile.ZipFile:
    data = job.get("data") or {}
    inputs = data.get("inputArtifacts") or []
    if len(inputs) != 1:
        raise CheckError(f"expected the Build artifact as the one input artifact, got {len(inputs)}")
    location = (inputs[0].get("location") or {}).get("s3Location") or {}
    path = Path(into) / "assembly.zip"
    artifacts_s3(data.get("artifactCredentials") or {}).download_file(
        location["bucketName"], location["objectKey"], str(path)
    )
    return zipfile.ZipFile(path)


def run_check(
    event: dict[str, Any],
    *,
    codepipeline: Any,
    cloudformation: Any,
    artifacts_s3: Callable[[dict[str, Any]], Any],
    store: EvidenceStore,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    cloudformation_in: CloudFormationIn | None = None,
) -> Verdict | None:
    """Judge, record, report the job result. Never leaves the job without a result."""
    job = event.get("CodePipeline.job") or {}
    job_id = str(job.get("id") or "")
    try:
        params = _params(job)
        with tempfile.TemporaryDirectory() as workdir, _artifact(job, artifacts_s3, workdir) as archive:
            verdict = judge(
                archive,
                cloudformation=cloudformation,
                stacks=settings.stacks,
                hint=params.get("hint"),
                elsewhere=settings.elsewhere,
                cloudformation_in=cloudformation_in,
            )
        now = clock()
        key = layout.trust_boundary_key(
            pipeline=str(params["pipeline_name"]), execution_id=str(params["execution_id"]), job_id=job_id
        )
        store.put_record(
            key,
            {
                "schema": "trust-boundary/v1",
                "recorded_at": now.isoformat(),
                "pipeline": params["pipeline_name"],
                "execution_id": params["execution_id"],
                "changed": verdict.changed,
                "summary": verdict.summary,
                "hint": verdict.hint,
                "differences": {s: d[:MAX_LISTED] for s, d in verdict.stacks.items()},
                "difference_counts": {s: len(d) for s, d in verdict.stacks.items()},
            },
        )
    except Exception as exc:
        LOG.exception("trust-boundary check failed")
        message = (
            str(exc) if isinstance(exc, CheckError) else f"trust-boundary check error: {type(exc).__name__}: {exc}"
        )
        codepipeline.put_job_failure_result(
            jobId=job_id, failureDetails={"type": "JobFailed", "message": message[:MAX_FAILURE_MESSAGE]}
        )
        return None
    LOG.info("%s/%s: %s", params["pipeline_name"], params["execution_id"], verdict.summary)
    codepipeline.put_job_success_result(
        jobId=job_id,
        executionDetails={"summary": verdict.summary[:2048], "externalExecutionId": key[-1500:]},
        outputVariables={VARIABLE: "true" if verdict.changed else "false"},
    )
    return verdict


_CLIENTS: dict[str, Any] = {}


def _client(name: str) -> Any:
    if name not in _CLIENTS:
        import boto3

        _CLIENTS[name] = boto3.client(name)
    return _CLIENTS[name]


def _artifacts_s3(credentials: dict[str, Any]) -> Any:
    """S3 with the job's own artifact credentials: CodePipeline scopes them to this pipeline's artifacts."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        aws_access_key_id=credentials.get("accessKeyId"),
        aws_secret_access_key=credentials.get("secretAccessKey"),
        aws_session_token=credentials.get("sessionToken"),
        config=Config(signature_version="s3v4"),
    )


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    try:
        settings = Settings.from_env()
    except CheckError as exc:
        job_id = (event.get("CodePipeline.job") or {}).get("id")
        if job_id:
            _client("codepipeline").put_job_failure_result(
                jobId=job_id, failureDetails={"type": "ConfigurationError", "message": str(exc)[:MAX_FAILURE_MESSAGE]}
            )
        raise
    store = EvidenceStore(
        _client("s3"), settings.bucket, retention_days=settings.retention_days, kms_key_id=settings.kms_key_id
    )
    verdict = run_check(
        event,
        codepipeline=_client("codepipeline"),
        cloudformation=_client("cloudformation"),
        artifacts_s3=_artifacts_s3,
        store=store,
        settings=settings,
        cloudformation_in=lambda role_arn, region: assumed_cloudformation(_client("sts"), role_arn, region),
    )
    return {"changed": verdict.changed if verdict else None}
