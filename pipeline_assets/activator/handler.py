"""Release activator: make `releases/<id>/dags/` the MWAA DAG folder, exactly, then record it.

Runs as the onEvent handler of a CloudFormation custom resource (aws_cdk.custom_resources.Provider),
so CloudFormation's own update and rollback drive it: Create and Update activate the release in the
resource properties, a revert sends the previous properties back and re-activates that release, and
Delete leaves the DAG folder alone (deleting or replacing the resource must never empty a live
scheduler's DAG folder).

This file is the whole Lambda package: standard library and boto3 only, no imports from the
repository, so the same module runs in Lambda and in the tests (which pass moto clients).

Activation is all-or-nothing. The DAG bucket is versioned: before the first write we list every
object version under the DAG prefix and of the state file, and if anything fails we delete every
version that was not in that list (ours, including the ones botocore's own retries created when an
answer was lost), which makes the previous versions current again. The undo is then checked against
the list: the DAG folder is byte-for-byte what it was, and the SSM parameter names the previously
active release, or the error says exactly what is not.

Lambda can stop the function mid-copy when its timeout runs out, and the CDK provider framework
ignores the Delete that CloudFormation sends after a failed Create. So the handler watches its own
remaining time: it starts no write once less than UNDO_RESERVE_S is left, and undoes instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger("release_activator")
LOG.setLevel(logging.INFO)

RELEASE_MANIFEST = "release.json"
DEFAULT_DAG_PREFIX = "dags/"
DEFAULT_STATE_KEY = "active-release.json"
# S3 handles hundreds of requests per second per prefix; 16 parallel copies keep a 200-file release
# well under a few seconds without nearing a 503 SlowDown.
COPY_WORKERS = 16
# Time kept back from Lambda's timeout for the undo (a listing and one delete per written version).
UNDO_RESERVE_S = 60.0


def client_config() -> Any:
    """Adaptive retries with room for bursts of SlowDown on one key; bounded waits so a hung call ends in time."""
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=COPY_WORKERS,
    )


class ActivationError(Exception):
    """The release could not be activated; the message is what CloudFormation shows as the reason."""


@dataclass(frozen=True)
class ActivationRequest:
    release_bucket: str
    release_id: str
    dag_bucket: str
    parameter_name: str
    dag_prefix: str = DEFAULT_DAG_PREFIX
    state_key: str = DEFAULT_STATE_KEY

    @property
    def release_prefix(self) -> str:
        return f"releases/{self.release_id}/"

    @property
    def physical_id(self) -> str:
        # Stable across releases: an update must stay an update (a new id would make CloudFormation
        # send a Delete for the old one, which we ignore anyway, but the history reads better).
        return f"release-activation:{self.dag_bucket}/{self.dag_prefix}"

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> ActivationRequest:
        missing = [k for k in ("ReleaseBucket", "ReleaseId", "DagBucket", "ParameterName") if not props.get(k)]
        if missing:
            raise ActivationError(f"custom resource properties are missing {', '.join(missing)}")
        prefix = str(props.get("DagPrefix") or DEFAULT_DAG_PREFIX)
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise ActivationError(f"DagPrefix {prefix!r} must be a relative folder ending in '/' (e.g. 'dags/')")
        return cls(
            release_bucket=str(props["ReleaseBucket"]),
            release_id=str(props["ReleaseId"]),
            dag_bucket=str(props["DagBucket"]),
            parameter_name=str(props["ParameterName"]),
            dag_prefix=prefix,
            state_key=str(props.get("StateKey") or DEFAULT_STATE_KEY),
        )


@dataclass
class Activation:
    release_id: str
    previous_release_id: str | None
    changed: bool
    copied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    seconds: float = 0.0

    def as_data(self) -> dict[str, str]:
        # CloudFormation attributes (Fn::GetAtt) are strings.
        return {
            "ReleaseId": self.release_id,
            "PreviousReleaseId": self.previous_release_id or "",
            "Changed": str(self.changed).lower(),
            "Copied": str(len(self.copied)),
            "Deleted": str(len(self.deleted)),
            "Unchanged": str(self.unchanged),
        }


class Deadline:
    """The Lambda context's remaining time (no context: no limit, as in tests and the benchmark)."""

    def __init__(self, context: Any = None, *, reserve_s: float = UNDO_RESERVE_S) -> None:
        self._context = context if hasattr(context, "get_remaining_time_in_millis") else None
        self.reserve_s = reserve_s

    def left(self) -> float:
        return self._context.get_remaining_time_in_millis() / 1000.0 if self._context else float("inf")

    def check(self, doing: str) -> None:
        if self.left() < self.reserve_s:
            raise ActivationError(
                f"ran out of time before {doing} ({self.left():.0f} s left, {self.reserve_s:.0f} s are kept for the "
                "undo): raise the activator's timeout"
            )


