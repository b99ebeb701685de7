"""The release activator against moto S3 and SSM, driven by CloudFormation-shaped events."""

from __future__ import annotations

import json
import random

import pytest
from botocore.exceptions import ClientError

from pipeline_assets.activator.bench import (
    DAG_BUCKET,
    PARAMETER,
    RELEASE_BUCKET,
    dag_files,
    make_buckets,
    moto_clients,
    put_release,
)
from pipeline_assets.activator.handler import ActivationError, on_event
from tests.fault_injection import Fault, Injector, Step, inject


@pytest.fixture
def aws():
    with moto_clients() as (s3, ssm):
        make_buckets(s3)
        yield s3, ssm


def event(release_id: str, request_type: str = "Update", **extra) -> dict:
    props = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
        "ReleaseBucket": RELEASE_BUCKET,
        "ReleaseId": release_id,
        "DagBucket": DAG_BUCKET,
        "ParameterName": PARAMETER,
        "DagPrefix": "dags/",
        "StateKey": "active-release.json",
        **extra,
    }
    body = {"RequestType": request_type, "ResourceProperties": props}
    if request_type != "Create":
        body["PhysicalResourceId"] = f"release-activation:{DAG_BUCKET}/dags/"
    return body


def dag_folder(s3) -> dict[str, bytes]:
    """The DAG prefix as MWAA would sync it: key -> bytes."""
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=DAG_BUCKET, Prefix="dags/")
            for o in p.get("Contents", [])]  # fmt: skip
    return {key: s3.get_object(Bucket=DAG_BUCKET, Key=key)["Body"].read() for key in keys}


def versions(s3) -> int:
    listing = s3.list_object_versions(Bucket=DAG_BUCKET)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


def active(ssm) -> str:
    return ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]


def state(s3) -> dict:
    return json.loads(s3.get_object(Bucket=DAG_BUCKET, Key="active-release.json")["Body"].read())


@pytest.fixture
def releases(aws):
    s3, _ = aws
    rng = random.Random(3)
    a = dag_files(12, rng, tag="a")
    b = {k: v for k, v in a.items() if not k.endswith("0003.py")}  # B drops a file...
    b["dags/pipelines/file_0000.py"] = b"# changed in B\n"  # ...changes one...
    b["dags/pipelines/only_in_b.py"] = b"# new in B\n"  # ...and adds one.
    b["dbt/dbt_project.yml"] = b"name: not_a_dag\n"  # other parts never reach the DAG folder
    return {"A": (put_release(s3, RELEASE_BUCKET, a), a), "B": (put_release(s3, RELEASE_BUCKET, b), b)}


def expected_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if k.startswith("dags/")}


def test_activate_a_then_b_then_revert_is_byte_identical_to_a(aws, releases):
    s3, ssm = aws
    (release_a, files_a), (release_b, files_b) = releases["A"], releases["B"]

    created = on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    assert created["PhysicalResourceId"] == f"release-activation:{DAG_BUCKET}/dags/"
    assert created["Data"]["Copied"] == "12"
    assert dag_folder(s3) == expected_folder(files_a)

    switched = on_event(event(release_b), None, s3=s3, ssm=ssm)
    assert dag_folder(s3) == expected_folder(files_b)
    assert (switched["Data"]["Copied"], switched["Data"]["Deleted"]) == ("2", "1")
    assert active(ssm) == release_b

    # CloudFormation's rollback sends the old properties back as an Update.
    reverted = on_event(event(release_a), None, s3=s3, ssm=ssm)
    assert dag_folder(s3) == expected_folder(files_a)  # nothing left over, nothing missing
    assert reverted["Data"]["PreviousReleaseId"] == release_b
    assert active(ssm) == release_a
    record = state(s3)
    assert record["release_id"] == release_a and record["previous_release_id"] == release_b
    assert sorted(record["files"]) == sorted(k.removeprefix("dags/") for k in expected_folder(files_a))


