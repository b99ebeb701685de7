"""SparkSession settings shared by the jobs, the tests and the benchmark."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

# Settings every job relies on whatever the cluster defaults are.
JOB_CONF = {
    "spark.sql.session.timeZone": "UTC",  # timestamps are UTC end to end
    "spark.sql.sources.partitionOverwriteMode": "dynamic",  # never wipe other days' partitions
    "spark.sql.ansi.enabled": "false",  # a failed cast yields null, which the jobs turn into a quarantine reason
}


def job_session(app_name: str) -> SparkSession:
    """The session a job's main() uses: on EMR the master and resources come from spark-submit."""
    builder = SparkSession.builder.appName(app_name)
    for key, value in JOB_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def local_session(cores: int = 2, app_name: str = "local-tests", extra_python_path: Path | None = None) -> SparkSession:
    """A small local session (tests, benchmark): UI off, few shuffle partitions, loopback only."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Workers must run this interpreter (with the pinned fastavro), not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if extra_python_path is not None:
        # Python workers are separate processes: they find the jobs' modules through PYTHONPATH.
        current = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_python_path), current) if p)
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.default.parallelism", str(cores))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.streaming.stateStore.stateSchemaCheck", "true")
    )
    for key, value in JOB_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
