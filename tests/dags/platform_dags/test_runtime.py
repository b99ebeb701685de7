"""Run-time settings and the active release: read when a task runs, from Airflow's config and SSM."""

import boto3
import pytest
from moto import mock_aws
from platform_dags import runtime
from platform_dags.runtime import PlatformSettingMissingError, Release


def test_setting_reads_the_platform_section(monkeypatch):
    monkeypatch.setenv("AIRFLOW__PLATFORM__RAW_BUCKET", "raw-staging")
    assert runtime.setting("raw_bucket") == "raw-staging"


def test_missing_setting_names_the_variable_to_set(monkeypatch):
    monkeypatch.delenv("AIRFLOW__PLATFORM__CHECKPOINT_BUCKET", raising=False)
    with pytest.raises(PlatformSettingMissingError, match="AIRFLOW__PLATFORM__CHECKPOINT_BUCKET"):
        runtime.setting("checkpoint_bucket")


def test_unknown_setting_is_not_part_of_the_contract():
    with pytest.raises(KeyError, match="run-time contract"):
        runtime.setting("database_password")


@mock_aws
def test_resolve_release_reads_the_active_release_parameter():
    ssm = boto3.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name="/platform/dev/active-release", Value="r-0123456789abcdef\n", Type="String")
    release = runtime.resolve_release(ssm, parameter="/platform/dev/active-release", release_bucket="releases-dev")
    assert release == {
        "release_id": "r-0123456789abcdef",
        "release_bucket": "releases-dev",
        "release_prefix": "s3://releases-dev/releases/r-0123456789abcdef",
    }
    assert runtime.release_uri(release, "spark", "job", "main.py").endswith("/r-0123456789abcdef/spark/job/main.py")


@mock_aws
def test_resolve_release_refuses_what_is_not_a_release_id():
    ssm = boto3.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name="/platform/dev/active-release", Value="latest", Type="String")
    with pytest.raises(ValueError, match="not a release id"):
        runtime.resolve_release(ssm, parameter="/platform/dev/active-release", release_bucket="releases-dev")


@mock_aws
def test_download_release_part_copies_only_that_part(tmp_path):
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="releases-dev", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    prefix = "releases/r-0123456789abcdef"
    for key in ("dbt/dbt_project.yml", "dbt/models/marts/accounts.sql", "dags/crm_accounts.py"):
        s3.put_object(Bucket="releases-dev", Key=f"{prefix}/{key}", Body=key.encode())
    s3.put_object(Bucket="releases-dev", Key="releases/r-ffffffffffffffff/dbt/other.yml", Body=b"other")
    release = Release(
        release_id="r-0123456789abcdef", release_bucket="releases-dev", release_prefix=f"s3://releases-dev/{prefix}"
    )
    project = runtime.download_release_part(s3, release, "dbt", tmp_path)
    assert project == tmp_path / "dbt"
    files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
    assert files == ["dbt_project.yml", "models/marts/accounts.sql"]
    with pytest.raises(FileNotFoundError, match="has no spark/ folder"):
        runtime.download_release_part(s3, release, "spark", tmp_path)