def test_reactivating_the_active_release_changes_nothing(aws, releases):
    s3, ssm = aws
    release_a, _ = releases["A"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    before_versions = versions(s3)
    before_parameter = ssm.get_parameter(Name=PARAMETER)["Parameter"]["Version"]

    again = on_event(event(release_a), None, s3=s3, ssm=ssm)

    assert again["Data"]["Changed"] == "false"
    assert versions(s3) == before_versions  # not even the state file was rewritten
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Version"] == before_parameter


def test_a_hand_edited_dag_file_is_restored_by_reactivation(aws, releases):
    s3, ssm = aws
    release_a, files_a = releases["A"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    s3.put_object(Bucket=DAG_BUCKET, Key="dags/sql/file_0002.py", Body=b"# edited in the console\n")
    s3.put_object(Bucket=DAG_BUCKET, Key="dags/stray.py", Body=b"# dropped in by hand\n")

    result = on_event(event(release_a), None, s3=s3, ssm=ssm)

    assert (result["Data"]["Copied"], result["Data"]["Deleted"]) == ("1", "1")
    assert dag_folder(s3) == expected_folder(files_a)


def test_a_missing_release_fails_clearly_and_keeps_the_active_release(aws, releases):
    s3, ssm = aws
    release_a, files_a = releases["A"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    before = versions(s3)

    with pytest.raises(ActivationError) as raised:
        on_event(event("r-0000000000000000"), None, s3=s3, ssm=ssm)

    message = str(raised.value)
    assert "r-0000000000000000 not found" in message
    assert f"s3://{RELEASE_BUCKET}/releases/r-0000000000000000/release.json" in message
    assert f"previously active release ({release_a}) stays in place" in message
    assert dag_folder(s3) == expected_folder(files_a)
    assert versions(s3) == before
    assert active(ssm) == release_a


def fail_nth_copy(s3, n: int) -> list[int]:
    """Make the n-th CopyObject call fail the way S3 does when access is denied mid-run."""
    calls = [0]

    def before_call(**_):
        calls[0] += 1
        if calls[0] == n:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "CopyObject")

    s3.meta.events.register("before-call.s3.CopyObject", before_call)
    return calls


def test_a_failed_copy_fails_the_resource_and_undoes_every_write(aws, releases):
    s3, ssm = aws
    (release_a, files_a), (release_b, _) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    before = versions(s3)
    calls = fail_nth_copy(s3, 2)  # B copies two files: the first lands, the second fails

    with pytest.raises(ActivationError) as raised:
        on_event(
            event(release_b),
            None,
            s3=s3,
            ssm=ssm,
        )

    assert calls[0] == 2
    message = str(raised.value)
    assert f"activating {release_b} failed" in message and "AccessDenied" in message
    assert f"previously active release ({release_a}) stays in place" in message
    assert dag_folder(s3) == expected_folder(files_a)
    assert versions(s3) == before  # the copy that did land was removed again, not overwritten
    assert active(ssm) == release_a
    assert state(s3)["release_id"] == release_a


def test_a_failed_first_activation_leaves_an_empty_folder_and_no_parameter(aws, releases):
    s3, ssm = aws
    release_a, _ = releases["A"]
    fail_nth_copy(s3, 7)

    with pytest.raises(ActivationError, match="previously active release \\(none\\) stays in place"):
        on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)

    assert dag_folder(s3) == {}
    with pytest.raises(ClientError):
        ssm.get_parameter(Name=PARAMETER)


def test_a_corrupted_source_object_is_caught_by_its_checksum(aws, releases):
    s3, ssm = aws
    (release_a, files_a), (release_b, _) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    # Someone overwrote a file inside the immutable prefix after the upload.
    s3.put_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_b}/dags/pipelines/only_in_b.py", Body=b"evil\n")

    with pytest.raises(ActivationError, match=r"do not match release\.json's sha256"):
        on_event(event(release_b), None, s3=s3, ssm=ssm)

    assert dag_folder(s3) == expected_folder(files_a)
    assert active(ssm) == release_a


def test_an_incomplete_release_prefix_is_refused_before_anything_changes(aws, releases):
    s3, ssm = aws
    (release_a, files_a), (release_b, _) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    s3.delete_object(Bucket=RELEASE_BUCKET, Key=f"releases/{release_b}/dags/pipelines/only_in_b.py")

    with pytest.raises(ActivationError, match=r"does not match its release\.json .*missing.*only_in_b\.py"):
        on_event(event(release_b), None, s3=s3, ssm=ssm)

    assert dag_folder(s3) == expected_folder(files_a)


