"""DAG-health canary: MWAA InvokeRestApi through a botocore Stubber (moto has no MWAA), S3/SSM/CloudWatch in moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import ANY, Stubber

from pipeline_assets.canaries.canary import dag_health
from pipeline_assets.canaries.canary.core import CanaryError, Deadline, Metrics

DAG_BUCKET = "canary-dag-bucket"  # conftest's
MWAA = "test-airflow"
NS = "DataPlatform/Release"
SPECS = {f"dags/pipelines/{p}.yaml": b"id: x\n" for p in ("crm_accounts", "product_catalog", "operations_events")}
SPECS["dags/crm_accounts.py"] = b"# dag file\n"
SPECS["dags/pipelines/README.md"] = b"not a spec\n"


def iso(moment: datetime) -> str:
    # The Airflow REST API's datetime format (marshmallow's isoformat with offset).
    return moment.astimezone(UTC).isoformat()


def dag(dag_id: str, parsed: datetime | None) -> dict:
    return {
        "dag_id": dag_id,
        "is_active": True,
        "is_paused": False,
        "fileloc": f"/usr/local/airflow/dags/{dag_id}.py",
        "last_parsed_time": iso(parsed) if parsed else None,
        "has_import_errors": False,
    }


def run(dag_id: str, state: str, ended: datetime, run_type: str = "scheduled") -> dict:
    return {
        "dag_id": dag_id,
        "dag_run_id": f"{run_type}__{iso(ended)}",
        "run_type": run_type,
        "state": state,
        "end_date": iso(ended),
    }


@pytest.fixture
def mwaa(aws, monkeypatch):
    monkeypatch.setenv("MWAA_ENVIRONMENT_NAME", MWAA)
    client = boto3.client("mwaa", region_name="eu-west-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def queue(stub: Stubber, path: str, key: str, items: list, *, page: int = 100, query: dict | None = None) -> None:
    pages = [items[i : i + page] for i in range(0, len(items), page)] or [[]]
    for number, chunk in enumerate(pages):
        stub.add_response(
            "invoke_rest_api",
            {"RestApiStatusCode": 200, "RestApiResponse": {key: chunk, "total_entries": len(items)}},
            {
                "Name": MWAA,
                "Path": path,
                "Method": "GET",
                "QueryParameters": {**(query or {}), "limit": 100, "offset": number * 100},
            },
        )


def api(stub: Stubber, *, errors=(), dags=(), runs=()) -> None:
    queue(stub, "/importErrors", "import_errors", list(errors))
    queue(stub, "/dags", "dags", list(dags))
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"dag_runs": list(runs), "total_entries": len(runs)}},
        {"Name": MWAA, "Path": "/dags/~/dagRuns", "Method": "GET", "QueryParameters": ANY},
    )


def activated(releases) -> datetime:
    releases.publish("r-aaaaaaaaaaaaaaaa", SPECS)
    releases.activate_dags("r-aaaaaaaaaaaaaaaa")
    return releases.ssm.get_parameter(Name=releases.parameter)["Parameter"]["LastModifiedDate"].astimezone(UTC)


def invoke(aws, mwaa_client, now: datetime, context=None):
    return dag_health.handler(
        {"time": iso(now)}, context, mwaa=mwaa_client, ssm=aws["ssm"], s3=aws["s3"], cloudwatch=aws["cloudwatch"]
    )


def test_a_parsed_release_is_healthy_and_scheduled_runs_are_counted_once(aws, releases, mwaa, read_metric):
    client, stub = mwaa
    at = activated(releases)
    now = at + timedelta(minutes=20)
    window_end = datetime.fromtimestamp(int(now.timestamp()) // 300 * 300, UTC)
    parsed = at + timedelta(seconds=40)
    api(
        stub,
        dags=[
            dag("crm_accounts", parsed),
            dag("product_catalog", parsed),
            dag("operations_events", parsed),
            dag("adhoc", None),
        ],
        runs=[
            run("crm_accounts", "success", window_end - timedelta(minutes=1)),
            run("product_catalog", "failed", window_end - timedelta(minutes=4)),
            run("crm_accounts", "failed", window_end - timedelta(minutes=2), run_type="manual"),  # not scheduled
            run("operations_events", "success", window_end),  # on the boundary: the next window's
        ],
    )

    summary = invoke(aws, client, now)

    assert summary["healthy"] is True
    assert summary["scheduled_runs"] == {
        "succeeded": 1,
        "failed": 1,
        "window_start": iso(window_end - timedelta(minutes=5)).replace("+00:00", "Z"),
    }
    assert read_metric(NS, "DagHealthFailures") == 0
    assert read_metric(NS, "ExpectedDags") == 3  # README.md and the .py file are not specs
    assert read_metric(NS, "ScheduledRunsSucceeded", "Sum") == 1
    assert read_metric(NS, "ScheduledRunsFailed", "Sum") == 1
    assert read_metric(NS, "CanaryError", Canary="dag-health") == 0
    assert read_metric(NS, "CanaryRun", Canary="dag-health") == 1


def test_import_errors_missing_and_unparsed_dags_are_failures_after_the_grace_period(aws, releases, mwaa, read_metric):
    client, stub = mwaa
    at = activated(releases)
    before = at - timedelta(minutes=3)  # parsed, but from the previous release's files
    api(
        stub,
        errors=[
            {
                "import_error_id": 1,
                "filename": "/usr/local/airflow/dags/product_catalog.py",
                "stack_trace": "Traceback\nImportError: boom",
                "timestamp": iso(at),
            }
        ],
        dags=[dag("crm_accounts", before), dag("operations_events", at + timedelta(seconds=30))],
    )

    summary = invoke(aws, client, at + timedelta(minutes=11))

    assert summary["healthy"] is False
    assert summary["missing"] == ["product_catalog"]
    assert summary["stale"] == ["crm_accounts"]
    assert read_metric(NS, "ImportErrors") == 1
    assert read_metric(NS, "MissingDags") == 1
    assert read_metric(NS, "StaleDags") == 1
    assert read_metric(NS, "DagHealthFailures") == 3


def test_within_the_grace_period_an_unparsed_dag_is_pending_not_failed(aws, releases, mwaa, read_metric):
    client, stub = mwaa
    at = activated(releases)
    before = at - timedelta(minutes=3)
    api(stub, dags=[dag(d, before) for d in ("crm_accounts", "product_catalog", "operations_events")])

    summary = invoke(aws, client, at + timedelta(minutes=2))

    assert summary["pending"] == ["crm_accounts", "operations_events", "product_catalog"]
    assert read_metric(NS, "DagsPendingParse") == 3
    assert read_metric(NS, "DagHealthFailures") == 0


def test_more_dags_than_one_page_are_read_page_by_page(aws, releases, mwaa, read_metric):
    client, stub = mwaa
    at = activated(releases)
    others = [dag(f"hand_written_{i:03d}", at + timedelta(minutes=1)) for i in range(150)]
    api(
        stub,
        dags=[
            *others,
            *(dag(d, at + timedelta(minutes=1)) for d in ("crm_accounts", "product_catalog", "operations_events")),
        ],
    )

    summary = invoke(aws, client, at + timedelta(minutes=15))

    assert summary["healthy"] is True and summary["missing"] == []


def test_an_airflow_api_error_is_a_published_failure_never_a_pass(aws, releases, mwaa, read_metric):
    client, stub = mwaa
    activated(releases)
    stub.add_client_error(
        "invoke_rest_api",
        service_error_code="RestApiServerException",
        service_message="webserver unavailable",
        http_status_code=500,
        response_meta={},
        modeled_fields={"RestApiStatusCode": 503, "RestApiResponse": {"detail": "webserver unavailable"}},
    )

    with pytest.raises(CanaryError, match="HTTP 503"):
        invoke(aws, client, datetime.now(UTC))

    assert read_metric(NS, "CanaryError", Canary="dag-health", Reason="AirflowApiError") == 1
    assert read_metric(NS, "CanaryError", Canary="dag-health") == 1
    assert read_metric(NS, "DagHealthFailures") is None  # nothing half-measured was published


def test_a_timeout_is_published_as_timeout(aws, releases, monkeypatch, read_metric):
    monkeypatch.setenv("MWAA_ENVIRONMENT_NAME", MWAA)
    activated(releases)

    class HungMwaa:
        def invoke_rest_api(self, **_):
            raise ReadTimeoutError(endpoint_url="https://airflow.eu-west-1.amazonaws.com/restapi/test-airflow")

    with pytest.raises(ReadTimeoutError):
        invoke(aws, HungMwaa(), datetime.now(UTC))
    assert read_metric(NS, "CanaryError", Canary="dag-health", Reason="Timeout") == 1


def test_running_out_of_lambda_time_stops_with_a_timeout_failure(aws, releases, mwaa, context, read_metric):
    client, _ = mwaa
    activated(releases)
    with pytest.raises(CanaryError, match="ran out of time"):
        invoke(aws, client, datetime.now(UTC), context(seconds_left=5))
    assert read_metric(NS, "CanaryError", Canary="dag-health", Reason="Timeout") == 1


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-parameter", "does not exist: no release is active"),
        ("no-release-json", "never uploaded"),
    ],
)
def test_missing_release_data_is_a_failure(aws, releases, mwaa, read_metric, setup, message):
    client, _ = mwaa
    if setup == "no-release-json":
        releases.activate("r-bbbbbbbbbbbbbbbb")
    with pytest.raises(CanaryError, match=message):
        invoke(aws, client, datetime.now(UTC))
    assert read_metric(NS, "CanaryError", Canary="dag-health", Reason="MissingData") == 1


def test_a_malformed_api_body_is_a_failure(aws, releases, mwaa, read_metric):
    client, stub = mwaa
    activated(releases)
    stub.add_response(
        "invoke_rest_api",
        {"RestApiStatusCode": 200, "RestApiResponse": {"unexpected": []}},
        {"Name": MWAA, "Path": "/importErrors", "Method": "GET", "QueryParameters": {"limit": 100, "offset": 0}},
    )
    with pytest.raises(CanaryError, match="expected 'import_errors'"):
        invoke(aws, client, datetime.now(UTC))
    assert read_metric(NS, "CanaryError", Canary="dag-health", Reason="MalformedResponse") == 1


def test_a_dag_folder_holding_files_of_two_releases_is_named_and_fails(aws, releases, mwaa, read_metric):
    # Issue 24: an activation cut short by the Lambda timeout leaves a mixed folder until CloudFormation acts.
    client, stub = mwaa
    at = activated(releases)
    parsed = at + timedelta(seconds=40)
    api(stub, dags=[dag(d, parsed) for d in ("crm_accounts", "product_catalog", "operations_events")])
    s3 = aws["s3"]
    s3.put_object(Bucket=DAG_BUCKET, Key="dags/pipelines/from_b.py", Body=b"# a file of the next release\n")
    s3.put_object(Bucket=DAG_BUCKET, Key="dags/crm_accounts.py", Body=b"# B's version\n")
    s3.delete_object(Bucket=DAG_BUCKET, Key="dags/pipelines/product_catalog.yaml")

    summary = invoke(aws, client, at + timedelta(minutes=20))

    assert summary["healthy"] is False
    assert summary["mixed_folder"] == {
        "not_in_release": ["pipelines/from_b.py"],
        "missing": ["pipelines/product_catalog.yaml"],
        "changed": ["crm_accounts.py"],
    }
    assert read_metric(NS, "MixedDagFolder") == 1
    assert read_metric(NS, "DagHealthFailures") == 1


def test_a_folder_the_parameter_does_not_match_is_mixed_too(aws, releases, mwaa, read_metric):
    # The folder and its state file say A, the parameter names B (a PutParameter nobody saw land).
    client, stub = mwaa
    at = activated(releases)
    releases.publish("r-bbbbbbbbbbbbbbbb", SPECS)
    releases.activate("r-bbbbbbbbbbbbbbbb")
    api(stub, dags=[dag(d, at + timedelta(hours=1)) for d in ("crm_accounts", "product_catalog", "operations_events")])

    summary = invoke(aws, client, at + timedelta(minutes=20))

    assert summary["mixed_folder"] == {"recorded_release": "r-aaaaaaaaaaaaaaaa"}
    assert read_metric(NS, "MixedDagFolder") == 1


def test_an_activation_in_progress_is_not_a_mixed_folder_when_it_finishes_before_the_second_look(
    aws, releases, mwaa, monkeypatch
):
    client, stub = mwaa
    at = activated(releases)
    api(
        stub, dags=[dag(d, at + timedelta(minutes=1)) for d in ("crm_accounts", "product_catalog", "operations_events")]
    )
    aws["s3"].put_object(Bucket=DAG_BUCKET, Key="dags/pipelines/from_b.py", Body=b"# being copied\n")
    monkeypatch.setenv("MIXED_RECHECK_SECONDS", "30")
    looks = []

    def sleep(seconds):  # the activation finishes while the canary waits
        looks.append(seconds)
        aws["s3"].delete_object(Bucket=DAG_BUCKET, Key="dags/pipelines/from_b.py")

    metrics = Metrics(aws["cloudwatch"], "test")
    summary = dag_health.check(
        dag_health.Settings.from_env(),
        mwaa=client,
        ssm=aws["ssm"],
        s3=aws["s3"],
        metrics=metrics,
        deadline=Deadline(budget_s=120),
        now=at + timedelta(minutes=20),
        sleep=sleep,
    )

    assert looks == [30] and summary["mixed_folder"] == {} and summary["healthy"] is True
