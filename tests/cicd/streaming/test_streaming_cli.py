"""The CLI over moto: argument handling, exit codes, and a redeploy/rollback round trip.

moto never runs a job; two botocore hooks stand in for the service: a started run becomes
RUNNING, and each look at a RUNNING run finds one more micro-batch committed to its checkpoint.
"""

import argparse
import json

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends

from cicd.release.parts.spark import spark as spark_part
from cicd.streaming import cli
from cicd.streaming.bench import capacity

REGION = "eu-west-1"
JOB = "operations_events_stream"
OLD, NEW = "r-00000000000000a1", "r-00000000000000b2"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/emr-job-role"


def driver(release):
    prefix = f"s3://releases-b/releases/{release}/spark/{JOB}"
    return {
        "sparkSubmit": {
            "entryPoint": f"{prefix}/main.py",
            "entryPointArguments": [
                "--pipeline-id",
                "operations_events",
                "--topic",
                "operations.events.v1",
                "--output",
                "s3://raw-b/landing/operations_events/",
                "--checkpoint",
                f"s3://ckpt-b/{JOB}/",
            ],
            "sparkSubmitParameters": f"--conf spark.submit.pyFiles={prefix}/deps.zip",
        }
    }


@pytest.fixture(scope="module")
def bundle(repo_root):
    return dict(spark_part(repo_root))


