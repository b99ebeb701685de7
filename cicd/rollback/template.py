"""The fallback: redeploy the release lane stack's stored template as a CloudFormation change set.

When the pipeline cannot roll back, the template that carried the target release still exists:
the synth action's output artifact of the execution that deployed it is the zipped cloud assembly
(`build/cdk.out`), kept in the pipeline's artifact bucket. In it, the environment's nested assembly
(`assembly-Prod/`) holds the release lane template: the one whose `Custom::ReleaseActivation`
resource names the target release. Its assets (Lambda code, the bundle upload) were published to
the CDK asset bucket by that execution and are still there, so the template deploys as it did.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ACTIVATION_TYPE = "Custom::ReleaseActivation"
TEMPLATE_BODY_LIMIT = 51_200  # CreateChangeSet's TemplateBody limit; larger templates go through S3
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
STACK_OK = {"UPDATE_COMPLETE"}
STACK_BAD = {
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
}


class TemplateError(Exception):
    pass


@dataclass(frozen=True)
class StackTemplate:
    stack_name: str
    template: dict[str, Any]
    source: str
    sha256: str = ""  # of the template file as the artifact holds it: what the ledger's templates.json records

    @property
    def body(self) -> str:
        return json.dumps(self.template, separators=(",", ":"), sort_keys=True)


def _activation_release(template: dict[str, Any]) -> str | None:
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") == ACTIVATION_TYPE:
            value = (resource.get("Properties") or {}).get("ReleaseId")
            return value if isinstance(value, str) else None
    return None


def release_stack_template(
    archive: bytes, *, stage: str, release_id: str, stack_name: str | None = None, source: str = "artifact"
) -> StackTemplate:
    """Find the release lane template of `stage` for `release_id` in a zipped cloud assembly."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise TemplateError(f"{source} is not a zip archive (expected the synth action's cloud assembly)") from exc
    names = set(bundle.namelist())

    def load(path: str) -> dict[str, Any]:
        if path not in names:
            raise TemplateError(f"{source} has no {path}")
        data = json.loads(bundle.read(path))
        if not isinstance(data, dict):
            raise TemplateError(f"{source}:{path} is not a JSON object")
        return data

    top = load("manifest.json")
    # A CDK Pipelines synth nests each Stage's stacks in their own assembly directory.
    nested = {
        (a.get("properties") or {}).get("directoryName")
        for a in top.get("artifacts", {}).values()
        if a.get("type") == "cdk:cloud-assembly"
    }
    prefix = f"assembly-{stage}/" if f"assembly-{stage}" in nested else ""
    manifest = load(f"{prefix}manifest.json") if prefix else top
    stacks = [
        a["properties"] | {"id": artifact_id}
        for artifact_id, a in manifest.get("artifacts", {}).items()
        if a.get("type") == "aws:cloudformation:stack"
    ]
    if not stacks:
        raise TemplateError(f"{source} has no stack of stage {stage} (looked in {prefix or 'the top'} manifest)")
    found = []
    for stack in stacks:
        name = stack.get("stackName") or stack["id"]
        if stack_name and name != stack_name:
            continue
        path = f"{prefix}{stack['templateFile']}"
        template = load(path)
        carried = _activation_release(template)
        if carried == release_id or (stack_name and carried is None and release_id in json.dumps(template)):
            digest = hashlib.sha256(bundle.read(path)).hexdigest()
            found.append(StackTemplate(name, template, f"{source}:{path}", digest))
        elif carried is not None:
            raise TemplateError(f"{source}: stack {name} activates {carried}, not {release_id}: wrong artifact")
    if len(found) != 1:
        what = f"stack {stack_name}" if stack_name else f"a {ACTIVATION_TYPE} resource"
        raise TemplateError(
            f"{source}: expected one template of stage {stage} with {what} for {release_id}, found {len(found)}"
        )
    return found[0]


def redeploy(
    cloudformation: Any,
    template: StackTemplate,
    *,
    release_id: str,
    s3: Any = None,
    template_bucket: str | None = None,
    role_arn: str | None = None,
    timeout_s: float = 900,
    poll_s: float = 5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    step: Callable[[str, str], None] = lambda name, detail: None,
) -> str:
    """Create, review and execute a change set that puts `template` back; returns the change set id."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    kwargs: dict[str, Any] = {
        "StackName": template.stack_name,
        "ChangeSetName": f"rollback-{release_id}-{stamp}",
        "ChangeSetType": "UPDATE",
        "Capabilities": CAPABILITIES,
        "Description": f"Rollback to release {release_id} from {template.source}"[:1024],
    }
    parameters = template.template.get("Parameters") or {}
    # Parameters without a default keep the stack's value; CDK's BootstrapVersion has a default.
    kept = [{"ParameterKey": k, "UsePreviousValue": True} for k, v in parameters.items() if "Default" not in v]
    if kept:
        kwargs["Parameters"] = kept
    if role_arn:
        kwargs["RoleARN"] = role_arn
    body = template.body
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        kwargs["TemplateBody"] = body
    else:
        if s3 is None or not template_bucket:
            raise TemplateError(
                f"the template is {len(body.encode())} bytes (TemplateBody takes {TEMPLATE_BODY_LIMIT}): "
                "pass --template-bucket (e.g. the CDK bootstrap asset bucket) to stage it in S3"
            )
        key = f"rollback/{template.stack_name}/{release_id}-{stamp}.template.json"
        s3.put_object(Bucket=template_bucket, Key=key, Body=body.encode(), ContentType="application/json")
        kwargs["TemplateURL"] = f"https://{template_bucket}.s3.{s3.meta.region_name}.amazonaws.com/{key}"
    created = cloudformation.create_change_set(**kwargs)
    change_set = str(created["Id"])
    started = clock()
    while True:
        described = cloudformation.describe_change_set(ChangeSetName=change_set, StackName=template.stack_name)
        status = described["Status"]
        if status == "CREATE_COMPLETE":
            changes = [c["ResourceChange"]["LogicalResourceId"] for c in described.get("Changes", [])]
            step("change set ready", f"{len(changes)} resource change(s): {', '.join(changes[:6])}")
            break
        if status == "FAILED":
            raise TemplateError(f"change set {change_set} failed: {described.get('StatusReason', '')}")
        if clock() - started > timeout_s:
            raise TemplateError(f"change set {change_set} still {status} after {timeout_s:.0f} s")
        sleep(poll_s)
    cloudformation.execute_change_set(ChangeSetName=change_set, StackName=template.stack_name)
    while True:
        stack = cloudformation.describe_stacks(StackName=template.stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status in STACK_OK:
            step("stack updated", f"{template.stack_name} {status}")
            return change_set
        if status in STACK_BAD:
            raise TemplateError(f"{template.stack_name} ended {status}: {stack.get('StackStatusReason', '')}")
        if clock() - started > timeout_s:
            raise TemplateError(f"{template.stack_name} still {status} after {timeout_s:.0f} s")
        sleep(poll_s)
