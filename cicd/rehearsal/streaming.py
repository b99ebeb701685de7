"""The streaming plane on real engines: the Kafka broker, moto's AWS APIs and local Spark behind EMR Serverless.

`streaming_stage()` sets up what the platform stacks create in AWS (release, raw and checkpoint buckets, the
streaming application, the MSK bootstrap secret, the staged Spark jars) on moto server, with the broker's
topic and the local job runner attached. Releases are published into it as the release lane uploads them
(`releases/<id>/spark/...`), and `Controller`s from pipeline_assets/streaming_control drive the job through
the EMR Serverless API exactly as the supervisor DAG and the CLI do.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cicd.engines.emr_serverless import LocalJobRuns, LocalSpark
from cicd.engines.jars import ROOT, SPARK_S3A_LOCK, locked_jars
from cicd.engines.kafka import KafkaBroker, kafka_broker
from cicd.engines.moto_server import MotoServer, moto_server
from cicd.packages.locks import JAR_LOCK, load_jars
from cicd.rehearsal.stream import TOPIC
from cicd.rollback.drill import RELEASE_BUCKET
from pipeline_assets.streaming_control import Controller, Timing

JOB = "operations_events_stream"
PIPELINE = "operations_events"
APPLICATION = "streaming"
RAW_BUCKET = "rehearsal-raw"
CHECKPOINT_BUCKET = "rehearsal-checkpoints"
JARS_PREFIX = "packages/jars/"
# The secret every environment's job reads (config/*.yaml streaming.bootstrap_servers_secret_name).
BOOTSTRAP_SECRET = "data-platform/msk/bootstrap-servers"  # noqa: S105 (a secret's name)
ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
# The local broker has no MSK IAM authentication, and a 30 s trigger would make every bake minutes long.
LOCAL_ARGUMENTS: tuple[tuple[str, str | None], ...] = (("--no-msk-iam", None), ("--trigger-seconds", "3"))


@dataclass
class StreamingStage:
    aws: MotoServer
    broker: KafkaBroker
    runs: LocalJobRuns
    application_id: str
    role_arn: str

    @property
    def output_uri(self) -> str:
        return f"s3://{RAW_BUCKET}/landing/{PIPELINE}/"

    @property
    def checkpoint_uri(self) -> str:
        return f"s3://{CHECKPOINT_BUCKET}/{JOB}/"

    def s3(self) -> Any:
        return self.aws.client("s3")

    def publish_spark(self, release_id: str, files: dict[str, bytes]) -> None:
        """A release's spark/ part (paths relative to spark/), where the release lane's bundle upload puts it."""
        s3 = self.s3()
        for name, data in files.items():
            s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_id}/spark/{name}", Body=data)

    def job_driver(self, release_id: str) -> dict[str, Any]:
        """What the DAG factory renders for the streaming job (dags/platform_dags/factory.py), for this stage."""
        prefix = f"s3://{RELEASE_BUCKET}/releases/{release_id}"
        jars = ",".join(f"s3://{RELEASE_BUCKET}/{JARS_PREFIX}{jar.file}" for jar in load_jars(ROOT, JAR_LOCK))
        conf = {
            "spark.submit.pyFiles": f"{prefix}/spark/{JOB}/deps.zip",
            "spark.jars": jars,
            "spark.sql.streaming.stateStore.providerClass": ROCKSDB,
        }
        return {
            "sparkSubmit": {
                "entryPoint": f"{prefix}/spark/{JOB}/main.py",
                "entryPointArguments": [
                    *("--pipeline-id", PIPELINE, "--topic", TOPIC, "--output", self.output_uri),
                    *("--checkpoint", self.checkpoint_uri, "--release-id", release_id),
                ],
                "sparkSubmitParameters": " ".join(f"--conf {key}={value}" for key, value in conf.items()),
            }
        }

    def tags(self, release_id: str) -> dict[str, str]:
        return {"pipeline": PIPELINE, "release_id": release_id}

    def controller(self, timing: Timing, log: Any = None) -> Controller:
        options = {"log": log} if log is not None else {}
        return Controller(
            self.aws.client("emr-serverless"), self.s3(), self.application_id, JOB, timing=timing, **options
        )

    def start(self, release_id: str, timing: Timing) -> str:
        """The supervisor's first start of the job (start_fresh), from an empty checkpoint."""
        outcome = self.controller(timing).start_fresh(
            job_driver=self.job_driver(release_id),
            tags=self.tags(release_id),
            role=self.role_arn,
            release_bucket=RELEASE_BUCKET,
            release_id=release_id,
        )
        return str(outcome.job_run_id)


