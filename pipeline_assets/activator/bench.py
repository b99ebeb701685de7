"""Time the release activator on a 200-file release against moto (no AWS account needed).

    cicd release activation-bench [--files 200] [--changed 20] [--json]
    (or python -m pipeline_assets.activator.bench)

Measures, in one process with moto's in-memory S3 and SSM: the first activation of release A into
an empty DAG folder, a switch to release B (a few files changed, added and removed), the revert to
A (what a CloudFormation rollback does) and a no-op re-activation. Not part of the Lambda package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline_assets.activator.handler import ActivationRequest, activate

REGION = "eu-west-1"
RELEASE_BUCKET = "bench-release-bucket"
DAG_BUCKET = "bench-dag-bucket"
PARAMETER = "/data-platform/bench/active-release"


def release_id_of(files: dict[str, bytes]) -> str:
    """The release build's id rule (cicd/release/bundle.py): a hash of paths and contents only."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).hexdigest().encode() + b"\n")
    return f"r-{digest.hexdigest()[:16]}"


def put_release(s3: Any, bucket: str, files: dict[str, bytes]) -> str:
    """Upload a bundle as the release lane's BucketDeployment does: releases/<id>/... plus release.json."""
    release_id = release_id_of(files)
    manifest = {
        "release_id": release_id,
        "git_sha": "0" * 40,
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    for path, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"releases/{release_id}/{path}", Body=data)
    s3.put_object(Bucket=bucket, Key=f"releases/{release_id}/release.json", Body=json.dumps(manifest).encode())
    return release_id


def dag_files(count: int, rng: random.Random, *, tag: str = "a") -> dict[str, bytes]:
    """`count` DAG-folder files of realistic size (2-8 KB), under a few sub-folders like the real one."""
    files = {}
    for i in range(count):
        folder = ("pipelines", "platform_dags", "sql")[i % 3]
        body = f"# generated DAG file {i} ({tag})\n" + "x = 1  # padding\n" * rng.randint(120, 480)
        files[f"dags/{folder}/file_{i:04d}.py"] = body.encode()
    return files


def make_buckets(s3: Any) -> None:
    for bucket in (RELEASE_BUCKET, DAG_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def request(release_id: str) -> ActivationRequest:
    return ActivationRequest(
        release_bucket=RELEASE_BUCKET, release_id=release_id, dag_bucket=DAG_BUCKET, parameter_name=PARAMETER
    )


@contextmanager
def moto_clients() -> Iterator[tuple[Any, Any]]:
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ.setdefault(name, value)
    with mock_aws():
        yield boto3.client("s3", region_name=REGION), boto3.client("ssm", region_name=REGION)


def run(file_count: int = 200, changed: int = 20, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - reproducible file sizes, not secrets
    a = dag_files(file_count, rng)
    b = dict(a)
    keys = sorted(a)
    for key in keys[:changed]:  # changed in place
        b[key] = a[key] + b"# changed in release B\n"
    for key in keys[changed : changed + changed // 2]:  # removed in B
        del b[key]
    for i in range(changed // 2):  # new in B
        b[f"dags/pipelines/new_{i:03d}.py"] = b"# new in release B\n"
    timings: dict[str, Any] = {"files": file_count}
    with moto_clients() as (s3, ssm):
        make_buckets(s3)
        release_a, release_b = put_release(s3, RELEASE_BUCKET, a), put_release(s3, RELEASE_BUCKET, b)
        for label, release in (("activate_a", release_a), ("switch_to_b", release_b), ("revert_to_a", release_a)):
            started = time.perf_counter()
            result = activate(request(release), s3=s3, ssm=ssm)
            timings[label] = {
                "seconds": round(time.perf_counter() - started, 3),
                "copied": len(result.copied),
                "deleted": len(result.deleted),
            }
        started = time.perf_counter()
        noop = activate(request(release_a), s3=s3, ssm=ssm)
        timings["noop_reactivate_a"] = {"seconds": round(time.perf_counter() - started, 3), "changed": noop.changed}
    return timings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=200, help="DAG-folder files in the release (default 200)")
    parser.add_argument("--changed", type=int, default=20, help="files changed between releases A and B")
    parser.add_argument("--json", action="store_true", help="print the timings as JSON")


def run_from_args(args: argparse.Namespace) -> int:
    timings = run(args.files, args.changed)
    if args.json:
        print(json.dumps(timings, indent=2))
        return 0
    print(f"release activator against moto, {args.files}-file release")
    for step, numbers in timings.items():
        if isinstance(numbers, dict):
            detail = ", ".join(f"{k} {v}" for k, v in numbers.items() if k != "seconds")
            print(f"  {step:<18} {numbers['seconds']:>7.3f} s  ({detail})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
