"""The approval guard as CodePipeline runs it: a job event in, a job result out, the decision in the ledger.

S3 and IAM are moto; CodePipeline's job and action-execution APIs and CloudTrail's LookupEvents are
not in moto, so they are botocore Stubbers, which validate every request and response against the
real service models.
"""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from pipeline_assets.approval_guard import handler as guard_handler
from pipeline_assets.approval_guard.handler import GuardError, GuardSettings, run_guard
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.handler import record_event
from pipeline_assets.ledger.store import EvidenceStore

EVENTS = Path(__file__).resolve().parents[2] / "fixtures" / "codepipeline_events"
BUCKET = "evidence-bucket"
NOW = datetime(2026, 3, 2, 10, 3, 0, tzinfo=UTC)
PIPELINE = "DataPlatformDelivery"
EXECUTION = "3c9a7d2e-5b1f-4e8a-9c0d-1a2b3c4d5e01"
JOB = "11111111-abcd-4111-8bcd-111111abcdef"
SSO_ROLE = "AWSReservedSSO_ReleaseApprovers_0a1b"
APPROVERS_ROLE = f"arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/{SSO_ROLE}"
BREAK_GLASS_ROLE = "arn:aws:iam::111111111111:role/DataPlatformBreakGlass"
BOB = f"arn:aws:sts::111111111111:assumed-role/{SSO_ROLE}/bob@example.com"
ALICE_APPROVER = f"arn:aws:sts::111111111111:assumed-role/{SSO_ROLE}/alice@example.com"
ALIASES = {
    "alice@example.com": ["alice@example.com"],
    "bob@example.com": ["bob@example.com"],
    "dan@example.com": ["dan@example.com"],
}
BUILD_ID = "DataPlatformValidate:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
HEAD = "9d1e4c7a2b5f8e3d6c9a0b1f2e3d4c5b6a7f8e9d"  # the commit pipeline_started.json built
MID = "5" * 40
RELEASED = "1" * 40
PREVIOUS = "2b3c4d5e-0000-4000-8000-00000000prev"


def person(name, email):
    return {"name": name, "email": email}


def identities_file(**overrides):
    """change-identities.json of this execution's Validate build: since the last release (tag mode),
    alice's head commit on top of carol's commit committed by dan with erin as co-author."""
    content = {
        "schema": "change-identities/v1",
        "head": HEAD,
        "range": {"mode": "tag", "head": HEAD, "since": RELEASED, "since_ref": "prod-release-1", "window": {},
                  "complete": False, "shallow": False},
        "build": {"pipeline": PIPELINE, "pipeline_execution_id": EXECUTION, "build_id": BUILD_ID, "build_arn": None},
        "commits": [
            {"sha": HEAD, "parents": [MID], "author": person("Alice Moreno", "alice@example.com"),
             "committer": person("Alice Moreno", "alice@example.com"), "co_authors": [], "pull_requests": []},
            {"sha": MID, "parents": [RELEASED], "author": person("Carol Diaz", "carol@example.com"),
             "committer": person("Dan Roe", "dan@example.com"), "co_authors": [person("Erin Park", "erin@example.com")],
             "pull_requests": [{"number": 12, "login": "erin-gh"}]},
        ],
    }  # fmt: skip
    content.update(overrides)
    return content


def load_event(name):
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def aws(object_lock_bucket):
    return object_lock_bucket(BUCKET)


@pytest.fixture
def store(aws):
    return EvidenceStore(aws, BUCKET, retention_days=2557, clock=lambda: NOW)


def upload_identities(aws, store, content, *, folder=BUILD_ID):
    """What the Validate build's `make audit-evidence` does, and the ledger then records."""
    key = layout.incoming_key(
        pipeline=PIPELINE, execution_id=EXECUTION, upload_id=layout.safe(folder), name="change-identities.json"
    )
    aws.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(content).encode())
    upload = load_event("s3_object_created_gate_report")
    upload["detail"]["object"]["key"] = key
    record_event(upload, store=store)


