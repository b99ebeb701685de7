"""Publish a pipeline's Globant Enterprise AI data service after its dbt mart is published.

The publisher (`python -m cicd dataservice publish`, run-time half in pipeline_assets/dataservices)
has no entry point an Airflow worker can call yet. Until it does, the publish task fails on purpose:
a pipeline that promises a data service must never report success without publishing it.
"""

from __future__ import annotations

from platform_dags.runtime import Release


class DataServicePublisherMissingError(NotImplementedError):
    pass


def publish(*, data_service: str, pipeline_id: str, release: Release, environment: str) -> None:
    raise DataServicePublisherMissingError(
        f"pipeline {pipeline_id} cannot publish data service {data_service!r} ({environment}, release "
        f"{release['release_id']}): the data-service publisher (`python -m cicd dataservice publish`) has no "
        "worker entry point yet. Wire it in dags/platform_dags/dataservice.py:publish "
        "(issue: Globant Enterprise AI data services)."
    )
