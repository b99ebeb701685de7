"""moto in server mode on 127.0.0.1: the AWS APIs over real HTTP, for every process of a test or the rehearsal.

Processes other than this one (spark-submit, Airflow tasks, the CLI) reach it through AWS_ENDPOINT_URL, which
botocore honours for every service; `environment()` gives the variables with placeholder credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REGION = "eu-west-1"
PLACEHOLDER = "testing"  # moto accepts any key; these can never reach AWS


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    region: str = REGION

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=PLACEHOLDER,
            aws_secret_access_key=PLACEHOLDER,
        )

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": PLACEHOLDER,
            "AWS_SECRET_ACCESS_KEY": PLACEHOLDER,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def emr_serverless_backend(self) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.emrserverless.models import emrserverless_backends

        return emrserverless_backends[DEFAULT_ACCOUNT_ID][self.region]

    @property
    def account_id(self) -> str:
        from moto.core import DEFAULT_ACCOUNT_ID

        return str(DEFAULT_ACCOUNT_ID)

    def create_bucket(self, name: str, *, versioned: bool = False) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    def create_emr_application(self, name: str) -> str:
        emr = self.client("emr-serverless")
        application = str(emr.create_application(name=name, releaseLabel="emr-7.9.0", type="SPARK")["applicationId"])
        # moto answers ListJobRuns of an application without runs with "does not exist"; AWS answers [].
        self.emr_serverless_backend().job_runs[application] = []
        return application


@contextmanager
def moto_server(region: str = REGION) -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO (verbose=False only drops moto's start-up line): thousands of lines
    # per minute of Spark's S3A traffic. Warnings and errors still show.
    requests_log = logging.getLogger("werkzeug")
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield MotoServer(f"http://{host}:{port}", region)
    finally:
        server.stop()
        requests_log.setLevel(level)