def record_previous_release(store):
    """An earlier execution that deployed RELEASED to Prod successfully."""
    started = load_event("pipeline_started")
    started["detail"].update({"execution-id": PREVIOUS, "start-time": "2026-02-27T09:00:00Z"})
    started["detail"]["execution-trigger"]["commit-id"] = RELEASED
    started["time"] = "2026-02-27T09:00:01Z"
    record_event(started, store=store)
    succeeded = load_event("stage_prod_succeeded")
    succeeded["detail"]["execution-id"] = PREVIOUS
    succeeded["time"] = "2026-02-27T10:00:00Z"
    record_event(succeeded, store=store)


@pytest.fixture
def started(store, aws):
    """The pipeline STARTED record the ledger wrote (its trigger names the commit author, alice), the
    previous production release, and this execution's change-identities evidence."""
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    upload_identities(aws, store, identities_file())


@pytest.fixture
def iam(aws):
    return boto3.client("iam", region_name="us-east-1")


def settings(**overrides):
    values = {
        "bucket": BUCKET,
        "retention_days": 2557,
        "kms_key_id": None,
        "approvers": (APPROVERS_ROLE,),
        "break_glass": (BREAK_GLASS_ROLE,),
        "aliases": ALIASES,
    }
    values.update(overrides)
    return GuardSettings(**values)


