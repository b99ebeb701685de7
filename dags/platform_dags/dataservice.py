"""Publish a pipeline's Globant Enterprise AI data service after its dbt mart is published.

The publisher is pipeline_assets/dataservices (its Airflow entry point is
`pipeline_assets.dataservices.task.publish_data_service`); this module is the one place the DAGs
call it from. It is imported when the task runs, so a worker without it fails that task with a
clear message while every DAG still parses: a pipeline that promises a data service must never
report success without publishing it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from platform_dags.runtime import Release

log = logging.getLogger(__name__)

PUBLISHER_MODULE = "pipeline_assets.dataservices.task"


class DataServicePublisherMissingError(NotImplementedError):
    pass


def _publisher() -> Any:
    try:
        module = importlib.import_module(PUBLISHER_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is None or not PUBLISHER_MODULE.startswith(exc.name):
            raise  # the publisher is there but one of its own imports is not: show that
        raise DataServicePublisherMissingError(
            f"{PUBLISHER_MODULE} is not importable on this worker; the data-service publisher "
            "(pipeline_assets/dataservices) must ship where the Airflow workers import it"
        ) from exc
    return module.publish_data_service


def publish(*, data_service: str, pipeline_id: str, release: Release, environment: str) -> dict[str, Any]:
    publish_data_service = _publisher()
    log.info("publishing %s for %s from release %s (%s)", data_service, pipeline_id, release["release_id"], environment)
    # The release this DAG run built from, so a release activated mid-run cannot mix in.
    result: dict[str, Any] = publish_data_service(data_service, release_id=release["release_id"])
    return result
