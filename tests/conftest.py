import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.config import default_user_config

ROOT = Path(__file__).resolve().parent.parent

# Tests never reach AWS: moto or stubs only, and no credentials to leak even if a client escapes.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# Every mock_aws() start drops boto3's default session by default, so the next boto3.client() builds a
# new one and re-reads the service models from disk: 0.1-0.4 s per client, paid by hundreds of tests.
# moto does that so a mocked test's fake credentials cannot leak into a later test that talks to real
# AWS. Only the external tests may (when EXTERNAL_* points at staging), and they get a fresh session below.
default_user_config["core"]["reset_boto3_session"] = False


@pytest.fixture(autouse=True)
def _fresh_boto3_session_for_external_tests(request):
    if request.node.get_closest_marker("external") is None:
        yield
        return
    saved, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = saved


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# Test data is tiny: compiling generated code and re-planning adaptively cost more than they save.
TINY_DATA_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false"}


@pytest.fixture(scope="session")
def spark(repo_root):
    """One local[2] session for every test that needs Spark: starting the JVM is the expensive part (~4 s).

    pyspark is imported here, not at the top, so runs without a Spark test do not pay for it.
    """
    from pipeline_assets.spark.common.session import local_session

    session = local_session(cores=2, app_name="tests", extra_python_path=repo_root)
    session.sparkContext.setLogLevel("ERROR")
    for key, value in TINY_DATA_CONF.items():
        session.conf.set(key, value)
    yield session
    session.stop()


@pytest.fixture
def object_lock_bucket(monkeypatch) -> Iterator[Callable[[str], Any]]:
    """Inside moto: `object_lock_bucket(name)` creates an Object Lock bucket, as the evidence ledger's, and
    returns the S3 client. Fake credentials are set for the test so no client can reach AWS."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")

        def create(bucket: str) -> Any:
            client.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
                ObjectLockEnabledForBucket=True,
            )
            return client

        yield create


@pytest.fixture
def fault_tally(request):
    """`fault_tally("activator")` -> a Tally of faults tried and invariants held, reported with the test."""
    from tests.fault_injection import Tally

    tallies: list[Tally] = []

    def make(path: str) -> Tally:
        tallies.append(Tally(path))
        return tallies[-1]

    yield make
    for tally in tallies:
        tally.report(request.node)


@pytest.fixture
def no_retry_waits(monkeypatch):
    """botocore retries as configured, without sleeping between attempts (the backoff is not under test)."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def pytest_terminal_summary(terminalreporter):
    """The fault-injection suite's totals: how many faults were tried, how many invariant checks held."""
    paths: dict[str, list[int]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "teardown":
                continue
            for name, counts in getattr(report, "user_properties", []):
                if name == "fault_injection":
                    totals = paths.setdefault(counts["path"], [0, 0, 0])
                    for index, key in enumerate(("faults", "checks", "held")):
                        totals[index] += counts[key]
    if not paths:
        return
    faults, checks, held = (sum(t[i] for t in paths.values()) for i in range(3))
    terminalreporter.section("fault injection")
    for path, (tried, checked, kept) in sorted(paths.items()):
        terminalreporter.write_line(
            f"{path:<22} {tried:>4} faults tried, {kept:>5} of {checked:>5} invariant checks held"
        )
    terminalreporter.write_line(
        f"{'total':<22} {faults:>4} faults tried, {held:>5} of {checks:>5} invariant checks held"
    )


@pytest.fixture
def dbt_project_repo(tmp_path) -> Path:
    """A git repository holding a copy of dbt_project/ committed on main: a merge base for the data diff."""
    import shutil
    import subprocess

    shutil.copytree(ROOT / "dbt_project", tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "dbt_project"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "base"], cwd=tmp_path, check=True)
    return tmp_path


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """One real Apache Kafka broker (KRaft) on 127.0.0.1 for the whole run, stopped at its end.

    Its jars come from cicd/engines/kafka-broker.jars.lock.json (sha256-checked, cached by the lock's hash;
    Maven fetches them on a machine that has none yet). Each test makes its own topics.
    """
    from cicd.engines.kafka import kafka_broker as start_broker

    with start_broker(workdir=tmp_path_factory.mktemp("kafka-broker")) as broker:
        yield broker