class CodePipeline:
    """A stubbed CodePipeline client that also remembers the job result the guard reported."""

    def __init__(self):
        self.client = boto3.client("codepipeline", region_name="eu-west-1")
        self.stubber = Stubber(self.client)
        self.results = []
        self.client.meta.events.register("before-parameter-build.codepipeline", self._remember)

    def _remember(self, params, model, **_):
        if model.name.startswith("PutJob"):
            self.results.append((model.name, params))

    def approval(self, *, updated_by, comment="ok to ship", status="Succeeded"):
        detail = {
            "pipelineExecutionId": EXECUTION,
            "actionExecutionId": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a804",
            "stageName": "Prod",
            "actionName": "PromoteToProd",
            "startTime": datetime(2026, 3, 2, 9, 41, 18, tzinfo=UTC),
            "lastUpdateTime": datetime(2026, 3, 2, 10, 2, 43, tzinfo=UTC),
            "status": status,
            "output": {"executionResult": {"externalExecutionSummary": comment}},
        }
        if updated_by:
            detail["updatedBy"] = updated_by
        deploy = {**detail, "actionName": "ReleaseLane.Deploy", "actionExecutionId": "x", "updatedBy": "other"}
        validate = {
            **detail,
            "stageName": "Build",
            "actionName": "Validate",
            "actionExecutionId": "v",
            "output": {"executionResult": {"externalExecutionId": BUILD_ID}},
        }
        validate.pop("updatedBy", None)
        self.stubber.add_response(
            "list_action_executions",
            {"actionExecutionDetails": [validate, deploy, detail]},
            {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": EXECUTION}},
        )
        return self

    def expect_result(self, success: bool):
        self.stubber.add_response("put_job_success_result" if success else "put_job_failure_result", {})
        return self

    @property
    def result(self):
        assert len(self.results) == 1, self.results
        return self.results[0]


def job_event(**params):
    event = load_event("codepipeline_job_approval_guard")
    configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    merged = {**json.loads(configuration["UserParameters"]), **params}
    configuration["UserParameters"] = json.dumps({k: v for k, v in merged.items() if v is not None})
    return event


def guard(event, codepipeline, store, iam, cloudtrail=None, **overrides):
    with codepipeline.stubber:
        decision = run_guard(
            event,
            codepipeline=codepipeline.client,
            iam=iam,
            cloudtrail=cloudtrail,
            store=store,
            settings=settings(**overrides),
            clock=lambda: NOW,
        )
        codepipeline.stubber.assert_no_pending_responses()
    return decision


def guard_records(store):
    return [store.get_json(k) for k in store.list_keys(f"{layout.partition(NOW)}approval-guard/")]


def test_a_different_approver_passes_and_the_decision_is_recorded(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=True)

    decision = guard(job_event(), codepipeline, store, iam)

    assert decision.allowed
    operation, params = codepipeline.result
    assert operation == "PutJobSuccessResult" and params["jobId"] == JOB
    assert params["outputVariables"]["APPROVER"] == "bob@example.com"
    assert params["outputVariables"]["BREAK_GLASS"] == "false"
    [record] = guard_records(store)
    assert record["decision"] == "allowed"
    assert record["author"] == {
        "email": "alice@example.com",
        "name": "Alice Moreno",
        "commit": "9d1e4c7a2b5f8e3d6c9a0b1f2e3d4c5b6a7f8e9d",
        "source": "pipeline-trigger",
    }
    assert record["approval"]["approver_arn"] == BOB and record["approval"]["comment"] == "ok to ship"


def test_self_approval_fails_the_stage_with_the_reason(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=ALICE_APPROVER).expect_result(success=False)

    decision = guard(job_event(), codepipeline, store, iam)

    assert not decision.allowed
    operation, params = codepipeline.result
    assert operation == "PutJobFailureResult"
    message = params["failureDetails"]["message"]
    assert message.startswith("Approval rejected: alice@example.com approved a change they authored")
    assert "carol@example.com" in message and "erin-gh" in message
    assert "Fix: another member of the approvers group approves the stage." in message
    assert params["failureDetails"]["externalExecutionId"].startswith(f"{layout.partition(NOW)}approval-guard/")
    [record] = guard_records(store)
    assert record["decision"] == "rejected" and "authored" in record["reasons"][0]


def test_approver_outside_the_approvers_role_is_rejected(store, started, iam):
    outsider = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Developers_9f8e/bob@example.com"  # SSO, mapped
    codepipeline = CodePipeline().approval(updated_by=outsider).expect_result(success=False)

    guard(job_event(), codepipeline, store, iam)

    assert "is not in the approvers principal" in codepipeline.result[1]["failureDetails"]["message"]


def test_iam_user_approvers_are_checked_against_the_iam_group(store, started, iam):
    iam.create_group(GroupName="ReleaseApprovers")
    iam.create_user(UserName="bob")
    iam.add_user_to_group(GroupName="ReleaseApprovers", UserName="bob")
    iam.create_user(UserName="mallory")
    group = ("arn:aws:iam::111111111111:group/ReleaseApprovers",)

    member = CodePipeline().approval(updated_by="arn:aws:iam::111111111111:user/bob").expect_result(success=True)
    outsider = CodePipeline().approval(updated_by="arn:aws:iam::111111111111:user/mallory").expect_result(False)

    aliases = {**ALIASES, "bob@example.com": ["bob"], "mallory@example.com": ["mallory"]}
    assert guard(job_event(), member, store, iam, approvers=group, aliases=aliases).allowed
    assert not guard(job_event(), outsider, store, iam, approvers=group, aliases=aliases).allowed


def test_author_from_the_build_evidence_wins_over_the_trigger(store, started, iam, aws):
    upload = load_event("s3_object_created_gate_report")
    key = upload["detail"]["object"]["key"].replace("gate-report.json", "commit.json")
    upload["detail"]["object"]["key"] = key
    commit = {"sha": "9d1e4c7a", "author_email": "bob@example.com", "author_name": "Bob Ito"}
    aws.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(commit).encode())
    record_event(upload, store=store)
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    decision = guard(job_event(), codepipeline, store, iam)

    assert not decision.allowed and "bob@example.com approved a change they authored" in decision.message
    assert guard_records(store)[0]["author"]["source"] == "commit.json"


