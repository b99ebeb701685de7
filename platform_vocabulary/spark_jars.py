"""The Maven jars Spark jobs load, by file name: staged in S3, never resolved from Maven at job start.

EMR Serverless runs in private subnets without internet, so `spark.jars.packages` would fail the
job. Each name here is a file of pipeline_assets/spark/jars.lock.json, staged by `make spark-jars`
at s3://<release bucket>/packages/jars/<file>; the gate's `offline-packages` check keeps the two in step.
The DAG factory puts them on spark.jars; the compute stack grants the job role read of JARS_PREFIX.
"""

from __future__ import annotations

JARS_PREFIX = "packages/jars/"

# The Kafka source of Structured Streaming and MSK IAM auth (EMR 7.9: Spark 3.5.5, Scala 2.12; the connector
# is 3.5.3, jars.lock.json says why), with the transitive dependencies `--packages` used to resolve (the EMR
# image ships neither).
KAFKA_STREAMING_JARS = (
    "spark-sql-kafka-0-10_2.12-3.5.3.jar",
    "spark-token-provider-kafka-0-10_2.12-3.5.3.jar",
    "kafka-clients-3.4.1.jar",
    "commons-pool2-2.11.1.jar",
    "aws-msk-iam-auth-2.2.0.jar",
)


def jar_uris(bucket: str, files: tuple[str, ...]) -> str:
    """The value of spark.jars: comma-separated S3 URIs of staged jars."""
    return ",".join(f"s3://{bucket}/{JARS_PREFIX}{file}" for file in files)
