"""The canaries' shared core, and the Lambda package itself (handlers importable as Lambda imports them)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from pipeline_assets.canaries.canary.core import (
    CanaryError,
    Deadline,
    Metrics,
    classify,
    previous_releases,
    release_history,
    run_canary,
)

PACKAGE = Path(__file__).resolve().parents[3] / "pipeline_assets" / "canaries"
HANDLERS = ["dag_health", "freshness", "data_quality", "deployments", "drift"]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (CanaryError("MissingData", "x"), "MissingData"),
        (ReadTimeoutError(endpoint_url="https://x"), "Timeout"),
        (EndpointConnectionError(endpoint_url="https://x"), "ApiUnreachable"),
        (ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject"), "ApiError"),
        (KeyError("x"), "Unexpected"),
    ],
)
def test_every_failure_gets_a_stable_reason(exc, reason):
    assert classify(exc) == reason


def test_metrics_are_published_in_batches_with_the_environment(aws, read_metric):
    metrics = Metrics(aws["cloudwatch"], "test")
    for i in range(320):
        metrics.add("DataPlatform/Test", "Value", i, Item=f"i{i}")
    metrics.flush()
    assert metrics.published == 320
    assert read_metric("DataPlatform/Test", "Value", Item="i319") == 319


def test_a_failing_canary_publishes_its_failure_discards_partial_values_and_raises(aws, read_metric):
    def body(metrics, deadline):
        metrics.add("DataPlatform/Test", "HalfMeasured", 0)
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetParameter")

    with pytest.raises(ClientError):
        run_canary("unit", body, cloudwatch=aws["cloudwatch"], environment="test", deadline=Deadline(budget_s=60))

    assert read_metric("DataPlatform/Release", "CanaryError", Canary="unit", Reason="ApiError") == 1
    assert read_metric("DataPlatform/Release", "CanaryFailed", Canary="unit") == 1
    assert read_metric("DataPlatform/Release", "CanaryRun", Canary="unit") == 1
    assert read_metric("DataPlatform/Test", "HalfMeasured") is None


def test_release_history_is_ordered_and_previous_releases_are_distinct(aws, releases):
    for release_id in ("r-1", "r-2", "r-1", "r-3", "r-3"):
        releases.activate(release_id)
    history = release_history(aws["ssm"], releases.parameter)
    assert [a.release_id for a in history] == ["r-1", "r-2", "r-1", "r-3", "r-3"]
    assert previous_releases(history) == ["r-1", "r-2"]


def test_the_lambda_package_imports_as_lambda_imports_it_with_the_standard_library_only():
    """Lambda puts the asset root on sys.path and imports canary.<module>; nothing outside the runtime may load."""
    probe = (
        "import importlib, json, sys\n"
        "sys.path.insert(0, '.')  # Lambda: the asset root\n"
        "before = set(sys.modules)  # what site-packages' .pth files load is not ours\n"
        f"mods = {HANDLERS!r}\n"
        "handlers = {m: callable(importlib.import_module('canary.' + m).handler) for m in mods}\n"
        "tops = {n.split('.')[0] for n in set(sys.modules) - before}\n"
        "ours = {'canary'} | set(sys.stdlib_module_names)\n"
        "foreign = sorted(t for t in tops if t not in ours and not t.startswith('_'))\n"
        "print(json.dumps({'handlers': handlers, 'foreign': foreign}))\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", probe], cwd=PACKAGE, capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["handlers"] == dict.fromkeys(HANDLERS, True)
    assert report["foreign"] == []  # boto3 is imported lazily inside the handlers


@pytest.mark.parametrize("module", HANDLERS)
def test_every_canary_handler_reports_a_misconfigured_function_at_the_scheduled_time_of_its_event(
    module, aws, monkeypatch
):
    """The setup every handler shares: the event's scheduled time stamps the metrics (a retried event
    measures the same window again), the environment label stays 'unknown' when the variable is
    missing, and a failed run publishes CanaryFailed under the canary's own name, then raises."""
    canary = importlib.import_module(f"pipeline_assets.canaries.canary.{module}")
    monkeypatch.delenv("ENVIRONMENT")
    monkeypatch.delenv("STACK_NAMES", raising=False)
    scheduled = "2026-03-04T05:06:00+00:00"
    published: list[dict] = []

    def keep(params, **_):
        published.extend(params.get("MetricData", []))

    cloudwatch = aws["cloudwatch"]
    cloudwatch.meta.events.register("before-parameter-build.cloudwatch.PutMetricData", keep)
    clients = {"s3": aws["s3"], "ssm": aws["ssm"], "cloudwatch": cloudwatch}
    clients |= {name: boto3.client(name, region_name="eu-west-1") for name in ("mwaa", "cloudformation")}
    wanted = {
        "dag_health": ["mwaa", "ssm", "s3", "cloudwatch"],
        "freshness": ["s3", "ssm", "cloudwatch"],
        "data_quality": ["s3", "ssm", "cloudwatch"],
        "deployments": ["ssm", "s3", "cloudformation", "cloudwatch"],
        "drift": ["cloudformation", "cloudwatch"],
    }[module]
    try:
        with pytest.raises(CanaryError) as raised:
            canary.handler({"time": scheduled}, None, **{name: clients[name] for name in wanted})
    finally:
        cloudwatch.meta.events.unregister("before-parameter-build.cloudwatch.PutMetricData", keep)

    assert raised.value.reason == "Misconfigured"
    failed = [m for m in published if m["MetricName"] == "CanaryFailed"]
    assert [m["Value"] for m in failed] == [1.0]
    assert failed[0]["Dimensions"] == [
        {"Name": "Environment", "Value": "unknown"},
        {"Name": "Canary", "Value": canary.NAME},
    ]
    assert {m["Timestamp"].isoformat() for m in published} == {scheduled}