def test_author_passed_in_user_parameters_is_used_first(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    decision = guard(job_event(commit_author="bob@example.com"), codepipeline, store, iam)

    assert not decision.allowed


def test_no_change_identities_from_the_build_fails_closed(store, iam):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    guard(job_event(commit_author="#{Synth.COMMIT_AUTHOR}"), codepipeline, store, iam)  # unresolved variable

    message = codepipeline.result[1]["failureDetails"]["message"]
    assert "identities of this change could not be established: no change-identities.json was uploaded" in message
    assert "Fix: the Validate build runs `make change-identities`" in message


def _cloudtrail(approver_arn, source_identity=None):
    client = boto3.client("cloudtrail", region_name="eu-west-1")
    stubber = Stubber(client)
    record = load_event("cloudtrail_put_approval_result")["detail"]
    record["userIdentity"]["arn"] = approver_arn
    if source_identity:
        record["userIdentity"]["sessionContext"]["sourceIdentity"] = source_identity
    stubber.add_response(
        "lookup_events",
        {
            "Events": [
                {"EventId": record["eventID"], "EventName": "PutApprovalResult", "CloudTrailEvent": json.dumps(record)}
            ]
        },
    )
    return client, stubber


def test_cloudtrail_names_the_approver_when_the_action_execution_does_not(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=None).expect_result(success=True)
    cloudtrail, stubber = _cloudtrail(BOB)

    with stubber:
        decision = guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail)

    assert decision.allowed
    assert guard_records(store)[0]["approval"]["source"] == "cloudtrail"


def test_no_approver_anywhere_fails_closed(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=None).expect_result(success=False)

    guard(job_event(), codepipeline, store, iam)

    assert (
        "approver of approval Prod/PromoteToProd could not be established"
        in (codepipeline.result[1]["failureDetails"]["message"])
    )


def test_break_glass_passes_and_leaves_a_pending_retroactive_review(store, started, iam):
    on_call = "arn:aws:sts::111111111111:assumed-role/DataPlatformBreakGlass/alice@example.com"
    comment = "BREAK-GLASS: INC-4711 streaming checkpoint path broken since 09:00"
    codepipeline = CodePipeline().approval(updated_by=on_call, comment=comment).expect_result(success=True)
    cloudtrail, stubber = _cloudtrail(on_call, source_identity="alice@example.com")

    with stubber:
        decision = guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail)

    assert decision.allowed
    assert codepipeline.result[1]["outputVariables"]["BREAK_GLASS"] == "true"
    [entry] = [store.get_json(k) for k in store.list_keys(f"{layout.partition(NOW)}break-glass/")]
    assert entry["incident"] == "INC-4711" and entry["approver_person"]["name"] == "alice@example.com"
    assert "carol@example.com" in entry["change_identities"]
    pending = store.get_json(layout.pending_review_key(pipeline=PIPELINE, execution_id=EXECUTION))
    assert pending["kind"] == "review-pending" and pending["break_glass_key"].endswith(f"{JOB}.json")


def test_break_glass_without_incident_is_rejected_and_opens_no_review(store, started, iam):
    on_call = "arn:aws:sts::111111111111:assumed-role/DataPlatformBreakGlass/bob@example.com"
    codepipeline = CodePipeline().approval(updated_by=on_call, comment="BREAK-GLASS asap").expect_result(False)
    cloudtrail, stubber = _cloudtrail(on_call, source_identity="bob@example.com")

    with stubber:
        guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail)

    assert "must name its incident" in codepipeline.result[1]["failureDetails"]["message"]
    assert not store.exists(layout.pending_review_key(pipeline=PIPELINE, execution_id=EXECUTION))


