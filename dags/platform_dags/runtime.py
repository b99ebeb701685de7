"""What a task needs from its environment, read when the task runs and never when a file is parsed.

The platform stack sets `[platform]` options on the MWAA environment (AIRFLOW__PLATFORM__<KEY>);
the active release id lives in an SSM parameter so that activating or rolling back a release is a
parameter write, and DAG files stay identical in every environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypedDict

PLATFORM_SECTION = "platform"
SETTINGS = (
    "environment",
    "release_bucket",
    "raw_bucket",
    "checkpoint_bucket",
    "emr_batch_application_id",
    "emr_streaming_application_id",
    "emr_job_role_arn",
    "active_release_parameter",
    "snowflake_conn_id",
    "data_services_secret_name",
)
RELEASE_ID = re.compile(r"^r-[0-9a-f]{16}$")
# The AWS connection operators use; on MWAA it carries no keys, so boto3 falls back to the execution role.
AWS_CONN_ID = "aws_default"


class Release(TypedDict):
    release_id: str
    release_bucket: str
    release_prefix: str


class PlatformSettingMissingError(RuntimeError):
    pass


def setting(key: str) -> str:
    """One `[platform]` option; a missing one fails the task with the variable to set, not a KeyError."""
    if key not in SETTINGS:
        raise KeyError(f"platform.{key} is not part of the run-time contract (known: {', '.join(SETTINGS)})")
    from airflow.configuration import conf

    value = conf.get(PLATFORM_SECTION, key, fallback=None)
    if not value:
        raise PlatformSettingMissingError(
            f"Airflow option platform.{key} is not set (environment variable AIRFLOW__PLATFORM__{key.upper()}); "
            "the platform stack sets it in the MWAA environment's airflow configuration options"
        )
    return str(value)


def release_uri(release: Release, part: str, *path: str) -> str:
    return "/".join((release["release_prefix"], part, *path))


def resolve_release(ssm_client: Any, *, parameter: str, release_bucket: str) -> Release:
    """The active release, read once per DAG run so that every task of the run uses the same bytes."""
    value = ssm_client.get_parameter(Name=parameter)["Parameter"]["Value"].strip()
    if not RELEASE_ID.match(value):
        raise ValueError(
            f"SSM parameter {parameter} holds {value!r}, not a release id like r-0123456789abcdef; "
            "activate a release with the release lane stack before running pipelines"
        )
    return Release(
        release_id=value, release_bucket=release_bucket, release_prefix=f"s3://{release_bucket}/releases/{value}"
    )


def download_release_part(s3_client: Any, release: Release, part: str, target: Path, *, folder: str = "") -> Path:
    """Copy releases/<id>/<part>/ to target/<folder or part>/ and return that folder; an empty part is an error."""
    prefix = f"releases/{release['release_id']}/{part}/"
    destination = target / (folder or part)
    count = 0
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=release["release_bucket"], Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            local = destination / relative
            if destination.resolve() not in local.resolve().parents:
                raise ValueError(f"refusing to write {item['Key']} outside {destination}")
            local.parent.mkdir(parents=True, exist_ok=True)
            s3_client.download_file(release["release_bucket"], item["Key"], str(local))
            count += 1
    if count == 0:
        raise FileNotFoundError(
            f"release {release['release_id']} has no {part}/ folder at s3://{release['release_bucket']}/{prefix}"
        )
    return destination
