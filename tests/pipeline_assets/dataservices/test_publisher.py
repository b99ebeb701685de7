"""Publishing against the local stub: success, idempotency, failures that leave the current version alone."""

import json

import pytest
from botocore.exceptions import ClientError

from pipeline_assets.dataservices.bundle import Limits, ServiceBundle
from pipeline_assets.dataservices.client import GeaiClient, GeaiError
from pipeline_assets.dataservices.names import DATASET_NAME
from pipeline_assets.dataservices.publisher import PublishError, PublishTimeoutError, Timing, publish_service
from pipeline_assets.dataservices.state import PublishState

FAST = Timing(poll_interval_s=0.01, load_timeout_s=5)


@pytest.fixture
def publish(geai, s3_state, warehouse, tmp_path):
    stub, url = geai
    state = PublishState(s3_state, "release-bucket", "dataservices-state/dev/")
    client = GeaiClient(url, stub.token, backoff_s=0.01, max_attempts=3)

    def run(bundle, *, timing=FAST, work="work"):
        return publish_service(
            bundle,
            assistant_id=stub.assistant_id,
            client=client,
            state=state,
            cursor=warehouse.cursor(),
            work_dir=tmp_path / work,
            timing=timing,
        )

    return run, stub, state


def test_success_uploads_a_versioned_dataset_then_switches_the_revision(publish, customer_health):
    run, stub, state = publish
    result = run(customer_health)

    assert result.outcome == "published"
    [name] = result.files["customer_health"]
    assert DATASET_NAME.match(name) and name.startswith("customer_health_v_")
    assert list(stub.files) == [f"{name}.csv"]
    csv_lines = stub.files[f"{name}.csv"].decode().splitlines()
    assert csv_lines[0] == (
        "account_id,account_name,segment,health_score,health_band,is_at_risk,open_ticket_count,"
        "last_activity_at,snapshot_date"
    )
    assert csv_lines[1:] == [
        "acc_001,Acme Corp,enterprise,82.5,healthy,false,1,2026-11-20T10:15:00,2026-11-27",
        'acc_002,"Globex, Inc.",mid_market,41.0,at_risk,true,7,2026-10-02T08:00:00,2026-11-27',
        "acc_004,Umbrella,enterprise,,unknown,false,0,,2026-11-27",
    ]
    assert "@" not in stub.files[f"{name}.csv"].decode()  # the PII column in the table never left it

    metadata = json.loads(stub.active.value("metadata"))
    assert metadata["da_version"] == "2.0"
    assert list(metadata) == ["da_version", name]
    assert metadata[name]["dataframe name"] == name
    assert stub.active.value("publish_key") == result.publish_key
    assert "health score: A 0-100 score" in stub.active.value("glossary")

    current = state.current("customer_health")
    assert current["publish_key"] == result.publish_key
    size = len(stub.files[f"{name}.csv"])
    assert current["datasets"]["customer_health"] == {"files": [name], "rows": 3, "bytes": size}


def test_the_switch_happens_only_after_the_upload_is_ready(publish, customer_health):
    run, stub, _ = publish
    stub.loading_polls = 3
    run(customer_health)
    order = [(m, p.rsplit("/", 1)[-1]) for m, p in stub.calls]
    extend = order.index(("POST", "extend"))
    switch = order.index(("PUT", stub.assistant_id))
    polls_between = [c for c in order[extend:switch] if c == ("GET", "status")]
    assert len(polls_between) == 4  # three "loading" answers, then "ready", then the switch


def test_republishing_the_same_bundle_and_data_changes_nothing(publish, customer_health):
    run, stub, _ = publish
    first = run(customer_health)
    uploads, revisions = stub.count("POST", "/datasets/extend"), len(stub.revisions)

    again = run(customer_health, work="again")

    assert again.outcome == "unchanged" and again.publish_key == first.publish_key
    assert stub.count("POST", "/datasets/extend") == uploads
    assert len(stub.revisions) == revisions
    assert len(stub.files) == 1


def test_new_data_is_a_new_version_and_the_old_one_is_recorded(publish, customer_health, warehouse):
    run, stub, state = publish
    first = run(customer_health)
    warehouse.execute("update main.customer_health set health_score = 90 where account_id = 'acc_001'")

    second = run(customer_health, work="second")

    assert second.outcome == "published" and second.publish_key != first.publish_key
    assert stub.active.value("publish_key") == second.publish_key
    assert state.current("customer_health")["previous_publish_key"] == first.publish_key


def test_a_lost_marker_is_repaired_from_the_assistant_instead_of_uploading_again(publish, customer_health, s3_state):
    run, stub, state = publish
    first = run(customer_health)
    s3_state.delete_object(Bucket="release-bucket", Key="dataservices-state/dev/customer_health/current.json")

    again = run(customer_health, work="again")

    assert again.outcome == "unchanged"
    assert stub.count("POST", "/datasets/extend") == 1
    assert state.current("customer_health")["repaired"] is True
    assert state.current("customer_health")["publish_key"] == first.publish_key


def test_a_slow_load_times_out_and_the_previous_version_stays_current(publish, customer_health, warehouse):
    run, stub, state = publish
    first = run(customer_health)
    warehouse.execute("delete from main.customer_health where account_id = 'acc_004'")
    stub.stuck_loading = True

    with pytest.raises(PublishTimeoutError, match="still 'loading' after 0s while waiting for a settled"):
        run(customer_health, timing=Timing(poll_interval_s=0.01, load_timeout_s=0.05), work="slow")

    assert stub.active.value("publish_key") == first.publish_key  # users still query the complete version
    assert state.current("customer_health")["publish_key"] == first.publish_key