def test_missing_approval_action_is_reported_with_the_fix(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    guard(job_event(approval_action="Approve"), codepipeline, store, iam)

    message = codepipeline.result[1]["failureDetails"]["message"]
    assert "no approved approval Prod/Approve was found" in message and "Fix:" in message


def test_bad_user_parameters_fail_the_job_with_a_clear_message(store, iam):
    codepipeline = CodePipeline().expect_result(success=False)
    event = job_event()
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = "approval=Prod"

    guard(event, codepipeline, store, iam)

    assert codepipeline.result[1]["failureDetails"]["message"].startswith("UserParameters is not JSON")


def test_pipeline_context_comes_from_the_job_when_not_passed(store, started, iam):
    codepipeline = CodePipeline()
    codepipeline.stubber.add_response(
        "get_job_details",
        {
            "jobDetails": {
                "id": JOB,
                "accountId": "111111111111",
                "data": {
                    "pipelineContext": {
                        "pipelineName": PIPELINE,
                        "pipelineExecutionId": EXECUTION,
                        "stage": {"name": "Prod"},
                        "action": {"name": "ApprovalGuard"},
                    }
                },
            }
        },
        {"jobId": JOB},
    )
    codepipeline.approval(updated_by=BOB).expect_result(success=True)

    assert guard(
        job_event(pipeline_name=None, execution_id=None, approval_stage=None), codepipeline, store, iam
    ).allowed
    assert guard_records(store)[0]["guard_action"] == "ApprovalGuard"


def test_ledger_failure_fails_closed(store, started, iam, monkeypatch):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    def broken(*_args, **_kwargs):
        raise RuntimeError("S3 is unavailable")

    monkeypatch.setattr(store, "put_record", broken)

    decision = guard(job_event(), codepipeline, store, iam)

    assert not decision.allowed
    assert (
        codepipeline.result[1]["failureDetails"]["message"] == "approval guard error: RuntimeError: S3 is unavailable"
    )


def test_a_retried_invocation_reports_again_without_rewriting_the_record(store, started, iam):
    first = CodePipeline().approval(updated_by=BOB).expect_result(success=True)
    guard(job_event(), first, store, iam)
    again = CodePipeline().approval(updated_by=BOB).expect_result(success=True)

    assert guard(copy.deepcopy(job_event()), again, store, iam).allowed
    assert len(guard_records(store)) == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EVIDENCE_RETENTION_DAYS": "2557", "APPROVERS_PRINCIPAL_ARNS": APPROVERS_ROLE}, "EVIDENCE_BUCKET is not set"),
        ({"EVIDENCE_BUCKET": BUCKET, "EVIDENCE_RETENTION_DAYS": "2557"}, "APPROVERS_PRINCIPAL_ARNS is empty"),
        (
            {"EVIDENCE_BUCKET": BUCKET, "EVIDENCE_RETENTION_DAYS": "2557", "APPROVERS_PRINCIPAL_ARNS": APPROVERS_ROLE,
             "IDENTITY_ALIASES": '{"alice@example.com": "amoreno"}'},
            "IDENTITY_ALIASES is not valid JSON",
        ),
    ],
)  # fmt: skip
def test_misconfiguration_names_the_variable(env, message):
    with pytest.raises(GuardError, match=message):
        GuardSettings.from_env(env)


def test_lambda_entry_point_fails_the_job_when_misconfigured(monkeypatch):
    codepipeline = CodePipeline().expect_result(success=False)
    monkeypatch.setattr(guard_handler, "_CLIENTS", {"codepipeline": codepipeline.client})
    for name in ("EVIDENCE_BUCKET", "EVIDENCE_RETENTION_DAYS", "APPROVERS_PRINCIPAL_ARNS"):
        monkeypatch.delenv(name, raising=False)

    with codepipeline.stubber, pytest.raises(GuardError):
        guard_handler.handler(job_event())

    operation, params = codepipeline.result
    assert operation == "PutJobFailureResult" and params["failureDetails"]["type"] == "ConfigurationError"


def rejection(store, iam, **overrides):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)
    guard(job_event(), codepipeline, store, iam, **overrides)
    return codepipeline.result[1]["failureDetails"]["message"]


def test_a_committer_of_an_earlier_commit_of_the_change_cannot_approve(store, started, iam):
    dan = f"arn:aws:sts::111111111111:assumed-role/{SSO_ROLE}/dan@example.com"
    codepipeline = CodePipeline().approval(updated_by=dan).expect_result(success=False)

    guard(job_event(), codepipeline, store, iam)

    assert "dan@example.com approved a change they authored" in codepipeline.result[1]["failureDetails"]["message"]
    [record] = guard_records(store)
    assert {"dan@example.com", "erin@example.com", "erin-gh", "alice-moreno"} <= set(record["change"]["identities"])
    evidence = record["change"]["evidence"]
    assert evidence["validate_build_id"] == BUILD_ID and evidence["commits"] == [HEAD, MID]
    assert evidence["last_release"]["commit"] == RELEASED and evidence["last_release"]["execution_id"] == PREVIOUS
    assert record["approver_person"] == {"name": "dan@example.com", "source": "identity-center"}