Version = tuple[str, str]  # (key, version id); delete markers are versions too


def _versions(s3: Any, req: ActivationRequest) -> tuple[set[Version], dict[str, Version]]:
    """Every version under the DAG prefix and of the state file, and which one is current per key."""
    versions: set[Version] = set()
    latest: dict[str, Version] = {}
    for prefix, exact in ((req.dag_prefix, False), (req.state_key, True)):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=req.dag_bucket, Prefix=prefix):
            for item in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
                if exact and item["Key"] != req.state_key:
                    continue
                versions.add((item["Key"], item["VersionId"]))
                if item.get("IsLatest"):
                    latest[item["Key"]] = (item["Key"], item["VersionId"])
    return versions, latest


class _Undo:
    """What the DAG bucket and the parameter held before this activation, and how to get back to it."""

    def __init__(self, s3: Any, ssm: Any, req: ActivationRequest, active: str | None) -> None:
        self.s3, self.ssm, self.req, self.active = s3, ssm, req, active
        self.before, self.latest = _versions(s3, req)

    def undo(self, passes: int = 3) -> list[str]:
        """Remove every version written since, restore the parameter, and check; returns what is still wrong.

        Each pass starts from a fresh listing, so one that an API error cut short is finished by the next."""
        problems: list[str] = []
        for _ in range(passes):
            problems = self._undo_once()
            if not problems:
                break
        return problems

    def _undo_once(self) -> list[str]:
        problems: list[str] = []
        try:
            now, _ = _versions(self.s3, self.req)
        except Exception as exc:
            return [f"could not list the DAG bucket's versions: {type(exc).__name__}: {exc}"]

        def remove(version: Version) -> str | None:
            try:
                self.s3.delete_object(Bucket=self.req.dag_bucket, Key=version[0], VersionId=version[1])
            except Exception as exc:
                return f"{version[0]}@{version[1]}: {type(exc).__name__}: {exc}"
            return None

        with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            problems += [p for p in pool.map(remove, sorted(now - self.before)) if p]
        problems += self._restore_parameter()
        if not problems:
            try:
                _, latest = _versions(self.s3, self.req)
            except Exception as exc:
                return [f"could not list the DAG bucket's versions to check the undo: {type(exc).__name__}: {exc}"]
            changed = sorted(key for key in set(latest) | set(self.latest) if latest.get(key) != self.latest.get(key))
            problems += [f"{key} is not the version it was before" for key in changed[:3]]
        return problems

    def _restore_parameter(self) -> list[str]:
        try:
            current = _active_parameter(self.ssm, self.req.parameter_name)
        except Exception as exc:
            return [f"could not read {self.req.parameter_name}: {type(exc).__name__}: {exc}"]
        if current == self.active:
            return []
        try:
            if self.active is None:
                self.ssm.delete_parameter(Name=self.req.parameter_name)
            else:
                _put_parameter(self.ssm, self.req.parameter_name, self.active)
        except Exception as exc:
            return [f"{self.req.parameter_name} names {current}, not {self.active}: {type(exc).__name__}: {exc}"]
        return []


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def _hex_to_b64(hex_digest: str) -> str:
    try:
        return base64.b64encode(binascii.unhexlify(hex_digest)).decode()
    except (binascii.Error, ValueError) as exc:
        raise ActivationError(f"release.json has an invalid sha256 {hex_digest!r}") from exc