@pytest.fixture
def env(bundle, monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in ("releases-b", "ckpt-b", "raw-b"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for release in (OLD, NEW):
            for name, data in bundle.items():
                s3.put_object(Bucket="releases-b", Key=f"releases/{release}/spark/{name}", Body=data)
        emr = boto3.client("emr-serverless", region_name=REGION)
        app = emr.create_application(name="streaming", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
        backend = emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION]
        backend.job_runs[app] = []  # moto says "application does not exist" before the first run

        def started(parsed, **_):
            next(r for r in backend.job_runs[app] if r.id == parsed["jobRunId"]).state = "RUNNING"

        def looked_at(parsed, **_):
            if parsed["jobRun"]["state"] == "RUNNING":
                listed = s3.list_objects_v2(Bucket="ckpt-b", Prefix=f"{JOB}/commits/").get("Contents", [])
                s3.put_object(Bucket="ckpt-b", Key=f"{JOB}/commits/{len(listed)}", Body=b"{}")

        emr.meta.events.register("after-call.emr-serverless.StartJobRun", started)
        emr.meta.events.register("after-call.emr-serverless.GetJobRun", looked_at)
        monkeypatch.setenv("AIRFLOW__PLATFORM__EMR_STREAMING_APPLICATION_ID", app)
        monkeypatch.setenv("AIRFLOW__PLATFORM__RELEASE_BUCKET", "releases-b")
        monkeypatch.setenv("AIRFLOW__PLATFORM__CHECKPOINT_BUCKET", "ckpt-b")
        run = emr.start_job_run(
            applicationId=app,
            name=JOB,
            executionRoleArn=ROLE,
            jobDriver=driver(OLD),
            tags={"release_id": OLD},
            mode="STREAMING",
        )
        yield {"emr": emr, "s3": s3, "app": app, "first_run": run["jobRunId"]}


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


FAST = ("--bake-seconds", "1", "--poll-seconds", "1", "--grace-seconds", "30")


def test_status_reports_the_running_release(env, capsys):
    args = parse("streaming", "status", "--env", "dev", "--json")
    assert cli.cmd_status(args, emr=env["emr"], s3=env["s3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["running"]["release_id"] == OLD and report["running"]["job_run_id"] == env["first_run"]
    assert report["snapshots"] == []


def test_redeploy_then_rollback_round_trip(env, capsys):
    args = parse("streaming", "redeploy", "--env", "dev", "--release", NEW, "--json", *FAST)
    assert cli.cmd_redeploy(args, emr=env["emr"], s3=env["s3"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["action"], outcome["release_id"], outcome["previous_release_id"]) == ("restarted", NEW, OLD)
    assert outcome["snapshot_id"].endswith(OLD)

    args = parse("streaming", "rollback", "--env", "dev", "--json", *FAST)
    assert cli.cmd_rollback(args, emr=env["emr"], s3=env["s3"]) == 0
    rolled = json.loads(capsys.readouterr().out)
    assert (rolled["action"], rolled["release_id"], rolled["previous_release_id"]) == ("rolled_back", OLD, NEW)
    runs = env["emr"].list_job_runs(applicationId=env["app"], states=["RUNNING"])["jobRuns"]
    [running] = [env["emr"].get_job_run(applicationId=env["app"], jobRunId=r["id"])["jobRun"] for r in runs]
    assert running["tags"]["release_id"] == OLD


def test_redeploy_to_the_running_release_changes_nothing(env, capsys):
    args = parse("streaming", "redeploy", "--env", "dev", "--release", OLD, *FAST)
    assert cli.cmd_redeploy(args, emr=env["emr"], s3=env["s3"]) == 0
    assert "running — release r-00000000000000a1" in capsys.readouterr().out


def test_unknown_release_is_refused_with_exit_1(env, capsys):
    args = parse("streaming", "redeploy", "--env", "dev", "--release", "r-00000000000000ff", *FAST)
    assert cli.cmd_redeploy(args, emr=env["emr"], s3=env["s3"]) == 1
    assert "r-00000000000000ff" in capsys.readouterr().err


def test_missing_setting_names_the_variable(env, capsys, monkeypatch):
    monkeypatch.delenv("AIRFLOW__PLATFORM__EMR_STREAMING_APPLICATION_ID")
    args = parse("streaming", "redeploy", "--env", "dev", "--release", NEW, *FAST)
    assert cli.cmd_redeploy(args, emr=env["emr"], s3=env["s3"]) == 1
    assert "AIRFLOW__PLATFORM__EMR_STREAMING_APPLICATION_ID" in capsys.readouterr().err


def test_rollback_without_snapshot_is_refused(env, capsys):
    args = parse("streaming", "rollback", "--env", "dev", *FAST)
    assert cli.cmd_rollback(args, emr=env["emr"], s3=env["s3"]) == 1
    assert f"no snapshot of {JOB} under s3://ckpt-b/_snapshots/" in capsys.readouterr().err


def test_bad_numbers_are_usage_errors(capsys):
    with pytest.raises(SystemExit):
        parse("streaming", "redeploy", "--env", "dev", "--release", NEW, "--bake-seconds", "0")
    assert "must be a whole number >= 1" in capsys.readouterr().err


def test_capacity_arithmetic():
    sized = capacity(events_per_core=10_000, mb_per_core=5.0)
    assert sized["streaming_vcpu"] == 8  # 40K x 2 headroom / 10K per core
    assert sized["streaming_workers"] == 2
    assert sized["batch_average_mb_per_s"] == pytest.approx(138.9, abs=0.1)  # 12 TB / 86,400 s
    assert sized["batch_window_mb_per_s"] == pytest.approx(555.6, abs=0.1)  # in 6 hours
    assert sized["batch_vcpu"] == 145  # 555.6 x 1.3 / 5, rounded up
    assert sized["batch_workers"] == 37


@pytest.mark.slow
def test_the_batch_benchmark_runs_the_real_job_on_local_spark(tmp_path):
    from cicd.streaming.bench import bench_batch
    from pipeline_assets.spark.common.session import local_session

    spark = local_session(cores=1, app_name="bench-test")
    try:
        per_core, megabytes = bench_batch(spark, tmp_path, megabytes=1, cores=1, repeat=1)
    finally:
        spark.stop()
    assert megabytes > 0.5 and per_core > 0
    assert list((tmp_path / "landing" / "accounts").glob("*.parquet"))
