"""The publish task: the one function a DAG calls, and the AWS wiring under it.

    from pipeline_assets.dataservices.task import publish_data_service
    PythonOperator(task_id="publish_customer_health", python_callable=publish_data_service,
                   op_kwargs={"service": "customer_health"})

Everything environment-specific is read when the task runs, from the `platform` section of the
Airflow configuration (MWAA configuration options), never at DAG parse time:
environment, release_bucket, active_release_parameter, snowflake_conn_id, data_services_secret_name.

The secret (Secrets Manager, JSON) holds the Globant Enterprise AI connection of that environment:
    {"base_url": "https://api.saia.ai", "api_token": "<project API token>",
     "assistants": {"<logical assistant name>": "<assistant id>"},
     "dataset_remove_path": "<optional: the installation's path that removes one dataset file, with
                             {assistant_id} and {file_name}; without it the sweep only lists orphans>"}
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_assets.dataservices.bundle import FILES, ServiceBundle
from pipeline_assets.dataservices.client import GeaiClient
from pipeline_assets.dataservices.export import Cursor
from pipeline_assets.dataservices.publisher import DEFAULT_TIMING, PublishResult, Timing, publish_service
from pipeline_assets.dataservices.state import PublishState

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    environment: str
    release_bucket: str
    active_release_parameter: str
    secret_name: str
    state_prefix: str = ""

    @property
    def prefix(self) -> str:
        return self.state_prefix or f"dataservices-state/{self.environment}/"


@dataclass(frozen=True)
class Connection:
    base_url: str
    api_token: str
    assistants: dict[str, str]
    remove_path: str | None = None

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"Connection(base_url={self.base_url!r}, assistants={sorted(self.assistants)})"


def read_connection(secrets: Any, secret_name: str) -> Connection:
    raw = secrets.get_secret_value(SecretId=secret_name)["SecretString"]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"secret {secret_name} is not JSON (keys: base_url, api_token, assistants)") from exc
    missing = [k for k in ("base_url", "api_token", "assistants") if not data.get(k)]
    if missing:
        raise ConfigurationError(f"secret {secret_name} lacks {', '.join(missing)}")
    assistants = {str(k): str(v) for k, v in data["assistants"].items()}
    remove_path = data.get("dataset_remove_path")
    if remove_path is not None and ("{assistant_id}" not in str(remove_path) or "{file_name}" not in str(remove_path)):
        raise ConfigurationError(
            f"secret {secret_name}: dataset_remove_path must contain {{assistant_id}} and {{file_name}}, "
            f"got {remove_path!r}"
        )
    return Connection(str(data["base_url"]), str(data["api_token"]), assistants, remove_path)


def read_bundle(s3: Any, bucket: str, release_id: str, service: str) -> ServiceBundle:
    prefix = f"releases/{release_id}/dataservices/{service}/"
    files = {}
    for name in FILES:
        try:
            files[name] = s3.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
    if not files:
        raise ConfigurationError(f"release {release_id} has no data service {service!r} (s3://{bucket}/{prefix})")
    return ServiceBundle.from_files(files)


def publish_from_aws(
    service: str,
    settings: Settings,
    *,
    s3: Any,
    ssm: Any,
    secrets: Any,
    connect: Callable[[], AbstractContextManager[Cursor]],
    release_id: str | None = None,
    schema: str | None = None,
    timing: Timing = DEFAULT_TIMING,
    client_factory: Callable[[Connection], GeaiClient] | None = None,
) -> PublishResult:
    """Publish the service of the active release (or of release_id), with every client injected."""
    if release_id is None:
        release_id = ssm.get_parameter(Name=settings.active_release_parameter)["Parameter"]["Value"]
    bundle = read_bundle(s3, settings.release_bucket, release_id, service)
    connection = read_connection(secrets, settings.secret_name)
    assistant_id = connection.assistants.get(bundle.service.assistant)
    if not assistant_id:
        raise ConfigurationError(
            f"secret {settings.secret_name} maps no assistant id for {bundle.service.assistant!r} "
            f"(service {service}, environment {settings.environment}); add it under 'assistants'"
        )
    client = (client_factory or (lambda c: GeaiClient(c.base_url, c.api_token, remove_path=c.remove_path)))(connection)
    state = PublishState(s3, settings.release_bucket, settings.prefix)
    log.info(
        "publishing %s of release %s to assistant %s in %s", service, release_id, assistant_id, settings.environment
    )
    with tempfile.TemporaryDirectory(prefix=f"dataservice-{service}-") as work, connect() as cursor:
        return publish_service(
            bundle,
            assistant_id=assistant_id,
            client=client,
            state=state,
            cursor=cursor,
            work_dir=Path(work),
            schema=schema,
            timing=timing,
        )


def publish_data_service(
    service: str, schema: str | None = None, release_id: str | None = None, **_context: Any
) -> dict[str, Any]:
    """Airflow callable: publish `service` of `release_id` (default: the active release); result for XCom.

    Pass the release the DAG run built from, so a release activated mid-run cannot mix in.
    """
    import boto3
    from airflow.configuration import conf
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    settings = Settings(
        environment=conf.get("platform", "environment"),
        release_bucket=conf.get("platform", "release_bucket"),
        active_release_parameter=conf.get("platform", "active_release_parameter"),
        secret_name=conf.get("platform", "data_services_secret_name"),
    )
    conn_id = conf.get("platform", "snowflake_conn_id")

    @contextmanager
    def snowflake_cursor() -> Iterator[Cursor]:
        connection = SnowflakeHook(snowflake_conn_id=conn_id).get_conn()
        try:
            cursor = connection.cursor()
            yield cursor
            cursor.close()
        finally:
            connection.close()

    result = publish_from_aws(
        service,
        settings,
        s3=boto3.client("s3"),
        ssm=boto3.client("ssm"),
        secrets=boto3.client("secretsmanager"),
        connect=snowflake_cursor,
        schema=schema,
        release_id=release_id,
    )
    return result.as_dict()


def iter_services(s3: Any, bucket: str, release_id: str) -> Iterator[str]:
    """The data services a release carries (for a DAG that publishes all of them)."""
    paginator = s3.get_paginator("list_objects_v2")
    prefix = f"releases/{release_id}/dataservices/"
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            yield common["Prefix"][len(prefix) :].rstrip("/")
