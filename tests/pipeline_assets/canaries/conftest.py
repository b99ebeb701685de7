"""Moto clients for the canaries and a reader for what they published to (moto's) CloudWatch."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

REGION = "eu-west-1"
RELEASE_BUCKET = "canary-release-bucket"
RAW_BUCKET = "canary-raw-bucket"
DAG_BUCKET = "canary-dag-bucket"
PARAMETER = "/data-platform/test/active-release"


@pytest.fixture(scope="module")
def _moto():
    # One mock and one set of clients per module, reset before each test: creating clients is
    # most of a moto test's time, and the state still starts empty for every test.
    mock = mock_aws()
    mock.start()
    try:
        yield mock, {name: boto3.client(name, region_name=REGION) for name in ("s3", "ssm", "cloudwatch")}
    finally:
        mock.stop()


@pytest.fixture
def aws(_moto, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("ACTIVE_RELEASE_PARAMETER", PARAMETER)
    monkeypatch.setenv("RELEASE_BUCKET", RELEASE_BUCKET)
    monkeypatch.setenv("RESULTS_BUCKET", RELEASE_BUCKET)
    monkeypatch.setenv("RAW_BUCKET", RAW_BUCKET)
    monkeypatch.setenv("DAG_BUCKET", DAG_BUCKET)
    monkeypatch.setenv("MIXED_RECHECK_SECONDS", "0")
    mock, clients = _moto
    mock.reset()
    for bucket in (RELEASE_BUCKET, RAW_BUCKET, DAG_BUCKET):
        clients["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    clients["s3"].put_bucket_versioning(Bucket=DAG_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return clients


def publish_release(s3, release_id: str, files: dict[str, bytes], *, build_time: str = "2026-01-01T00:00:00+00:00"):
    """A release as the release lane uploads it: releases/<id>/... plus its release.json."""
    for path, body in files.items():
        s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/{path}", Body=body)
    digests = {path: hashlib.sha256(body).hexdigest() for path, body in files.items()}
    manifest = {"release_id": release_id, "build_time": build_time, "files": digests}
    s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/release.json", Body=json.dumps(manifest).encode())


def activate(ssm, release_id: str) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=release_id, Type="String", Overwrite=True)


def metric(cloudwatch, namespace: str, name: str, stat: str = "Maximum", **dimensions: str) -> float | None:
    """The statistic over everything published in the last/next day; None when nothing was published."""
    dims = [{"Name": "Environment", "Value": "test"}] + [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]
    now = datetime.now(UTC)
    result = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=dims,
        StartTime=now - timedelta(days=2),
        EndTime=now + timedelta(days=2),
        Period=86400 * 4,
        Statistics=[stat],
    )
    points = result["Datapoints"]
    if not points:
        return None
    values = [p[stat] for p in points]
    return sum(values) if stat == "Sum" else max(values)


class FakeContext:
    """What Lambda passes as context, reduced to the remaining time the canaries look at."""

    def __init__(self, seconds_left: float) -> None:
        self.seconds_left = seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


@pytest.fixture
def read_metric(aws):
    def read(namespace: str, name: str, stat: str = "Maximum", **dimensions: str) -> float | None:
        return metric(aws["cloudwatch"], namespace, name, stat, **dimensions)

    return read


class Releases:
    bucket = RELEASE_BUCKET
    raw_bucket = RAW_BUCKET
    parameter = PARAMETER

    def __init__(self, clients) -> None:
        self.s3, self.ssm = clients["s3"], clients["ssm"]

    def publish(self, release_id: str, files: dict[str, bytes], **kwargs) -> str:
        publish_release(self.s3, release_id, files, **kwargs)
        return release_id

    def activate(self, release_id: str) -> None:
        activate(self.ssm, release_id)

    def activate_dags(self, release_id: str) -> None:
        """What the release activator does (it runs here, on moto): the DAG folder, its state file, the parameter."""
        from pipeline_assets.activator.handler import ActivationRequest
        from pipeline_assets.activator.handler import activate as activator

        request = ActivationRequest(
            release_bucket=RELEASE_BUCKET, release_id=release_id, dag_bucket=DAG_BUCKET, parameter_name=PARAMETER
        )
        activator(request, s3=self.s3, ssm=self.ssm)


@pytest.fixture
def releases(aws) -> Releases:
    return Releases(aws)


@pytest.fixture
def context():
    return FakeContext