def _is_missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("NoSuchKey", "404", "NotFound", "ParameterNotFound")


def _read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ActivationError(f"s3://{bucket}/{key} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ActivationError(f"s3://{bucket}/{key} must hold a JSON object")
    return data


def _list(s3: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            objects[item["Key"]] = item
    return objects


def _active_parameter(ssm: Any, name: str) -> str | None:
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as exc:
        if _is_missing(exc) or type(exc).__name__ == "ParameterNotFound":
            return None
        raise


def _desired_files(
    req: ActivationRequest, manifest: dict[str, Any], listed: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """DAG-relative path -> sha256 hex, from release.json, checked against what is really in S3."""
    if manifest.get("release_id") != req.release_id:
        raise ActivationError(
            f"s3://{req.release_bucket}/{req.release_prefix}{RELEASE_MANIFEST} names release "
            f"{manifest.get('release_id')!r}, not {req.release_id!r}: the prefix holds another bundle"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ActivationError(f"{req.release_prefix}{RELEASE_MANIFEST} has no 'files' map of path -> sha256")
    desired = {path.removeprefix("dags/"): str(digest) for path, digest in files.items() if path.startswith("dags/")}
    if not desired:
        raise ActivationError(f"release {req.release_id} has no dags/ files: refusing to empty the DAG folder")
    source = f"{req.release_prefix}dags/"
    present = {key.removeprefix(source) for key in listed if not key.endswith("/")}
    missing = sorted(set(desired) - present)
    extra = sorted(present - set(desired))
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"{len(missing)} file(s) of release.json missing, e.g. {missing[:3]}")
        if extra:
            detail.append(f"{len(extra)} file(s) not in release.json, e.g. {extra[:3]}")
        raise ActivationError(
            f"s3://{req.release_bucket}/{source} does not match its release.json ({'; '.join(detail)}): "
            "re-upload the bundle built by the release build"
        )
    return desired


def _release_files(req: ActivationRequest, s3: Any, keep: str) -> tuple[dict[str, Any], dict[str, str]]:
    """release.json and its DAG files (path -> sha256), refused unless the DAG bucket can undo a copy."""
    manifest = _read_json(s3, req.release_bucket, f"{req.release_prefix}{RELEASE_MANIFEST}")
    if manifest is None:
        raise ActivationError(
            f"release {req.release_id} not found: s3://{req.release_bucket}/{req.release_prefix}{RELEASE_MANIFEST} "
            f"does not exist (upload the bundle first, or activate a release that exists); {keep}"
        )
    try:
        desired = _desired_files(req, manifest, _list(s3, req.release_bucket, f"{req.release_prefix}dags/"))
    except ActivationError as exc:
        raise ActivationError(f"{exc}; {keep}") from exc
    versioning = s3.get_bucket_versioning(Bucket=req.dag_bucket).get("Status")
    if versioning != "Enabled":
        raise ActivationError(
            f"DAG bucket {req.dag_bucket} has versioning {versioning or 'off'}; activation needs it Enabled "
            f"to undo a failed copy; {keep}"
        )
    return manifest, desired


def _changes(
    req: ActivationRequest, s3: Any, recorded: dict[str, dict[str, str]], desired: dict[str, str]
) -> tuple[list[str], list[str]]:
    """The DAG files to copy (new, changed, or edited by hand since) and to delete (not in the release)."""
    current = {
        key.removeprefix(req.dag_prefix): item
        for key, item in _list(s3, req.dag_bucket, req.dag_prefix).items()
        if key != req.dag_prefix  # a console-made "folder" marker is not a DAG file
    }

    def up_to_date(rel: str) -> bool:
        # ETag + recorded sha256: a file someone edited by hand has a new ETag and is copied again.
        seen, known = current.get(rel), recorded.get(rel)
        return bool(
            seen and known and known.get("sha256") == desired[rel] and known.get("etag") == _etag(seen.get("ETag"))
        )

    return sorted(rel for rel in desired if not up_to_date(rel)), sorted(set(current) - set(desired))


def _copy_files(
    req: ActivationRequest, s3: Any, desired: dict[str, str], to_copy: list[str], deadline: Deadline, workers: int
) -> dict[str, str]:
    """Copy in parallel, each checked against release.json's sha256; returns path -> new ETag."""

    def copy(rel: str) -> tuple[str, str]:
        key = f"{req.dag_prefix}{rel}"
        deadline.check(f"copying {key}")
        response = s3.copy_object(
            Bucket=req.dag_bucket,
            Key=key,
            CopySource={"Bucket": req.release_bucket, "Key": f"{req.release_prefix}dags/{rel}"},
            ChecksumAlgorithm="SHA256",
            MetadataDirective="REPLACE",
            Metadata={"release-id": req.release_id, "sha256": desired[rel]},
            ContentType="text/x-python" if rel.endswith(".py") else "application/octet-stream",
        )
        if response.get("VersionId") in (None, "null"):
            raise ActivationError(f"S3 returned no version id for {key}: the DAG bucket must keep versioning on")
        result = response.get("CopyObjectResult", {})
        checksum = result.get("ChecksumSHA256")
        if checksum is not None and checksum != _hex_to_b64(desired[rel]):
            raise ActivationError(
                f"{key}: the copied bytes do not match release.json's sha256 (source object corrupted or replaced)"
            )
        return rel, _etag(result.get("ETag"))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(pool.map(copy, to_copy))


def _delete_files(req: ActivationRequest, s3: Any, to_delete: list[str], deadline: Deadline) -> None:
    for start in range(0, len(to_delete), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = to_delete[start : start + 1000]
        deadline.check(f"deleting {len(batch)} file(s) the release drops")
        response = s3.delete_objects(
            Bucket=req.dag_bucket,
            Delete={"Objects": [{"Key": f"{req.dag_prefix}{rel}"} for rel in batch], "Quiet": False},
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise ActivationError(f"could not delete {first.get('Key')}: {first.get('Code')} {first.get('Message')}")


def _put_parameter(ssm: Any, name: str, value: str) -> None:
    ssm.put_parameter(
        Name=name,
        Value=value,
        Type="String",
        Overwrite=True,
        Description="Active data platform release (written by the release activator)",
    )


def _record_active(req: ActivationRequest, s3: Any, ssm: Any, record: dict[str, Any], deadline: Deadline) -> None:
    deadline.check("recording the active release")
    s3.put_object(
        Bucket=req.dag_bucket,
        Key=req.state_key,
        Body=json.dumps(record, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    # Last: the parameter is what tasks read to find the release's Spark and dbt artifacts.
    try:
        _put_parameter(ssm, req.parameter_name, req.release_id)
    except Exception:
        if _active_parameter(ssm, req.parameter_name) != req.release_id:
            raise
        LOG.info("%s: PutParameter was applied though its answer was lost", req.parameter_name)


def activate(
    req: ActivationRequest,
    *,
    s3: Any,
    ssm: Any,
    workers: int = COPY_WORKERS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    deadline: Deadline | None = None,
) -> Activation:
    started = time.perf_counter()
    deadline = deadline or Deadline()
    previous: str | None = None
    keep = "the previously active release stays in place"
    try:
        state = _read_json(s3, req.dag_bucket, req.state_key) or {}
        previous = state.get("release_id")
        keep = f"the previously active release ({previous or 'none'}) stays in place"
        manifest, desired = _release_files(req, s3, keep)
        recorded: dict[str, dict[str, str]] = state.get("files") or {}
        to_copy, to_delete = _changes(req, s3, recorded, desired)
        active = _active_parameter(ssm, req.parameter_name)
    except ActivationError:
        raise
    except Exception as exc:  # nothing was written yet: say so, and what failed
        raise ActivationError(
            f"could not read what to activate for {req.release_id} ({_describe(exc)}); {keep}"
        ) from exc
    if not to_copy and not to_delete and previous == req.release_id and active == req.release_id:
        LOG.info("release %s is already active and the DAG folder matches it: nothing to do", req.release_id)
        return Activation(
            req.release_id, previous, False, unchanged=len(desired), seconds=time.perf_counter() - started
        )

    try:
        deadline.check(f"activating {req.release_id}")
        undo = _Undo(s3, ssm, req, active)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ActivationError) else _describe(exc)
        raise ActivationError(f"activating {req.release_id} did not start ({reason}); {keep}") from exc
    etags: dict[str, str] = {rel: recorded[rel]["etag"] for rel in desired if rel not in to_copy}
    try:
        etags.update(_copy_files(req, s3, desired, to_copy, deadline, workers))
        _delete_files(req, s3, to_delete, deadline)
        record = {
            "release_id": req.release_id,
            "previous_release_id": previous,
            "activated_at": now().isoformat(timespec="seconds"),
            "git_sha": manifest.get("git_sha"),
            "content_sha256": manifest.get("content_sha256"),
            "source": f"s3://{req.release_bucket}/{req.release_prefix}dags/",
            "files": {rel: {"sha256": desired[rel], "etag": etags[rel]} for rel in sorted(desired)},
        }
        _record_active(req, s3, ssm, record, deadline)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ActivationError) else _describe(exc)
        problems = undo.undo()
        if problems:
            raise ActivationError(
                f"activating {req.release_id} failed ({reason}) and undoing it failed for {len(problems)} object(s) "
                f"({problems[:3]}): re-activate {previous or 'the previous release'} to repair the DAG folder"
            ) from exc
        raise ActivationError(f"activating {req.release_id} failed ({reason}); {keep}") from exc

    activation = Activation(
        req.release_id,
        previous,
        True,
        copied=to_copy,
        deleted=to_delete,
        unchanged=len(desired) - len(to_copy),
        seconds=time.perf_counter() - started,
    )
    LOG.info(
        "activated %s (previous %s): %d copied, %d deleted, %d unchanged in %.2f s",
        req.release_id,
        previous,
        len(to_copy),
        len(to_delete),
        activation.unchanged,
        activation.seconds,
    )
    return activation


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def on_event(event: dict[str, Any], context: Any = None, *, s3: Any = None, ssm: Any = None) -> dict[str, Any]:
    """Provider-framework onEvent: return the physical id and attributes, or raise to fail the resource."""
    request_type = event.get("RequestType")
    props = event.get("ResourceProperties") or {}
    if request_type == "Delete":
        LOG.info("Delete leaves the DAG folder as it is (%s)", event.get("PhysicalResourceId"))
        return {"PhysicalResourceId": event.get("PhysicalResourceId") or "release-activation"}
    if request_type not in ("Create", "Update"):
        raise ActivationError(f"unknown RequestType {request_type!r}")
    req = ActivationRequest.from_properties(props)
    if s3 is None or ssm is None:
        import boto3  # the Lambda runtime provides it; tests inject moto clients instead

        s3 = s3 or boto3.client("s3", config=client_config())
        ssm = ssm or boto3.client("ssm", config=client_config())
    activation = activate(req, s3=s3, ssm=ssm, deadline=Deadline(context))
    return {"PhysicalResourceId": req.physical_id, "Data": activation.as_data()}
