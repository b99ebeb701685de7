"""Deployment metrics (SSM history and release.json in moto, stack events stubbed) and drift detection (stubbed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from pipeline_assets.canaries.canary import deployments, drift
from pipeline_assets.canaries.canary.core import CanaryError

NS = "DataPlatform/Release"
STACKS = ["Test-Storage", "Test-Release"]


@pytest.fixture
def cloudformation(monkeypatch):
    monkeypatch.setenv("STACK_NAMES", json.dumps(STACKS))
    client = boto3.client("cloudformation", region_name="eu-west-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def stack_event(stack: str, status: str, at: datetime, resource_type: str = "AWS::CloudFormation::Stack") -> dict:
    return {
        "StackId": f"arn:aws:cloudformation:eu-west-1:123456789012:stack/{stack}/1",
        "EventId": f"{stack}-{status}-{at.timestamp()}",
        "StackName": stack,
        "LogicalResourceId": stack,
        "ResourceType": resource_type,
        "Timestamp": at,
        "ResourceStatus": status,
    }


def test_deployments_rollbacks_lead_time_and_change_failure_rate(aws, releases, cloudformation, read_metric):
    client, stub = cloudformation
    now = datetime.now(UTC)
    commit = (now - timedelta(hours=3)).isoformat()
    for release_id in ("r-000000000000000a", "r-000000000000000b", "r-000000000000000c"):
        releases.publish(release_id, {"dags/x.py": b""}, build_time=commit)
    for release_id in ("r-000000000000000a", "r-000000000000000b", "r-000000000000000a", "r-000000000000000c"):
        releases.activate(release_id)
    stub.add_response(
        "describe_stack_events",
        {"StackEvents": [stack_event("Test-Storage", "UPDATE_COMPLETE", now - timedelta(hours=1))]},
        {"StackName": "Test-Storage"},
    )
    stub.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                stack_event("Test-Release", "UPDATE_ROLLBACK_COMPLETE", now - timedelta(hours=2)),
                stack_event(
                    "Test-Release", "UPDATE_FAILED", now - timedelta(hours=2), "AWS::Lambda::Function"
                ),  # a resource, not the stack
                stack_event("Test-Release", "UPDATE_ROLLBACK_COMPLETE", now - timedelta(days=9)),  # outside the window
            ]
        },
        {"StackName": "Test-Release"},
    )

    summary = deployments.handler(
        {"time": now.isoformat()},
        None,
        ssm=aws["ssm"],
        s3=aws["s3"],
        cloudformation=client,
        cloudwatch=aws["cloudwatch"],
    )

    assert (summary["deployments"], summary["rollbacks"], summary["failed_deployments"]) == (3, 1, 1)
    assert summary["change_failure_rate"] == 50.0  # (1 rollback + 1 failed) / (3 deployments + 1 failed)
    assert summary["lead_time_minutes"] == pytest.approx(180, abs=1)
    assert read_metric(NS, "Deployments7d") == 3
    assert read_metric(NS, "Rollbacks7d") == 1
    assert read_metric(NS, "ChangeFailureRate7d") == 50.0
    assert read_metric(NS, "ActiveReleaseVersion") == 4


def test_a_stack_that_cannot_be_read_is_a_reported_problem(aws, releases, cloudformation, read_metric):
    client, stub = cloudformation
    releases.publish("r-000000000000000a", {"dags/x.py": b""})
    releases.activate("r-000000000000000a")
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": "Test-Storage"})
    stub.add_client_error("describe_stack_events", "ValidationError", "Stack with id Test-Release does not exist")

    summary = deployments.handler(
        {}, None, ssm=aws["ssm"], s3=aws["s3"], cloudformation=client, cloudwatch=aws["cloudwatch"]
    )

    assert summary["problems"] == {"ApiError": 1}
    assert read_metric(NS, "CanaryError", Canary="deployments", Reason="ApiError") == 1


def test_stack_names_must_be_a_json_list(aws, releases, monkeypatch, read_metric):
    monkeypatch.setenv("STACK_NAMES", "Test-Storage,Test-Release")
    with pytest.raises(CanaryError, match="JSON list"):
        deployments.handler(
            {}, None, ssm=aws["ssm"], s3=aws["s3"], cloudformation=object(), cloudwatch=aws["cloudwatch"]
        )
    assert read_metric(NS, "CanaryError", Canary="deployments", Reason="Misconfigured") == 1


BUCKET_DRIFT = {
    "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/Test-Storage/1",
    "LogicalResourceId": "RawBucket",
    "ResourceType": "AWS::S3::Bucket",
    "StackResourceDriftStatus": "MODIFIED",
    "Timestamp": datetime(2026, 1, 1, tzinfo=UTC),
    "PropertyDifferences": [
        {
            "PropertyPath": "/VersioningConfiguration/Status",
            "ExpectedValue": "Enabled",
            "ActualValue": "Suspended",
            "DifferenceType": "NOT_EQUAL",
        }
    ],
}


def test_drift_is_a_metric_per_stack_and_a_failed_detection_is_never_in_sync(aws, cloudformation, read_metric):
    client, stub = cloudformation
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-storage"}, {"StackName": "Test-Storage"})
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-release"}, {"StackName": "Test-Release"})
    base = {"StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/x/1", "Timestamp": datetime.now(UTC)}
    stub.add_response(
        "describe_stack_drift_detection_status",
        {**base, "StackDriftDetectionId": "d-storage", "DetectionStatus": "DETECTION_IN_PROGRESS"},
        {"StackDriftDetectionId": "d-storage"},
    )
    stub.add_response(
        "describe_stack_drift_detection_status",
        {
            **base,
            "StackDriftDetectionId": "d-release",
            "DetectionStatus": "DETECTION_FAILED",
            "DetectionStatusReason": "Failed to detect drift on resource Activator",
            "StackDriftStatus": "IN_SYNC",
            "DriftedStackResourceCount": 0,
        },
        {"StackDriftDetectionId": "d-release"},
    )
    stub.add_response(
        "describe_stack_drift_detection_status",
        {
            **base,
            "StackDriftDetectionId": "d-storage",
            "DetectionStatus": "DETECTION_COMPLETE",
            "StackDriftStatus": "DRIFTED",
            "DriftedStackResourceCount": 1,
        },
        {"StackDriftDetectionId": "d-storage"},
    )
    stub.add_response(
        "describe_stack_resource_drifts",
        {"StackResourceDrifts": [BUCKET_DRIFT]},
        {"StackName": "Test-Storage", "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]},
    )
    waits = []

    summary = drift.handler({}, None, cloudformation=client, cloudwatch=aws["cloudwatch"], sleep=waits.append)

    assert summary["drifted"] == ["Test-Storage"]
    assert waits == [drift.POLL_S]
    assert read_metric("DataPlatform/Drift", "StackDrifted", Stack="Test-Storage") == 1
    assert read_metric("DataPlatform/Drift", "DriftedResources", Stack="Test-Storage") == 1
    assert read_metric("DataPlatform/Drift", "DriftDetectionFailed", Stack="Test-Release") == 1
    assert read_metric("DataPlatform/Drift", "DriftDetectionFailed", Stack="Test-Storage") == 0
    assert read_metric(NS, "CanaryError", Canary="drift", Reason="DetectionFailed") == 1


def test_drift_detection_still_running_when_time_runs_out_is_a_timeout(aws, cloudformation, context, read_metric):
    client, stub = cloudformation
    for stack in STACKS:
        stub.add_response("detect_stack_drift", {"StackDriftDetectionId": f"d-{stack}"}, {"StackName": stack})
    summary = drift.handler(
        {}, context(seconds_left=10), cloudformation=client, cloudwatch=aws["cloudwatch"], sleep=lambda _: None
    )
    assert summary["problems"] == {"Timeout": 2}
    assert read_metric("DataPlatform/Drift", "DriftDetectionFailed", Stack="Test-Release") == 1
