"""The ledger writer against moto S3 (Object Lock bucket), fed the recorded event fixtures."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from pipeline_assets.ledger import handler as ledger_handler
from pipeline_assets.ledger.handler import Settings, record_event
from pipeline_assets.ledger.records import EventError
from pipeline_assets.ledger.store import EvidenceStore

EVENTS = Path(__file__).resolve().parents[2] / "fixtures" / "codepipeline_events"
BUCKET = "evidence-bucket"
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def s3(object_lock_bucket):
    return object_lock_bucket(BUCKET)


@pytest.fixture
def store(s3):
    return EvidenceStore(s3, BUCKET, retention_days=2557, clock=lambda: NOW)


P = "ledger/v1/dt=2026-03-02/pipeline/DataPlatformDelivery"
P4 = "ledger/v1/dt=2026-03-04/pipeline/DataPlatformDelivery"
E1 = "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"
PIPELINE_EVENTS = [
    ("pipeline_started", f"{P}/{E1}/execution/STARTED-attempt1.json"),
    ("stage_prod_started", f"{P}/{E1}/stage/Prod/STARTED-attempt1.json"),
    (
        "action_approval_succeeded",
        f"{P}/{E1}/action/Prod/PromoteToProd/SUCCEEDED-attempt1-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a804.json",
    ),
    (
        "action_approval_failed",
        f"{P}/7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c11/action/Prod/PromoteToProd/"
        "FAILED-attempt1-a4b5c6d7-e8f9-4a0b-9c1d-2e3f4a5b6c07.json",
    ),
    (
        "action_deploy_failed",
        f"{P4}/4d5e6f7a-8b9c-4d0e-a1f2-b3c4d5e6f712/action/Prod/ReleaseLane.Deploy/"
        "FAILED-attempt1-2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e13.json",
    ),
    ("pipeline_succeeded", f"{P}/{E1}/execution/SUCCEEDED-attempt1.json"),
    ("pipeline_rollback_started", f"{P4}/8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e19/execution/STARTED-attempt1.json"),
]


def _get(s3, key):
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.mark.parametrize(("fixture", "key"), PIPELINE_EVENTS, ids=[f for f, _ in PIPELINE_EVENTS])
def test_each_codepipeline_event_becomes_one_locked_record(s3, store, fixture, key):
    event = load_event(fixture)

    result = record_event(event, store=store)

    assert result.written and result.key == key
    body = _get(s3, key)
    assert body["event"] == event  # the original event is the evidence, kept verbatim
    assert body["transition"]["state"] == event["detail"]["state"]
    assert body["execution_id"] == event["detail"]["execution-id"]
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == NOW + timedelta(days=2557)


def test_transition_is_normalised_for_the_report(store):
    started = store.get_json(record_event(load_event("pipeline_started"), store=store).key)["transition"]
    assert started["attempt"] == 1 and isinstance(started["attempt"], int)  # EventBridge sends 1.0
    assert started["trigger"]["author_email"] == "alice@example.com"
    assert started["trigger"]["commit_id"] == "9d1e4c7a2b5f8e3d6c9a0b1f2e3d4c5b6a7f8e9d"

    failed = store.get_json(record_event(load_event("action_deploy_failed"), store=store).key)["transition"]
    assert failed["category"] == "Deploy"
    assert failed["execution_result"]["error_code"] == "JobFailed"
    assert "UPDATE_ROLLBACK_COMPLETE" in failed["execution_result"]["summary"]


def test_redelivered_event_is_not_written_again(s3, store):
    event = load_event("action_approval_succeeded")
    first = record_event(event, store=store)

    again = record_event(copy.deepcopy(event), store=store)

    assert first.written and not again.written and again.key == first.key
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=first.key).get("Versions", [])
    assert len(versions) == 1  # not even a second version of the same key


def test_same_transition_emitted_twice_with_new_event_id_is_recorded_once(store):
    event = load_event("stage_prod_started")
    record_event(event, store=store)
    duplicate = copy.deepcopy(event)
    duplicate["id"] = "ffffffff-0000-4000-8000-000000000000"
    duplicate["time"] = "2026-03-02T09:41:19Z"

    assert not record_event(duplicate, store=store).written


def test_retried_stage_and_new_action_run_get_their_own_records(store):
    stage = load_event("stage_prod_started")
    record_event(stage, store=store)
    retried = copy.deepcopy(stage)
    retried["detail"].update(
        {"pipeline-execution-attempt": 2.0, "stage-last-retry-attempt-time": "2026-03-02T11:00:00.123Z"}
    )
    action = load_event("action_approval_succeeded")
    record_event(action, store=store)
    rerun = copy.deepcopy(action)
    rerun["detail"]["action-execution-id"] = "99999999-9c0d-4e1f-a2b3-c4d5e6f7a804"

    assert record_event(retried, store=store).key.endswith("/stage/Prod/STARTED-attempt2-retry20260302110000123.json")
    assert record_event(rerun, store=store).written


def test_records_cannot_be_deleted_or_overwritten(s3, store):
    key = record_event(load_event("pipeline_succeeded"), store=store).key
    version = s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]

    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}", IfNoneMatch="*")


def test_concurrent_delivery_loses_the_conditional_put_and_reports_not_written(s3, store, monkeypatch):
    event = load_event("pipeline_succeeded")
    key = record_event(event, store=store).key
    # The other delivery's head check ran before the first write landed.
    monkeypatch.setattr(store, "exists", lambda _key: False)

    result = record_event(event, store=store)

    assert result.key == key and not result.written
    assert _get(s3, key)["event"] == event


def _stub_list_action_executions(client, *, updated_by):
    stubber = Stubber(client)
    stubber.add_response(
        "list_action_executions",
        {
            "actionExecutionDetails": [
                {
                    "pipelineExecutionId": "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01",
                    "actionExecutionId": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a804",
                    "stageName": "Prod",
                    "actionName": "PromoteToProd",
                    "startTime": datetime(2026, 3, 2, 9, 41, 18, tzinfo=UTC),
                    "lastUpdateTime": datetime(2026, 3, 2, 10, 2, 43, tzinfo=UTC),
                    "updatedBy": updated_by,
                    "status": "Succeeded",
                    "output": {"executionResult": {"externalExecutionSummary": "ok to ship"}},
                }
            ]
        },
        {
            "pipelineName": "DataPlatformDelivery",
            "filter": {"pipelineExecutionId": "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"},
        },
    )
    return stubber


def test_approval_record_is_enriched_with_the_approver(store):
    codepipeline = boto3.client("codepipeline", region_name="eu-west-1")
    approver = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
    with _stub_list_action_executions(codepipeline, updated_by=approver) as stubber:
        key = record_event(load_event("action_approval_succeeded"), store=store, codepipeline=codepipeline).key
        stubber.assert_no_pending_responses()

    enriched = store.get_json(key)["enrichment"]["action_execution"]
    assert enriched["updated_by"] == approver
    assert enriched["summary"] == "ok to ship"
    assert enriched["last_update_time"] == "2026-03-02T10:02:43+00:00"


def test_rollback_execution_is_enriched_with_its_target(store):
    codepipeline = boto3.client("codepipeline", region_name="eu-west-1")
    event = load_event("pipeline_rollback_started")
    stubber = Stubber(codepipeline)
    stubber.add_response(
        "get_pipeline_execution",
        {
            "pipelineExecution": {
                "pipelineName": "DataPlatformDelivery",
                "pipelineExecutionId": event["detail"]["execution-id"],
                "status": "InProgress",
                "executionType": "ROLLBACK",
                "rollbackMetadata": {"rollbackTargetPipelineExecutionId": "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"},
                "trigger": {
                    "triggerType": "AutomatedRollback",
                    "triggerDetail": "4d5e6f7a-8b9c-4d0e-a1f2-b3c4d5e6f712",
                },
                "artifactRevisions": [
                    {"name": "Source", "revisionId": "9d1e4c7a2b5f8e3d6c9a0b1f2e3d4c5b6a7f8e9d", "revisionSummary": "x"}
                ],
            }
        },
        {"pipelineName": "DataPlatformDelivery", "pipelineExecutionId": event["detail"]["execution-id"]},
    )
    with stubber:
        key = record_event(event, store=store, codepipeline=codepipeline).key

    execution = store.get_json(key)["enrichment"]["pipeline_execution"]
    assert execution["execution_type"] == "ROLLBACK"
    assert execution["rollback_target_execution_id"] == "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"
    assert execution["artifact_revisions"][0]["revision_id"].startswith("9d1e4c7a")


def test_enrichment_failure_keeps_the_event_and_says_what_is_missing(store):
    codepipeline = boto3.client("codepipeline", region_name="eu-west-1")
    stubber = Stubber(codepipeline)
    stubber.add_client_error("list_action_executions", service_error_code="ThrottlingException", http_status_code=400)
    with stubber:
        key = record_event(load_event("action_approval_succeeded"), store=store, codepipeline=codepipeline).key

    body = store.get_json(key)
    assert "ThrottlingException" in body["enrichment"]["error"]
    assert body["transition"]["state"] == "SUCCEEDED"


def test_redelivery_does_not_call_codepipeline_again(store):
    codepipeline = boto3.client("codepipeline", region_name="eu-west-1")
    event = load_event("action_approval_succeeded")
    with _stub_list_action_executions(codepipeline, updated_by="arn:aws:iam::111111111111:user/bob"):
        record_event(event, store=store, codepipeline=codepipeline)
    with Stubber(codepipeline):  # no responses queued: any call would raise
        assert not record_event(event, store=store, codepipeline=codepipeline).written


def _gate_report(statuses):
    return {
        "passed": all(s == "passed" for s in statuses.values()),
        "scope": "all",
        "finished_at": "2026-03-02T09:27:40+00:00",
        "duration_s": 95.2,
        "checks": [
            {"name": n, "status": s, "duration_s": 3.5, "summary": "", "report": None, "findings": []}
            for n, s in statuses.items()
        ],
    }


def _upload(s3, key, payload: bytes):
    s3.put_object(Bucket=BUCKET, Key=key, Body=payload)


def test_gate_report_upload_becomes_a_build_evidence_record(s3, store):
    event = load_event("s3_object_created_gate_report")
    incoming = event["detail"]["object"]["key"]
    _upload(s3, incoming, json.dumps(_gate_report({"python-lint": "passed", "dbt-build": "skipped"})).encode())

    result = record_event(event, store=store)

    assert result.written
    assert result.key.startswith(
        "ledger/v1/dt=2026-03-02/build/DataPlatformDelivery/3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01/gate-report-"
    )
    body = _get(s3, result.key)
    assert body["kind"] == "gate-report"
    assert body["summary"]["counts"] == {"passed": 1, "skipped": 1}
    assert body["artifact"]["key"] == incoming and len(body["artifact"]["sha256"]) == 64
    assert not record_event(event, store=store).written  # redelivered notification


def test_a_retried_build_adds_its_report_beside_the_first(s3, store):
    event = load_event("s3_object_created_gate_report")
    incoming = event["detail"]["object"]["key"]
    _upload(s3, incoming, json.dumps(_gate_report({"python-lint": "failed"})).encode())
    first = record_event(event, store=store)
    retry = copy.deepcopy(event)
    retry["detail"]["object"]["key"] = incoming.replace("codebuild-Synth-7f1e2d3c", "codebuild-Synth-8a9b0c1d")
    _upload(s3, retry["detail"]["object"]["key"], json.dumps(_gate_report({"python-lint": "passed"})).encode())

    second = record_event(retry, store=store)

    assert first.written and second.written and first.key != second.key


def test_unreadable_gate_report_is_still_recorded_with_the_parse_error(s3, store):
    event = load_event("s3_object_created_gate_report")
    _upload(s3, event["detail"]["object"]["key"], b'{"checks": "not a list"}')

    body = _get(s3, record_event(event, store=store).key)

    assert "no 'checks' list" in body["parse_error"]


def test_stack_changes_and_approval_api_calls_are_recorded(s3, store):
    status = record_event(load_event("cloudformation_stack_status_change"), store=store)
    drift = record_event(load_event("cloudformation_drift_detected"), store=store)
    api = record_event(load_event("cloudtrail_cloudformation_update_stack"), store=store)
    approval = record_event(load_event("cloudtrail_put_approval_result"), store=store)

    assert status.key.startswith("ledger/v1/dt=2026-03-08/stack/444444444444/Prod-Storage/")
    assert _get(s3, drift.key)["stack_change"]["status"] == "DRIFTED"
    change = _get(s3, api.key)["stack_change"]
    assert change["operation"] == "UpdateStack" and change["principal_arn"].endswith("/dave@example.com")
    assert _get(s3, approval.key)["approval"]["principal_arn"].endswith("DataPlatformReleaseApprovers/bob@example.com")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda e: e.update({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2"}),
            "unsupported event: source='aws.ec2'",
        ),
        (lambda e: e["detail"].pop("execution-id"), "detail.execution-id is missing"),
        (lambda e: e.update({"time": "yesterday"}), "time is not an ISO-8601 timestamp"),
    ],
    ids=["unsupported", "missing-execution-id", "bad-time"],
)  # fmt: skip
def test_bad_events_fail_loudly_with_the_field_and_the_fix(store, mutate, message):
    event = load_event("stage_prod_started")
    mutate(event)
    with pytest.raises(EventError, match=message):
        record_event(event, store=store)


def test_s3_event_outside_incoming_is_rejected(store):
    event = load_event("s3_object_created_gate_report")
    event["detail"]["object"]["key"] = "releases/r-1234/release.json"
    with pytest.raises(EventError, match=r"is not build evidence: expected incoming/<pipeline>/<execution-id>"):
        record_event(event, store=store)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "EVIDENCE_BUCKET is not set"),
        ({"EVIDENCE_BUCKET": "b", "EVIDENCE_RETENTION_DAYS": "seven years"}, "must be a whole number of days"),
        ({"EVIDENCE_BUCKET": "b", "EVIDENCE_RETENTION_DAYS": "0"}, "must be a whole number of days"),
    ],
)  # fmt: skip
def test_settings_name_the_missing_variable(env, message):
    with pytest.raises(RuntimeError, match=message):
        Settings.from_env(env)


def test_kms_key_is_applied_per_record(s3):
    key_id = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
    store = EvidenceStore(s3, BUCKET, retention_days=30, kms_key_id=key_id, clock=lambda: NOW)

    key = record_event(load_event("pipeline_succeeded"), store=store).key

    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_id


def test_lambda_entry_point_reads_its_configuration_from_the_environment(s3, monkeypatch):
    monkeypatch.setenv("EVIDENCE_BUCKET", BUCKET)
    monkeypatch.setenv("EVIDENCE_RETENTION_DAYS", "2557")
    monkeypatch.setenv("LEDGER_ENRICH", "false")
    monkeypatch.setattr(ledger_handler, "_CLIENTS", {"s3": s3})

    out = ledger_handler.handler(load_event("pipeline_started"))

    assert out["written"] is True
    retain = s3.head_object(Bucket=BUCKET, Key=out["key"])["ObjectLockRetainUntilDate"]
    assert retain - datetime.now(UTC) > timedelta(days=2556)
