"""What the factory's Python tasks do when they run. Nothing here runs at import or parse time.

Each callable gets its AWS clients from Airflow hooks and hands them to a plain function that the
tests call with moto clients.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from platform_dags import dataservice, dbt, runtime, streaming
from platform_dags.runtime import AWS_CONN_ID, Release

log = logging.getLogger(__name__)

RELEASE_TASK = "resolve_release"  # the first task of every DAG that uses the release


def _release(ti: Any) -> Release:
    release = ti.xcom_pull(task_ids=RELEASE_TASK)
    if not release:
        raise RuntimeError(f"no release in XCom from task {RELEASE_TASK!r}: it must run first in this DAG run")
    return release


def resolve_release() -> Release:
    from airflow.providers.amazon.aws.hooks.ssm import SsmHook
    from airflow.utils.session import create_session

    with create_session() as session:
        if dbt.ensure_wap_pool(session):
            log.info("created pool %s (%s slot)", dbt.WAP_POOL, dbt.WAP_POOL_SLOTS)
    return runtime.resolve_release(
        SsmHook(aws_conn_id=AWS_CONN_ID).conn,
        parameter=runtime.setting("active_release_parameter"),
        release_bucket=runtime.setting("release_bucket"),
    )


def transform(selector: str, pipeline_id: str, ti: Any, ts_nodash: str = "manual") -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    release = _release(ti)
    target = runtime.setting("environment")
    with tempfile.TemporaryDirectory(prefix=f"dbt-{pipeline_id}-") as workdir:
        s3 = S3Hook(aws_conn_id=AWS_CONN_ID).conn
        runtime.download_release_part(s3, release, "dbt", Path(workdir), folder=dbt.PROJECT_FOLDER)
        try:
            dbt.run_wap(root=Path(workdir), selector=selector, target=target, release=release)
        finally:
            # Passed or failed, the results feed the data-quality canary (a failed audit is data too).
            dbt.upload_run_results(
                s3, root=Path(workdir), target=target, release=release, pipeline_id=pipeline_id, run=ts_nodash
            )


def publish(data_service: str, pipeline_id: str, ti: Any) -> dict[str, Any]:
    return dataservice.publish(
        data_service=data_service,
        pipeline_id=pipeline_id,
        release=_release(ti),
        environment=runtime.setting("environment"),
    )


def supervise_streaming_job(
    pipeline_id: str,
    job_name: str,
    application_id: str,
    execution_role_arn: str,
    job_driver: dict[str, Any],
    tags: dict[str, str],
    ti: Any,
) -> dict[str, str]:
    from airflow.providers.amazon.aws.hooks.emr import EmrServerlessHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return streaming.ensure_streaming_job(
        emr_client=EmrServerlessHook(aws_conn_id=AWS_CONN_ID).conn,
        s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).conn,
        pipeline_id=pipeline_id,
        job_name=job_name,
        application_id=application_id,
        execution_role_arn=execution_role_arn,
        release=_release(ti),
        job_driver=job_driver,
        tags=tags,
    )
