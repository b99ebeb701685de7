"""External systems, chosen by configuration: the same tests run locally and against staging.

Locally (nothing set): S3 is moto in server mode on 127.0.0.1 (real HTTP, real botocore
pagination and retries), Snowflake is fakesnow behind the real connector API, Kafka is a real
Apache Kafka broker on 127.0.0.1 (tests/conftest.py `kafka_broker`) behind confluent_kafka.

In staging (CodeBuild after the staging deploy) the variables point at the real systems, and
every test works inside something made for this run and removed afterwards:

  S3         EXTERNAL_S3_BUCKET                      prefix external-tests/<run id>/
  Snowflake  EXTERNAL_SNOWFLAKE_ACCOUNT, _USER, _ROLE, _WAREHOUSE, _DATABASE,
             _PRIVATE_KEY_FILE (or _PASSWORD)         schema EXT_TEST_<RUN ID>, dropped after
  Kafka      EXTERNAL_KAFKA_BOOTSTRAP, EXTERNAL_KAFKA_CONFIG (JSON: security settings),
             EXTERNAL_KAFKA_REPLICATION (default 3)  topic ext-test-<run id>, deleted after

EXTERNAL_RUN_ID names the run (default: random). See docs/external-systems.md.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

RUN_ID = (os.environ.get("EXTERNAL_RUN_ID") or uuid.uuid4().hex[:10]).lower()
REGION = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
PLACEHOLDER_SECRET = "testing"  # what tests/conftest.py sets so that nothing local reaches AWS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "external: runs against S3, Snowflake or Kafka (local substitutes by default)")


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


# --- S3 ------------------------------------------------------------------------------------


@dataclass
class S3Target:
    client: Any
    bucket: str
    prefix: str  # everything a test writes lives below it
    mode: str  # "moto-server" | "staging"

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{'/'.join(parts)}"

    def keys(self, below: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + below)
        return sorted(item["Key"][len(self.prefix) :] for page in pages for item in page.get("Contents", []))


def _real_aws_credentials() -> None:
    # tests/conftest.py puts placeholder keys in the environment; in staging the build role must win.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if os.environ.get(name) == PLACEHOLDER_SECRET:
            del os.environ[name]


def _empty_prefix(client: Any, bucket: str, prefix: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


@pytest.fixture(scope="module")
def s3(run_id: str) -> Any:
    import boto3

    prefix = f"external-tests/{run_id}/"
    bucket = os.environ.get("EXTERNAL_S3_BUCKET")
    if bucket:
        _real_aws_credentials()
        client = boto3.client("s3", region_name=REGION)
        yield S3Target(client, bucket, prefix, "staging")
        _empty_prefix(client, bucket, prefix)
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=f"http://{host}:{port}",
        aws_access_key_id=PLACEHOLDER_SECRET,
        aws_secret_access_key=PLACEHOLDER_SECRET,
    )
    bucket = "external-tests-local"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    try:
        yield S3Target(client, bucket, prefix, "moto-server")
        _empty_prefix(client, bucket, prefix)
    finally:
        server.stop()


# --- Snowflake -------------------------------------------------------------------------------


@dataclass
class SnowflakeTarget:
    connection: Any
    database: str
    schema: str
    mode: str  # "fakesnow" | "staging"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            return list(cursor.execute(sql).fetchall())
        finally:
            cursor.close()


def _staging_snowflake() -> Any:
    import snowflake.connector

    options: dict[str, Any] = {
        "account": os.environ["EXTERNAL_SNOWFLAKE_ACCOUNT"],
        "user": os.environ["EXTERNAL_SNOWFLAKE_USER"],
        "role": os.environ.get("EXTERNAL_SNOWFLAKE_ROLE"),
        "warehouse": os.environ.get("EXTERNAL_SNOWFLAKE_WAREHOUSE"),
        "database": os.environ["EXTERNAL_SNOWFLAKE_DATABASE"],
    }
    if os.environ.get("EXTERNAL_SNOWFLAKE_PRIVATE_KEY_FILE"):
        options["private_key_file"] = os.environ["EXTERNAL_SNOWFLAKE_PRIVATE_KEY_FILE"]
    else:
        options["password"] = os.environ["EXTERNAL_SNOWFLAKE_PASSWORD"]
    return snowflake.connector.connect(**{k: v for k, v in options.items() if v})


@pytest.fixture(scope="module")
def snowflake_schema(run_id: str) -> Any:
    schema = f"EXT_TEST_{run_id.upper()}"
    if os.environ.get("EXTERNAL_SNOWFLAKE_ACCOUNT"):
        connection = _staging_snowflake()
        database = os.environ["EXTERNAL_SNOWFLAKE_DATABASE"]
        target = SnowflakeTarget(connection, database, schema, "staging")
        target.query(f"create schema {database}.{schema}")
        target.query(f"use schema {database}.{schema}")
        try:
            yield target
        finally:
            target.query(f"drop schema if exists {database}.{schema} cascade")
            connection.close()
        return
    import fakesnow
    import snowflake.connector

    database = "EXTERNAL_TESTS"
    with fakesnow.patch():
        connection = snowflake.connector.connect(database=database, schema=schema)
        target = SnowflakeTarget(connection, database, schema, "fakesnow")
        target.query(f"create database if not exists {database}")
        target.query(f"create schema if not exists {database}.{schema}")
        target.query(f"use schema {database}.{schema}")
        try:
            yield target
        finally:
            target.query(f"drop schema if exists {database}.{schema} cascade")
            connection.close()


# --- Kafka -----------------------------------------------------------------------------------


@dataclass
class KafkaTarget:
    topic: str
    partitions: int
    producer: Any
    consumer: Any
    mode: str  # "local-broker" | "staging"
    closers: list[Any] = field(default_factory=list)


def _staging_kafka(topic: str, partitions: int, run_id: str) -> KafkaTarget:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    config = {
        "bootstrap.servers": os.environ["EXTERNAL_KAFKA_BOOTSTRAP"],
        **json.loads(os.environ.get("EXTERNAL_KAFKA_CONFIG", "{}")),
    }
    admin = AdminClient(config)
    replication = int(os.environ.get("EXTERNAL_KAFKA_REPLICATION", "3"))
    for future in admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication)]
    ).values():
        future.result(timeout=60)
    consumer = Consumer({**config, "group.id": f"ext-test-{run_id}", "auto.offset.reset": "earliest"})
    target = KafkaTarget(topic, partitions, Producer(config), consumer, "staging")

    def delete() -> None:
        consumer.close()
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=60)

    target.closers.append(delete)
    return target


def _local_kafka(request: pytest.FixtureRequest, topic: str, partitions: int, run_id: str) -> KafkaTarget:
    from confluent_kafka import Consumer, Producer

    broker = request.getfixturevalue("kafka_broker")  # started only when a Kafka test runs
    broker.create_topic(topic, partitions=partitions)
    config = broker.client_config
    consumer = Consumer({**config, "group.id": f"ext-test-{run_id}", "auto.offset.reset": "earliest"})
    target = KafkaTarget(topic, partitions, Producer(config), consumer, "local-broker")

    def delete() -> None:
        consumer.close()
        broker.delete_topic(topic)

    target.closers.append(delete)
    return target


@pytest.fixture(scope="module")
def kafka(run_id: str, request: pytest.FixtureRequest) -> Any:
    topic, partitions = f"ext-test-{run_id}", 3
    if os.environ.get("EXTERNAL_KAFKA_BOOTSTRAP"):
        target = _staging_kafka(topic, partitions, run_id)
    else:
        target = _local_kafka(request, topic, partitions, run_id)
    try:
        yield target
    finally:
        for close in target.closers:
            close()


# Spark: the `spark` fixture of tests/conftest.py (one JVM for the whole run).
