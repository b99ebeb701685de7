"""Fault injection on the release activator: at every API step of a switch between releases A and B.

The activator's clients are built with the Lambda's own configuration (adaptive retries), on moto.
One DAG folder goes back and forth: each fault is injected into a switch from the release the
folder holds to the other one, and the retry that follows is the next switch's starting point.
Invariants after each fault, whatever the activation returned or raised:
  - a failure is an ActivationError (what CloudFormation shows as the reason);
  - the DAG folder is exactly A or exactly B (every key and every byte, by ETag);
  - the SSM parameter and the state file name the release the folder holds;
  - a success leaves the target, a failure the release the folder held before;
  - a retry without the fault converges on the target.
Faults in the undo itself are tried too, behind an error at the last step (PutParameter).
"""

from __future__ import annotations

import hashlib
import json
import random
from contextlib import ExitStack

import boto3
import pytest
from moto import mock_aws

from pipeline_assets.activator.bench import REGION, RELEASE_BUCKET, dag_files, put_release
from pipeline_assets.activator.handler import ActivationError, client_config, on_event
from tests.fault_injection import Fault, Step, faults, inject, pick, record_steps

DAG_BUCKET = "faults-dag-bucket"
PARAMETER = "/data-platform/faults/active-release"
OTHER = {"A": "B", "B": "A"}


class Folder:
    """The DAG bucket, a parameter, and releases A and B; `holds` is which release the folder is now."""

    def __init__(self, clients) -> None:
        self.s3, self.ssm = clients["s3"], clients["ssm"]
        for bucket in (RELEASE_BUCKET, DAG_BUCKET):
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.s3.put_bucket_versioning(Bucket=DAG_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        a = dag_files(4, random.Random(11), tag="a")
        b = {k: v for k, v in a.items() if not k.endswith("0003.py")}  # B drops a file, changes one, adds one
        b["dags/pipelines/file_0000.py"] = b"# changed in B\n"
        b["dags/pipelines/only_in_b.py"] = b"# new in B\n"
        self.ids = {"A": put_release(self.s3, RELEASE_BUCKET, a), "B": put_release(self.s3, RELEASE_BUCKET, b)}
        # S3's ETag of a single-part object is the MD5 of its bytes.
        self.etags = {n: {k: hashlib.md5(v).hexdigest() for k, v in f.items()} for n, f in (("A", a), ("B", b))}

    def activate(self, name: str, clients: dict) -> dict:
        props = {
            "ReleaseBucket": RELEASE_BUCKET,
            "ReleaseId": self.ids[name],
            "DagBucket": DAG_BUCKET,
            "ParameterName": PARAMETER,
            "DagPrefix": "dags/",
            "StateKey": "active-release.json",
        }
        event = {"RequestType": "Update", "ResourceProperties": props, "PhysicalResourceId": "release-activation"}
        return on_event(event, None, s3=clients["s3"], ssm=clients["ssm"])

    def holds(self) -> str | None:
        """Which release the folder is exactly (keys and bytes), or None when it is neither."""
        listed = self.s3.list_objects_v2(Bucket=DAG_BUCKET, Prefix="dags/").get("Contents", [])
        folder = {o["Key"]: o["ETag"].strip('"') for o in listed}
        return next((name for name, etags in self.etags.items() if folder == etags), None)

    def recorded(self) -> set[str | None]:
        """The releases the state file and the parameter name (one name when they agree)."""
        state = json.loads(self.s3.get_object(Bucket=DAG_BUCKET, Key="active-release.json")["Body"].read())
        parameter = self.ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]
        by_id = {release_id: name for name, release_id in self.ids.items()}
        return {by_id.get(state["release_id"]), by_id.get(parameter)}


@pytest.fixture(scope="module")
def moto():
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("s3", "ssm")}


@pytest.fixture(scope="module")
def clients(moto):
    """The activator's clients, as the Lambda builds them (faults are injected into these)."""
    return {name: boto3.client(name, region_name=REGION, config=client_config()) for name in ("s3", "ssm")}


@pytest.fixture
def folder(moto, clients):
    created = Folder(moto)
    created.activate("A", clients)
    yield created
    for name in (RELEASE_BUCKET, DAG_BUCKET):  # the next test starts from empty buckets
        versions = created.s3.list_object_versions(Bucket=name)
        for item in (*versions.get("Versions", []), *versions.get("DeleteMarkers", [])):
            created.s3.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
        created.s3.delete_bucket(Bucket=name)
    created.ssm.delete_parameter(Name=PARAMETER)


def switch_under_fault(folder: Folder, clients, tally, fault: Fault, *also: Fault) -> None:
    """One switch to the other release with the fault (and `also`) in place, then the checks, without them.

    The checks read through the folder's own clients: the activator's clients count only its calls."""
    start = folder.holds()
    target = OTHER[start or "A"]
    tally.fault(fault)
    with ExitStack() as stack:
        injector = stack.enter_context(inject(fault, clients))
        for other in also:
            stack.enter_context(inject(other, clients))
        try:
            folder.activate(target, clients)
            outcome: object = "done"
        except Exception as exc:
            outcome = exc
    tally.check("the fault was reached", injector.fired)
    tally.check(
        "a failure is an ActivationError", outcome == "done" or isinstance(outcome, ActivationError), repr(outcome)
    )
    holds = folder.holds()
    tally.check("the DAG folder is exactly A or exactly B", holds in ("A", "B"), f"holds {holds}")
    tally.check("parameter and state file name the folder's release", folder.recorded() == {holds})
    expected = target if outcome == "done" else start
    tally.check("a success leaves the target, a failure the start", holds == expected, f"{holds}, not {expected}")
    folder.activate(target, clients)
    tally.check("a retry without the fault converges", folder.holds() == target and folder.recorded() == {target})


def test_every_fault_at_every_step_of_a_switch_leaves_a_or_b(folder, clients, fault_tally, no_retry_waits):
    tally = fault_tally("release activator")
    with record_steps(clients) as steps:
        folder.activate("B", clients)
    chosen = pick(steps)
    assert {s.operation for s in chosen} >= {"CopyObject", "DeleteObjects", "PutObject", "PutParameter"}
    for fault in faults(chosen):
        switch_under_fault(folder, clients, tally, fault)
    tally.assert_all_held()


def test_every_fault_in_the_undo_still_restores_the_start(folder, clients, fault_tally, no_retry_waits):
    tally = fault_tally("release activator")
    failing = Fault("error", Step("ssm", "PutParameter", 1))
    with record_steps(clients) as steps, inject(failing, clients), pytest.raises(ActivationError):
        folder.activate("B", clients)
    failed_at = max(i for i, s in enumerate(steps) if s.operation == "PutObject")  # PutParameter comes next
    undo = pick(steps[failed_at + 1 :])
    assert {s.operation for s in undo} >= {"ListObjectVersions", "DeleteObject", "GetParameter"}
    for fault in faults(undo):  # occurrences count from the start of an activation, as the injector's do
        switch_under_fault(folder, clients, tally, fault, failing)
    tally.assert_all_held()