def test_an_unversioned_dag_bucket_is_refused(aws, releases):
    s3, ssm = aws
    release_a, _ = releases["A"]
    s3.create_bucket(Bucket="plain-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    with pytest.raises(ActivationError, match="plain-bucket has versioning off"):
        on_event(event(release_a, "Create", DagBucket="plain-bucket"), None, s3=s3, ssm=ssm)


def test_delete_leaves_the_dag_folder_as_it_is(aws, releases):
    s3, ssm = aws
    release_a, files_a = releases["A"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)

    response = on_event(event(release_a, "Delete"), None, s3=s3, ssm=ssm)

    assert response["PhysicalResourceId"] == f"release-activation:{DAG_BUCKET}/dags/"
    assert dag_folder(s3) == expected_folder(files_a)
    assert active(ssm) == release_a


def test_a_folder_marker_object_is_kept(aws, releases):
    s3, ssm = aws
    release_a, files_a = releases["A"]
    s3.put_object(Bucket=DAG_BUCKET, Key="dags/", Body=b"")

    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)

    assert dag_folder(s3) == {"dags/": b"", **expected_folder(files_a)}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"ReleaseId": ""}, "missing ReleaseId"),
        ({"DagPrefix": "/dags"}, "DagPrefix '/dags' must be a relative folder ending in '/'"),
    ],
)
def test_bad_properties_fail_with_the_property_named(aws, props, message):
    s3, ssm = aws
    with pytest.raises(ActivationError, match=message):
        on_event(event("r-1", "Create", **props), None, s3=s3, ssm=ssm)


def test_unknown_request_type_is_an_error(aws):
    s3, ssm = aws
    with pytest.raises(ActivationError, match="unknown RequestType 'Poke'"):
        on_event(event("r-1", "Poke"), None, s3=s3, ssm=ssm)


def test_a_release_without_dags_is_refused(aws):
    s3, ssm = aws
    release = put_release(s3, RELEASE_BUCKET, {"dbt/dbt_project.yml": b"name: x\n"})
    with pytest.raises(ActivationError, match="has no dags/ files: refusing to empty the DAG folder"):
        on_event(event(release, "Create"), None, s3=s3, ssm=ssm)


def test_the_benchmark_measures_every_step():
    from pipeline_assets.activator.bench import run

    timings = run(file_count=20, changed=4)

    assert timings["activate_a"]["copied"] == 20
    assert (timings["switch_to_b"]["copied"], timings["switch_to_b"]["deleted"]) == (6, 2)
    assert (timings["revert_to_a"]["copied"], timings["revert_to_a"]["deleted"]) == (6, 2)
    assert timings["noop_reactivate_a"]["changed"] is False
    assert all(step["seconds"] > 0 for step in timings.values() if isinstance(step, dict))


# --- faults at single API steps (issue 24: A1, A2, A4, A5, A6) ---------------------------------


def releases_a_and_c(s3, count: int = 30):
    """A (12 files, as in `releases`) and C: `count` files of which none is in A (a big switch)."""
    a = dag_files(12, random.Random(3), tag="a")
    c = dag_files(count, random.Random(5), tag="c")
    c = {k.replace("file_", "c_file_"): v for k, v in c.items()}
    return (put_release(s3, RELEASE_BUCKET, a), a), (put_release(s3, RELEASE_BUCKET, c), c)


def test_a_copy_applied_twice_by_botocore_retries_is_undone_completely(aws, releases):
    # A1: the first CopyObject landed, its answer was lost, botocore copied again; then a later copy fails.
    s3, ssm = aws
    (release_a, files_a), (release_b, _) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    before = versions(s3)

    with (
        inject(Fault("lost", Step("s3", "CopyObject", 1)), {"s3": s3}),
        inject(Fault("error", Step("s3", "CopyObject", 2)), {"s3": s3}),
        pytest.raises(ActivationError, match=f"previously active release \\({release_a}\\) stays in place"),
    ):
        on_event(event(release_b), None, s3=s3, ssm=ssm)

    assert dag_folder(s3) == expected_folder(files_a)
    assert versions(s3) == before  # every version either attempt created is gone
    assert active(ssm) == release_a


