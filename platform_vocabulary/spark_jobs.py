"""The Spark jobs the release bundle ships, and what each one's deps.zip must contain.

Pure data (no pyspark import): the release build, the DAG checks and `cicd dags new` read it. The jobs
themselves live in pipeline_assets/spark/<job_id>/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SparkJob:
    job_id: str
    kind: Literal["batch", "streaming"]
    # Repository packages zipped besides the job's own package and pipeline_assets.spark.common.
    packages: tuple[str, ...] = ()
    # Third-party pure-Python packages zipped from the build environment. EMR Serverless images
    # have pyspark and boto3 but not these; their C extensions are left out (they fall back to
    # pure Python, which is what runs on EMR unless a custom image provides the wheels).
    vendored: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        return f"pipeline_assets.spark.{self.job_id}"


JOBS: tuple[SparkJob, ...] = (
    SparkJob("crm_accounts_batch", "batch"),
    SparkJob("product_catalog_batch", "batch"),
    SparkJob(
        "operations_events_stream",
        "streaming",
        packages=("pipeline_assets.schemas",),
        vendored=("fastavro",),
    ),
)


def job(job_id: str) -> SparkJob:
    for candidate in JOBS:
        if candidate.job_id == job_id:
            return candidate
    raise KeyError(f"unknown Spark job {job_id!r}; known: {', '.join(j.job_id for j in JOBS)}")
