"""Local EMR Serverless runs: a job driver becomes a spark-submit of what S3 holds; the API reports the process."""

from __future__ import annotations

import sys
import time

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends

from cicd.engines.emr_serverless import LocalJobRuns, LocalSpark, override_arguments, parse_submit_parameters

REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/job"


def test_submit_parameters_are_read_as_the_dag_factory_writes_them():
    text = "--conf spark.submit.pyFiles=s3://b/deps.zip --conf spark.jars=s3://b/a.jar,s3://b/c.jar --conf x.y=1=2"
    assert parse_submit_parameters(text) == {
        "spark.submit.pyFiles": "s3://b/deps.zip",
        "spark.jars": "s3://b/a.jar,s3://b/c.jar",
        "x.y": "1=2",
    }


def test_argument_overrides_replace_values_and_add_flags():
    arguments = ["--topic", "t", "--trigger-seconds", "30"]
    overrides = (("--trigger-seconds", "3"), ("--no-msk-iam", None))
    assert override_arguments(arguments, overrides) == ["--topic", "t", "--trigger-seconds", "3", "--no-msk-iam"]


FAKE_SPARK_SUBMIT = """#!{python}
# spark-submit's contract as far as these tests need it: run the entry point (the first *.py) with its arguments.
import runpy, sys
args = sys.argv[1:]
entry = next(i for i, a in enumerate(args) if a.endswith(".py"))
sys.argv = args[entry:]
runpy.run_path(args[entry], run_name="__main__")
"""


@pytest.fixture
def emr(tmp_path):
    submit = tmp_path / "spark-submit"
    submit.write_text(FAKE_SPARK_SUBMIT.format(python=sys.executable))
    submit.chmod(0o755)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="rel", CreateBucketConfiguration={"LocationConstraint": REGION})
        client = boto3.client("emr-serverless", region_name=REGION)
        application = client.create_application(name="a", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
        backend = emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION]
        spark = LocalSpark(s3_endpoint="http://127.0.0.1:1", s3a_jars=(tmp_path / "s3a.jar",), spark_submit=str(submit))
        runs = LocalJobRuns(backend, s3, spark, tmp_path / "runs", grace_s=5).attach()
        yield client, s3, application, runs
        runs.stop_all()
        runs.detach()


def driver(entry: str, conf: str = "--conf spark.sql.x=1") -> dict:
    return {"sparkSubmit": {"entryPoint": entry, "entryPointArguments": ["--x", "1"], "sparkSubmitParameters": conf}}


def wait(client, application, run_id, states, timeout_s=60) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        state = client.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]["state"]
        if state in states or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_a_run_fetches_its_artifacts_and_drops_cloud_sizes(emr):
    client, s3, application, runs = emr
    s3.put_object(Bucket="rel", Key="r/main.py", Body=b"import sys; sys.exit(0)\n")
    s3.put_object(Bucket="rel", Key="r/deps.zip", Body=b"PK")
    conf = "--conf spark.submit.pyFiles=s3://rel/r/deps.zip --conf spark.driver.memory=16g --conf spark.sql.x=1"
    run_id = client.start_job_run(
        applicationId=application, executionRoleArn=ROLE, jobDriver=driver("s3://rel/r/main.py", conf), name="job"
    )["jobRunId"]
    wait(client, application, run_id, ("RUNNING", "SUCCESS", "FAILED"))
    command = runs.runs[run_id].command
    assert "spark.sql.x=1" in command and not any("16g" in part for part in command)
    assert command[-3:] == [str(runs.runs[run_id].folder / "artifacts" / "main.py"), "--x", "1"]
    assert set(runs.runs[run_id].artifacts) == {"s3://rel/r/main.py", "s3://rel/r/deps.zip"}


def test_a_run_whose_entry_point_is_missing_fails_with_the_reason(emr):
    client, _, application, _ = emr
    run_id = client.start_job_run(
        applicationId=application, executionRoleArn=ROLE, jobDriver=driver("s3://rel/missing/main.py"), name="job"
    )["jobRunId"]
    assert wait(client, application, run_id, ("FAILED",)) == "FAILED"
    details = client.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]["stateDetails"]
    assert "s3://rel/missing/main.py" in details


def test_a_cancelled_run_is_cancelling_then_cancelled_and_its_process_is_gone(emr, tmp_path):
    client, s3, application, runs = emr
    # The "job" waits until it is stopped.
    s3.put_object(Bucket="rel", Key="r/main.py", Body=b"import time\nwhile True: time.sleep(0.2)\n")
    run_id = client.start_job_run(
        applicationId=application, executionRoleArn=ROLE, jobDriver=driver("s3://rel/r/main.py"), name="job"
    )["jobRunId"]
    assert wait(client, application, run_id, ("RUNNING",)) == "RUNNING", runs.runs[run_id].job_run.state_details
    client.cancel_job_run(applicationId=application, jobRunId=run_id)
    assert client.get_job_run(applicationId=application, jobRunId=run_id)["jobRun"]["state"] in (
        "CANCELLING",
        "CANCELLED",
    )
    assert wait(client, application, run_id, ("CANCELLED",)) == "CANCELLED"
    assert runs.runs[run_id].process.poll() is not None
