"""The orphan sweep against the local stub: parts of a publish that stopped half-way, and old versions."""

import json

import pytest

from pipeline_assets.dataservices.bundle import Limits
from pipeline_assets.dataservices.client import GeaiClient, GeaiError
from pipeline_assets.dataservices.publisher import Timing, publish_service
from pipeline_assets.dataservices.state import PublishState
from pipeline_assets.dataservices.sweep import orphaned, sweep

FAST = Timing(poll_interval_s=0.01, load_timeout_s=5)
REMOVE_PATH = "v1/assistant/{assistant_id}/datasets/{file_name}"  # the stub's removal route (conftest)


@pytest.fixture
def chunked(customer_health):
    """customer_health cut into several parts, sent in several requests."""
    limits = Limits(max_file_bytes=2048, max_request_bytes=4096)
    return customer_health.model_copy(update={"service": customer_health.service.model_copy(update={"limits": limits})})


@pytest.fixture
def publisher(geai, s3_state, warehouse, tmp_path):
    stub, url = geai
    state = PublishState(s3_state, "release-bucket", "dataservices-state/dev/")
    warehouse.execute(
        "insert into main.customer_health select 'acc_' || lpad(cast(i as varchar), 4, '0'), repeat('x', 200), "
        "'smb', 50.0, 'watch', false, 0, null, date '2026-11-27', null from range(5, 40) t(i)"
    )
    versions = iter(range(100))

    def run(bundle, *, remove_path=REMOVE_PATH, new_data=False):
        if new_data:  # a new day's data: a new version
            warehouse.execute(f"update main.customer_health set open_ticket_count = {next(versions) + 10}")
        client = GeaiClient(url, stub.token, backoff_s=0.01, max_attempts=2, remove_path=remove_path)
        return publish_service(
            bundle,
            assistant_id=stub.assistant_id,
            client=client,
            state=state,
            cursor=warehouse.cursor(),
            work_dir=tmp_path / f"work{next(versions)}",
            timing=FAST,
        )

    return run, stub, state


def active_files(stub):
    return {f"{name}.csv" for name in json.loads(stub.active.value("metadata")) if name != "da_version"}


def test_parts_of_a_publish_that_stopped_half_way_are_swept_by_the_next_one(publisher, chunked, stub_fault):
    run, stub, state = publisher
    first = run(chunked)
    stub.faults.append(stub_fault("POST", "/datasets/extend", 400, times=1, after=1))
    with pytest.raises(GeaiError):
        run(chunked, new_data=True)  # the first request of parts landed, the second was refused
    orphans = set(stub.files) - active_files(stub)
    assert orphans  # parts no revision names

    third = run(chunked, new_data=True)

    assert third.sweep["removed"] == len(orphans) and third.sweep["failed"] == 0
    kept = {f"{n}.csv" for n in third.files["customer_health"]} | {f"{n}.csv" for n in first.files["customer_health"]}
    assert set(stub.files) == kept  # the active version and the one before it, nothing else
    assert state.uploads("customer_health").keys() == {first.publish_key, third.publish_key}


def test_versions_older_than_the_previous_one_are_removed(publisher, customer_health):
    run, stub, _ = publisher
    v1 = run(customer_health)
    v2 = run(customer_health, new_data=True)
    v3 = run(customer_health, new_data=True)
    names = {f"{v.files['customer_health'][0]}.csv" for v in (v2, v3)}
    assert set(stub.files) == names and v3.sweep["removed"] == 1
    assert f"{v1.files['customer_health'][0]}.csv" not in stub.files


def test_without_a_removal_path_the_orphans_are_listed_for_a_person_and_nothing_is_removed(
    publisher, customer_health, s3_state
):
    run, stub, _ = publisher
    run(customer_health, remove_path=None)
    run(customer_health, remove_path=None, new_data=True)
    v3 = run(customer_health, remove_path=None, new_data=True)
    assert v3.sweep == {"orphans": 1, "removed": 0, "failed": 0, "listed_only": True}
    assert len(stub.files) == 3
    listed = json.loads(
        s3_state.get_object(Bucket="release-bucket", Key="dataservices-state/dev/customer_health/orphans.json")[
            "Body"
        ].read()
    )
    assert len(listed["files"]) == 1 and listed["files"][0] in stub.files


def test_the_sweep_never_removes_what_the_active_revision_names(publisher, customer_health, geai):
    run, stub, state = publisher
    v1 = run(customer_health)
    v2 = run(customer_health, new_data=True)
    # Someone switched the assistant back to v1's revision by hand; our records still say v2 is current.
    stub.revisions.append(stub.revisions[1])
    client = GeaiClient(geai[1], stub.token, remove_path=REMOVE_PATH)
    result = sweep(client, state, "customer_health", stub.assistant_id, keep_keys=[v2.publish_key])
    v1_file = f"{v1.files['customer_health'][0]}.csv"
    assert v1_file not in result.orphans and v1_file in stub.files


def test_orphans_are_what_no_kept_version_and_no_active_file_names():
    uploads = {"k1": ["a_v_one", "b_v_one"], "k2": ["a_v_two"], "k3": ["a_v_three"]}
    assert orphaned(uploads, ["k3", "k2"], in_use={"b_v_one.csv"}) == {"k1": ["a_v_one.csv"]}