def test_a_delete_applied_whose_answer_was_lost_is_undone(aws, releases):
    # A1: DeleteObjects removed B's dropped file, the answer never came back; the folder must not stay "A minus files".
    s3, ssm = aws
    (release_a, files_a), (release_b, _) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)

    with (
        inject(Fault("lost-final", Step("s3", "DeleteObjects", 1)), {"s3": s3}),
        pytest.raises(ActivationError, match="stays in place"),
    ):
        on_event(event(release_b), None, s3=s3, ssm=ssm)

    assert dag_folder(s3) == expected_folder(files_a)
    assert active(ssm) == release_a and state(s3)["release_id"] == release_a


def test_a_parameter_written_whose_answer_was_lost_completes_the_activation(aws, releases):
    # A2: PutParameter landed (it names B), the answer was lost: the folder must be B as well, not A.
    s3, ssm = aws
    (release_a, _), (release_b, files_b) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)

    with inject(Fault("lost-final", Step("ssm", "PutParameter", 1)), {"ssm": ssm}):
        result = on_event(event(release_b), None, s3=s3, ssm=ssm)

    assert result["Data"]["ReleaseId"] == release_b
    assert dag_folder(s3) == expected_folder(files_b)
    assert active(ssm) == release_b and state(s3)["release_id"] == release_b


class LambdaKilled(BaseException):
    """Lambda stops the function at its timeout: nothing after this runs, no except clause sees it."""


class ShrinkingContext:
    """A Lambda context whose remaining time drops by `per_copy` seconds with each CopyObject."""

    def __init__(self, s3, seconds_left: float, per_copy: float) -> None:
        self.seconds_left = seconds_left
        s3.meta.events.register("after-call.s3.CopyObject", self._tick)
        self._per_copy = per_copy

    def _tick(self, **_):
        self.seconds_left -= self._per_copy
        if self.seconds_left <= 0:
            raise LambdaKilled("Task timed out")

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


def test_a_create_that_runs_out_of_time_undoes_itself_before_lambda_stops_it(aws):
    # A4: the provider framework ignores CloudFormation's Delete after a failed Create, so the Create itself
    # must not leave C's files beside A's when Lambda's timeout comes.
    s3, ssm = aws
    (release_a, files_a), (release_c, _) = releases_a_and_c(s3)
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    context = ShrinkingContext(s3, seconds_left=90, per_copy=4)

    with pytest.raises(ActivationError, match="ran out of time"):
        on_event(event(release_c, "Create"), context, s3=s3, ssm=ssm)
    on_event(event(release_c, "Delete"), None, s3=s3, ssm=ssm)  # what CloudFormation sends next

    assert dag_folder(s3) == expected_folder(files_a)
    assert active(ssm) == release_a and state(s3)["release_id"] == release_a
    assert context.seconds_left > 0  # stopped on its own, with time left for the undo


def test_three_slowdowns_on_one_copy_do_not_fail_the_activation(aws, releases, monkeypatch, no_retry_waits):
    # A5: the Lambda builds its own clients; their retry configuration must ride out a burst of SlowDown.
    import boto3

    s3, ssm = aws
    (release_a, _), (release_b, files_b) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)
    made = boto3.client
    injectors = []

    def client(name, *args, **kwargs):
        created = made(name, *args, **kwargs)
        if name == "s3":
            injector = Injector(Fault("throttling", Step("s3", "CopyObject", 1)), created, throttled_answers=3)
            injectors.append(injector.__enter__())
        return created

    monkeypatch.setattr(boto3, "client", client)
    on_event(event(release_b), None)

    assert injectors and injectors[0].fired
    assert dag_folder(s3) == expected_folder(files_b)
    assert active(ssm) == release_b


def test_an_error_in_the_reads_before_any_write_says_the_active_release_stays(aws, releases):
    # A6: nothing was written yet, and the message must say so.
    s3, ssm = aws
    (release_a, files_a), (release_b, _) = releases["A"], releases["B"]
    on_event(event(release_a, "Create"), None, s3=s3, ssm=ssm)

    with (
        inject(Fault("error", Step("s3", "GetBucketVersioning", 1)), {"s3": s3}),
        pytest.raises(ActivationError) as raised,
    ):
        on_event(event(release_b), None, s3=s3, ssm=ssm)

    assert f"previously active release ({release_a}) stays in place" in str(raised.value)
    assert "AccessDenied" in str(raised.value)
    assert dag_folder(s3) == expected_folder(files_a)