def stage_spark_jars(aws: MotoServer) -> None:
    """The platform stack's JarUpload: the locked Spark jars at s3://<release bucket>/packages/jars/."""
    s3 = aws.client("s3")
    for path in locked_jars(ROOT, JAR_LOCK):
        s3.put_object(Bucket=RELEASE_BUCKET, Key=f"{JARS_PREFIX}{path.name}", Body=path.read_bytes())


@contextmanager
def streaming_stage(
    *, broker: KafkaBroker | None = None, aws: MotoServer | None = None, workdir: Path | None = None, log: Any = None
) -> Iterator[StreamingStage]:
    with ExitStack() as stack:
        if aws is None:
            aws = stack.enter_context(moto_server())
        if broker is None:
            broker = stack.enter_context(kafka_broker())
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="streaming-stage-")))
        for bucket in (RELEASE_BUCKET, RAW_BUCKET, CHECKPOINT_BUCKET):
            aws.create_bucket(bucket)
        application = aws.create_emr_application(APPLICATION)
        aws.client("secretsmanager").create_secret(Name=BOOTSTRAP_SECRET, SecretString=broker.bootstrap)
        stage_spark_jars(aws)
        broker.create_topic(TOPIC, partitions=3)
        stack.callback(broker.delete_topic, TOPIC)  # a shared broker starts the next stage on an empty topic
        spark = LocalSpark(
            s3_endpoint=aws.endpoint,
            s3a_jars=tuple(locked_jars(ROOT, SPARK_S3A_LOCK)),
            region=aws.region,
            argument_overrides=LOCAL_ARGUMENTS,
        )
        runs = LocalJobRuns(aws.emr_serverless_backend(), aws.client("s3"), spark, folder / "runs")
        if log is not None:
            runs.log = log
        runs.attach()
        stack.callback(runs.detach)
        stack.callback(runs.stop_all)
        role = f"arn:aws:iam::{aws.account_id}:role/emr-job-role"
        yield StreamingStage(aws, broker, runs, application, role)


# --- release variants for tests: the repository's spark part, changed the way a release changes it ---------


def spark_part(root: Path = ROOT) -> dict[str, bytes]:
    from cicd.release.parts.spark import spark

    return dict(spark(root))


def with_job_change(files: dict[str, bytes], marker: str) -> dict[str, bytes]:
    """The same job with one more module in deps.zip: new bytes, same query (a compatible code change)."""
    from cicd.release.parts.spark import deterministic_zip

    with zipfile.ZipFile(io.BytesIO(files[f"{JOB}/deps.zip"])) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries[f"pipeline_assets/spark/{JOB}/release_marker.py"] = f"MARKER = {marker!r}\n".encode()
    return _reseal({**files, f"{JOB}/deps.zip": deterministic_zip(entries)})


def with_query(files: dict[str, bytes], query: dict[str, Any]) -> dict[str, bytes]:
    """The same job declaring another query shape (e.g. a new dedup key): what a redeploy must refuse."""
    return _reseal({**files, f"{JOB}/query.json": (json.dumps(query, indent=2) + "\n").encode()})


def _reseal(files: dict[str, bytes]) -> dict[str, bytes]:
    manifest = json.loads(files["manifest.json"])
    for name in manifest["jobs"][JOB]["sha256"]:
        manifest["jobs"][JOB]["sha256"][name] = hashlib.sha256(files[f"{JOB}/{name}"]).hexdigest()
    return {**files, "manifest.json": (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()}