def test_evidence_from_another_build_is_not_accepted(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    upload_identities(aws, store, identities_file(), folder="DataPlatformPullRequest:aaaa")

    message = rejection(store, iam)

    assert f"no change-identities record comes from this execution's Validate build {BUILD_ID}" in message


def test_two_different_identity_files_for_one_execution_fail_closed(store, started, iam, aws):
    forged = identities_file(commits=identities_file()["commits"][:1])
    upload_identities(aws, store, forged, folder="DataPlatformValidate:second")

    assert "conflicting change-identities records for execution" in rejection(store, iam)


def test_a_range_that_does_not_start_at_the_last_release_fails_closed(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    later = identities_file(range={**identities_file()["range"], "since": MID, "since_ref": "prod-release-2"})
    later["commits"] = later["commits"][:1]
    upload_identities(aws, store, later)

    message = rejection(store, iam)

    assert "the recorded range starts at prod-release-2, which does not cover every commit since the last" in message
    assert f"git tag prod-release-<date> {RELEASED[:12]}" in message


def test_a_window_is_walked_back_to_the_last_release_only(store, iam, aws):
    """Bob wrote a commit before the last release: it is in the window but not in this change."""
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    older = {"sha": RELEASED, "parents": ["0" * 40], "author": person("Bob Ito", "bob@example.com"),
             "committer": person("Bob Ito", "bob@example.com"), "co_authors": [], "pull_requests": []}  # fmt: skip
    window = identities_file(range={"mode": "window", "head": HEAD, "since": None, "complete": False})
    window["commits"] = [*window["commits"], older]
    upload_identities(aws, store, window)
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=True)

    assert guard(job_event(), codepipeline, store, iam).allowed
    assert guard_records(store)[0]["change"]["evidence"]["commits"] == [HEAD, MID]


def test_evidence_for_another_commit_fails_closed(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    upload_identities(aws, store, identities_file(head="f" * 40))

    assert f"describes commit {'f' * 40}, but this execution built {HEAD}" in rejection(store, iam)


def test_a_plain_role_session_needs_a_source_identity(store, started, iam):
    """Alice assumes the (non-SSO) approvers role with session name bob@example.com."""
    role = "arn:aws:iam::111111111111:role/DataPlatformReleaseApprovers"
    spoof = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
    codepipeline = CodePipeline().approval(updated_by=spoof).expect_result(success=False)
    cloudtrail, stubber = _cloudtrail(spoof)  # the PutApprovalResult carries no sourceIdentity

    with stubber:
        guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail, approvers=(role,))

    assert "cannot be tied to a person" in codepipeline.result[1]["failureDetails"]["message"]

    codepipeline = CodePipeline().approval(updated_by=spoof).expect_result(success=False)
    cloudtrail, stubber = _cloudtrail(spoof, source_identity="alice@example.com")
    with stubber:
        guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail, approvers=(role,))
    assert "alice@example.com approved a change they authored" in codepipeline.result[1]["failureDetails"]["message"]

    codepipeline = CodePipeline().approval(updated_by=spoof).expect_result(success=True)
    cloudtrail, stubber = _cloudtrail(spoof, source_identity="bob@example.com")
    with stubber:
        decision = guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail, approvers=(role,))
    assert decision.allowed and codepipeline.result[1]["outputVariables"]["APPROVER"] == "bob@example.com"


def test_an_unmapped_identity_center_user_is_rejected(store, started, iam):
    message = rejection(store, iam, aliases={"alice@example.com": ["alice@example.com"]})

    assert "bob@example.com (identity-center) is not mapped to a git e-mail in approval.identity_aliases" in message
