import io
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cicd.poststeps import steps
from config import load_environment


def lambda_stub(responses):
    client = boto3.client("lambda", region_name="eu-west-1")
    stubber = Stubber(client)
    for name, response in responses:
        if isinstance(response, Exception):
            stubber.add_client_error(
                "invoke", service_error_code="ResourceNotFoundException", service_message=str(response)
            )
        else:
            stubber.add_response(
                "invoke",
                {
                    "StatusCode": 200,
                    "Payload": io.BytesIO(json.dumps(response.get("body", {})).encode()),
                    **({"FunctionError": response["error"]} if "error" in response else {}),
                },
                {"FunctionName": name, "InvocationType": "RequestResponse", "Payload": b"{}"},
            )
    stubber.activate()
    return client


def test_canaries_pass_only_when_every_run_reports_no_problem():
    client = lambda_stub(
        [
            ("dag-health", {"body": {"problems": {}, "metrics_published": 7}}),
            ("freshness", {"body": {"problems": {"StaleData": 1}}}),
            ("data-quality", {"body": {"errorType": "Timeout"}, "error": "Unhandled"}),
            ("drift", RuntimeError("gone")),
        ]
    )
    results = steps.run_canaries(client, ["dag-health", "freshness", "data-quality", "drift"])
    assert [r.ok for r in results] == [True, False, False, False]
    assert "StaleData" in results[1].detail
    assert "Unhandled" in results[2].detail
    assert "invoke failed" in results[3].detail


def test_no_canary_names_is_an_error_not_a_pass():
    with pytest.raises(steps.PostStepError, match="CANARY_FUNCTIONS"):
        steps.run_canaries(boto3.client("lambda", region_name="eu-west-1"), [])


@mock_aws
def test_external_test_variables_come_from_outputs_config_and_secrets(tmp_path):
    env = load_environment("staging")
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    secrets.create_secret(Name=env.snowflake.private_key_secret_name, SecretString="-----BEGIN PRIVATE KEY-----")
    secrets.create_secret(
        Name=env.streaming.bootstrap_servers_secret_name, SecretString=json.dumps({"bootstrap_servers": "b-1:9098"})
    )
    variables = steps.external_test_env(
        {"RAW_BUCKET": "staging-raw", "CODEBUILD_BUILD_NUMBER": "42"}, env_config=env, secrets=secrets, workdir=tmp_path
    )
    assert variables["EXTERNAL_S3_BUCKET"] == "staging-raw"
    assert variables["EXTERNAL_RUN_ID"] == "run42"
    assert variables["EXTERNAL_KAFKA_BOOTSTRAP"] == "b-1:9098"
    assert variables["EXTERNAL_SNOWFLAKE_DATABASE"] == env.snowflake.database
    key = tmp_path / "snowflake_key.p8"
    assert key.read_text().startswith("-----BEGIN") and oct(key.stat().st_mode)[-3:] == "600"


@mock_aws
def test_missing_output_or_secret_names_what_to_fix(tmp_path):
    env = load_environment("staging")
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    with pytest.raises(steps.PostStepError, match="RAW_BUCKET is not set"):
        steps.external_test_env({}, env_config=env, secrets=secrets, workdir=tmp_path)
    with pytest.raises(steps.PostStepError, match=env.snowflake.private_key_secret_name):
        steps.external_test_env({"RAW_BUCKET": "b"}, env_config=env, secrets=secrets, workdir=tmp_path)


@mock_aws
def test_the_target_role_is_assumed():
    creds = steps.assumed_credentials(
        boto3.client("sts", region_name="eu-west-1"), "arn:aws:iam::123456789012:role/integration", "poststep-test"
    )
    assert set(creds) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def test_the_post_steps_run_without_the_gate_or_the_cloud_toolchain():
    # The in-VPC IntegrationTests build has only requirements-integration.lock installed (L3).
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys, cicd.poststeps.__main__ as m; "
        "print(sorted({n.split('.')[0] + ('.gate' if n.startswith('cicd.gate') else '') for n in sys.modules}"
        " & {'cicd.gate', 'aws_cdk', 'airflow', 'dbt', 'cdk_nag', 'duckdb'}))"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    usage = subprocess.run(
        [sys.executable, "-m", "cicd.poststeps", "poststep", "integration-tests", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 0 and "--env" in usage.stdout