def test_a_slow_load_after_the_upload_never_switches(publish, customer_health):
    run, stub, state = publish
    stub.loading_polls = 10_000  # the upload starts loading and never finishes within the timeout

    with pytest.raises(PublishTimeoutError, match="while loading the new datasets"):
        run(customer_health, timing=Timing(poll_interval_s=0.01, load_timeout_s=0.2))

    assert stub.count("POST", "/datasets/extend") == 1
    assert stub.count("PUT", stub.assistant_id) == 0
    assert stub.active.value("publish_key") is None
    assert state.current("customer_health") is None


def test_a_failed_load_reports_the_assistant_message(publish, customer_health):
    run, stub, state = publish
    stub.loading_polls = 0
    original = stub._status

    def fail_after_upload():
        if stub.files:
            stub.fail_load = "row 3: cannot parse 'abc' as float"
        return original()

    stub._status = fail_after_upload
    with pytest.raises(PublishError, match="reported 'error' while loading the new datasets: row 3: cannot parse"):
        run(customer_health)
    assert stub.count("PUT", stub.assistant_id) == 0
    assert state.current("customer_health") is None


def test_500_exhaustion_on_upload_leaves_nothing_switched(publish, customer_health, stub_fault):
    run, stub, state = publish
    stub.faults.append(stub_fault("POST", "/datasets/extend", 500, times=99))

    with pytest.raises(GeaiError, match="after 3 attempts: HTTP 500"):
        run(customer_health)

    assert stub.count("POST", "/datasets/extend") == 3
    assert stub.count("PUT", stub.assistant_id) == 0
    assert state.current("customer_health") is None


def test_429_then_success_publishes(publish, customer_health, stub_fault):
    run, stub, _ = publish
    stub.faults.append(stub_fault("PUT", stub.assistant_id, 429, times=2))
    result = run(customer_health)
    assert result.outcome == "published"
    assert stub.count("PUT", stub.assistant_id) == 3
    assert stub.active.value("publish_key") == result.publish_key


def test_a_rejected_token_stops_before_any_upload(publish, customer_health, geai, s3_state, warehouse, tmp_path):
    _, stub, state = publish
    _, url = geai
    with pytest.raises(GeaiError, match=r"HTTP 401: \[6\] ApiToken not found or blocked"):
        publish_service(
            customer_health,
            assistant_id=stub.assistant_id,
            client=GeaiClient(url, "expired", backoff_s=0.01),
            state=state,
            cursor=warehouse.cursor(),
            work_dir=tmp_path,
            timing=FAST,
        )
    assert stub.files == {}


def test_chunking_uploads_every_part_before_switching(publish, customer_health, warehouse):
    run, stub, _ = publish
    warehouse.execute(
        "insert into main.customer_health select 'acc_' || lpad(cast(i as varchar), 4, '0'), repeat('x', 200), "
        "'smb', 50.0, 'watch', false, 0, null, date '2026-11-27', null from range(5, 40) t(i)"
    )
    limited = customer_health.model_copy(
        update={
            "service": customer_health.service.model_copy(
                update={"limits": Limits(max_file_bytes=2048, max_request_bytes=4096)}
            )
        }
    )
    result = run(limited)

    names = result.files["customer_health"]
    assert len(names) > 3 and all(DATASET_NAME.match(n) for n in names)
    assert [n.rsplit("_part_", 1)[1] for n in names][:3] == ["aa", "ab", "ac"]
    assert set(stub.files) == {f"{n}.csv" for n in names}
    assert all(len(body) <= 2048 for body in stub.files.values())
    assert all(body.startswith(b"account_id,account_name,") for body in stub.files.values())
    data_rows = sum(len(body.splitlines()) - 1 for body in stub.files.values())
    assert data_rows == result.rows["customer_health"] == 38
    assert stub.count("POST", "/datasets/extend") >= len(names) // 2  # batched under the 4 KiB request limit
    metadata = json.loads(stub.active.value("metadata"))
    assert set(metadata) == {"da_version", *names}
    assert f"Part 1 of {len(names)} of the customer_health dataset" in metadata[names[0]]["description"]


def test_the_metadata_of_the_version_is_validated_before_anything_is_sent(publish, customer_health):
    run, stub, _ = publish
    broken = ServiceBundle(
        service=customer_health.service,
        metadata={**customer_health.metadata, "customer_health": {"dataframe name": "customer_health"}},
        glossary=customer_health.glossary,
    )
    with pytest.raises(PublishError, match=r"metadata for this version is invalid: .*'description' is a required"):
        run(broken)
    assert stub.files == {}


def test_an_s3_error_after_the_switch_says_the_assistant_serves_the_version_and_the_next_run_records_it(
    publish, customer_health, s3_state
):
    # Found by the fault suite (issue 24): a bare ClientError named neither the object nor what it meant.
    run, _, state = publish

    def refuse(params, **_):
        if params["Key"].endswith("current.json"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    s3_state.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    try:
        with pytest.raises(
            PublishError, match=r"the assistant serves version \w+, but recording it failed .*current\.json"
        ):
            run(customer_health)
    finally:
        s3_state.meta.events.unregister("before-parameter-build.s3.PutObject", refuse)
    again = run(customer_health, work="again")
    assert again.outcome == "unchanged" and state.current("customer_health")["repaired"] is True
