"""The publish task's AWS wiring with moto (S3, SSM, Secrets Manager), the stub API and a DuckDB mart."""

import json
from contextlib import contextmanager

import boto3
import pytest

from pipeline_assets.dataservices.client import GeaiClient
from pipeline_assets.dataservices.publisher import Timing
from pipeline_assets.dataservices.task import (
    ConfigurationError,
    Settings,
    iter_services,
    publish_from_aws,
    read_connection,
)

RELEASE = "r-0123456789abcdef"
SETTINGS = Settings(
    environment="dev",
    release_bucket="release-bucket",
    active_release_parameter="/data-platform/dev/active-release",
    secret_name="data-platform/dev/globant-enterprise-ai",
)


@pytest.fixture
def aws(s3_state, fixture_bundles, geai):
    stub, url = geai
    for service, bundle in fixture_bundles.items():
        for name, data in bundle.files().items():
            s3_state.put_object(
                Bucket="release-bucket", Key=f"releases/{RELEASE}/dataservices/{service}/{name}", Body=data
            )
    ssm = boto3.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name=SETTINGS.active_release_parameter, Value=RELEASE, Type="String")
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    secrets.create_secret(
        Name=SETTINGS.secret_name,
        SecretString=json.dumps(
            {"base_url": url, "api_token": stub.token, "assistants": {"customer_success": stub.assistant_id}}
        ),
    )
    return {"s3": s3_state, "ssm": ssm, "secrets": secrets}


def connector(warehouse):
    @contextmanager
    def connect():
        yield warehouse.cursor()

    return connect


def fast_client(connection):
    return GeaiClient(connection.base_url, connection.api_token, backoff_s=0.01)


def test_publishes_the_active_release(aws, warehouse, geai):
    stub, _ = geai
    result = publish_from_aws(
        "customer_health",
        SETTINGS,
        connect=connector(warehouse),
        timing=Timing(0.01, 5),
        client_factory=fast_client,
        **aws,
    )
    assert result.outcome == "published"
    assert stub.active.value("publish_key") == result.publish_key
    marker = aws["s3"].get_object(Bucket="release-bucket", Key="dataservices-state/dev/customer_health/current.json")
    assert json.loads(marker["Body"].read())["publish_key"] == result.publish_key


def test_an_unmapped_assistant_names_the_secret_and_the_key(aws, warehouse):
    with pytest.raises(
        ConfigurationError, match=r"maps no assistant id for 'product_insights' \(service product_catalog"
    ):
        publish_from_aws("product_catalog", SETTINGS, connect=connector(warehouse), **aws)


def test_a_service_the_release_does_not_carry(aws, warehouse):
    with pytest.raises(ConfigurationError, match=f"release {RELEASE} has no data service 'nope'"):
        publish_from_aws("nope", SETTINGS, connect=connector(warehouse), **aws)


def test_a_malformed_secret_is_explained_without_leaking_it(aws):
    aws["secrets"].put_secret_value(
        SecretId=SETTINGS.secret_name, SecretString='{"base_url": "x", "api_token": "tok-123"}'
    )
    with pytest.raises(ConfigurationError, match="lacks assistants") as caught:
        read_connection(aws["secrets"], SETTINGS.secret_name)
    assert "tok-123" not in str(caught.value)
    aws["secrets"].put_secret_value(SecretId=SETTINGS.secret_name, SecretString="tok-123")
    with pytest.raises(ConfigurationError, match="is not JSON") as caught:
        read_connection(aws["secrets"], SETTINGS.secret_name)
    assert "tok-123" not in str(caught.value)


def test_lists_the_services_of_a_release(aws):
    assert sorted(iter_services(aws["s3"], "release-bucket", RELEASE)) == ["customer_health", "product_catalog"]


def test_the_airflow_callable_reads_the_platform_configuration_at_run_time(aws, warehouse, geai, monkeypatch):
    """publish_data_service as MWAA runs it: configuration from AIRFLOW__PLATFORM__*, nothing at import."""
    pytest.importorskip("airflow")
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    from pipeline_assets.dataservices import task

    stub, _ = geai
    for key, value in {
        "ENVIRONMENT": "dev",
        "RELEASE_BUCKET": "release-bucket",
        "ACTIVE_RELEASE_PARAMETER": SETTINGS.active_release_parameter,
        "DATA_SERVICES_SECRET_NAME": SETTINGS.secret_name,
        "SNOWFLAKE_CONN_ID": "snowflake_marts",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__PLATFORM__{key}", value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    seen = {}

    class Connection:
        def cursor(self):
            return warehouse.cursor()

        def close(self):
            seen["closed"] = True

    def get_conn(hook):
        seen["conn_id"] = hook.snowflake_conn_id
        return Connection()

    monkeypatch.setattr(SnowflakeHook, "get_conn", get_conn)
    original = task.publish_from_aws
    monkeypatch.setattr(task, "publish_from_aws", lambda *a, **k: original(*a, **{**k, "timing": Timing(0.01, 5)}))

    result = task.publish_data_service("customer_health")

    assert result["outcome"] == "published" and result["service"] == "customer_health"
    with pytest.raises(ConfigurationError, match="release r-other has no data service 'customer_health'"):
        task.publish_data_service("customer_health", release_id="r-other")  # the DAG run's release, not SSM's
    assert seen == {"conn_id": "snowflake_marts", "closed": True}
    assert stub.active.value("publish_key") == result["publish_key"]
