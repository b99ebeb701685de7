"""The approval guard as CodePipeline runs it: a job event in, a job result out, the decision in the ledger.

S3 and IAM are moto; CodePipeline's job and action-execution APIs and CloudTrail's LookupEvents are
not in moto, so they are botocore Stubbers, which validate every request and response against the
real service models.
"""

import copy
import json
from datetime import UTC, datetime, timedelta
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
FRANK = f"arn:aws:sts::111111111111:assumed-role/{SSO_ROLE}/frank@example.com"
# Each person's git e-mail, their AWS-side names and their source-provider account (github:<user id>).
ALIASES = {
    "alice@example.com": ["alice@example.com", "github:1001"],
    "bob@example.com": ["bob@example.com", "github:1002"],
    "carol@example.com": ["carol@example.com", "github:1003"],
    "dan@example.com": ["dan@example.com", "github:1004"],
    "erin@example.com": ["erin@example.com", "github:1005"],
    "frank@example.com": ["frank@example.com", "github:1006"],
}
BUILD_ID = "DataPlatformValidate:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
EVIDENCE_BUILD_ID = "DataPlatformChangeEvidence:7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
HEAD = "9d1e4c7a2b5f8e3d6c9a0b1f2e3d4c5b6a7f8e9d"  # the commit pipeline_started.json built
MID = "5" * 40
RELEASED = "1" * 40
PREVIOUS = "2b3c4d5e-0000-4000-8000-00000000prev"
TOKEN = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"  # this approval request's token (cloudtrail_put_approval_result.json)


def person(name, email):
    return {"name": name, "email": email}


def gh(login, user_id, kind="User"):
    return {"login": login, "id": user_id, "type": kind}


ALICE_GH, BOB_GH, CAROL_GH = gh("alice-gh", 1001), gh("bob-gh", 1002), gh("carol-gh", 1003)
DAN_GH, ERIN_GH, FRANK_GH = gh("dan-gh", 1004), gh("erin-gh", 1005), gh("frank-gh", 1006)


def commit_facts(author, committer, *, pulls=(), pushed_by=(), accounts=None, verified=False, co_authors=()):
    return {
        "parents": [],
        "author": author,
        "committer": committer,
        "co_authors": list(co_authors),
        "accounts": accounts or {"author": None, "committer": None},
        "verification": {"verified": verified, "reason": "valid" if verified else "unsigned"},
        "pull_requests": list(pulls),
        "pushed_by": list(pushed_by),
    }


def change_evidence(**overrides):
    """The ChangeEvidence record of this execution (pipeline_assets/change_evidence/collect.py's schema), since
    the last release: alice's PR #13 (reviewed by dan, merged by carol) on top of erin's PR #12, whose commit
    carol authored and dan committed, with erin as co-author (merged by dan)."""
    head = commit_facts(
        person("Alice Moreno", "alice@example.com"), person("Alice Moreno", "alice@example.com"),
        pulls=[13], pushed_by=[{**CAROL_GH, "activity": "pr_merge", "at": "2026-03-02T09:10:00Z"}],
    )  # fmt: skip
    mid = commit_facts(
        person("Carol Diaz", "carol@example.com"), person("Dan Roe", "dan@example.com"),
        co_authors=[person("Erin Park", "erin@example.com")], pulls=[12],
        pushed_by=[{**DAN_GH, "activity": "pr_merge", "at": "2026-03-01T15:00:00Z"}],
    )  # fmt: skip
    head["parents"], mid["parents"] = [MID], [RELEASED]
    content = {
        "schema": "change-evidence/v1",
        "head": HEAD,
        "repository": "globant-data/data-platform",
        "branch": "main",
        "build": {"pipeline": PIPELINE, "pipeline_execution_id": EXECUTION, "build_id": EVIDENCE_BUILD_ID,
                  "resolved_source_version": HEAD},
        "shallow": False,
        "ranges": {"Prod": {"since": RELEASED, "since_execution": PREVIOUS, "commits": [HEAD, MID], "complete": True}},
        "commits": {HEAD: head, MID: mid},
        "pull_requests": {
            "12": {"number": 12, "author": ERIN_GH, "merged_by": DAN_GH, "approved_by": [], "base": "main"},
            "13": {"number": 13, "author": ALICE_GH, "merged_by": CAROL_GH, "approved_by": [DAN_GH], "base": "main"},
        },
        "problems": [],
        "trust_boundary_hint": {"baseline_commit": RELEASED, "paths": [], "changed": False},
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


def write_change_evidence(aws, content, *, build_id=EVIDENCE_BUILD_ID):
    """What the trusted ChangeEvidence build writes (the only principal the bucket lets write there)."""
    key = layout.change_evidence_key(pipeline=PIPELINE, execution_id=EXECUTION, build_id=build_id)
    aws.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(content).encode())
    return key


def upload_from_validate(aws, store, name, content, *, folder=BUILD_ID):
    """What a Validate build (running the change's code) can upload: anything under incoming/."""
    key = layout.incoming_key(pipeline=PIPELINE, execution_id=EXECUTION, upload_id=layout.safe(folder), name=name)
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
    previous production release, and this execution's trusted change evidence."""
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    write_change_evidence(aws, change_evidence())


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
            "output": {"executionResult": {"externalExecutionSummary": comment, "externalExecutionId": TOKEN}},
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
        evidence = {
            **validate,
            "stageName": "ChangeEvidence",
            "actionName": "CollectChangeEvidence",
            "actionExecutionId": "ce",
            "output": {"executionResult": {"externalExecutionId": EVIDENCE_BUILD_ID}},
        }
        self.stubber.add_response(
            "list_action_executions",
            {"actionExecutionDetails": [evidence, validate, deploy, detail]},
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


def test_a_validate_builds_commit_json_cannot_name_the_author(store, started, iam, aws):
    """Issue 17 #2: the Validate build runs the change's code; what it uploads names nobody."""
    upload_from_validate(aws, store, "commit.json", {"sha": HEAD, "author_email": "frank@example.com"})
    codepipeline = CodePipeline().approval(updated_by=FRANK).expect_result(success=True)

    decision = guard(job_event(), codepipeline, store, iam)

    assert decision.allowed
    assert guard_records(store)[0]["author"]["source"] == "pipeline-trigger"


def test_author_passed_in_user_parameters_is_used_first(store, started, iam):
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    decision = guard(job_event(commit_author="bob@example.com"), codepipeline, store, iam)

    assert not decision.allowed


def test_no_change_evidence_fails_closed(store, iam):
    record_event(load_event("pipeline_started"), store=store)
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=False)

    guard(job_event(commit_author="#{Synth.COMMIT_AUTHOR}"), codepipeline, store, iam)  # unresolved variable

    message = codepipeline.result[1]["failureDetails"]["message"]
    assert "identities of this change could not be established: the ChangeEvidence build" in message
    assert "left no record at trusted/change-evidence/" in message and "Fix: retry the ChangeEvidence stage" in message


def put_approval_result(approver_arn, source_identity=None, *, token=TOKEN, at="2026-03-02T10:02:42Z"):
    """CloudTrail's record of a PutApprovalResult call (the fixture is this approval's own)."""
    record = load_event("cloudtrail_put_approval_result")["detail"]
    record["userIdentity"]["arn"] = approver_arn
    record["requestParameters"]["token"] = token
    record["eventTime"] = at
    record["eventID"] = f"event-{token}-{at}"
    if source_identity:
        record["userIdentity"]["sessionContext"]["sourceIdentity"] = source_identity
    return record


def _cloudtrail(approver_arn=None, source_identity=None, *, records=None):
    client = boto3.client("cloudtrail", region_name="eu-west-1")
    stubber = Stubber(client)
    records = records if records is not None else [put_approval_result(approver_arn, source_identity)]
    events = [
        {"EventId": r["eventID"], "EventName": "PutApprovalResult", "CloudTrailEvent": json.dumps(r)} for r in records
    ]
    stubber.add_response("lookup_events", {"Events": events})
    return client, stubber


BOUND_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                       "StringEquals": {"sts:SourceIdentity": "${aws:username}"}}},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:SetSourceIdentity",
         "Condition": {"StringEquals": {"sts:SourceIdentity": "${aws:username}"}}},
    ],
}  # fmt: skip
# What DeliveryAudit deployed before issue 17: any SourceIdentity, as long as there is one.
LOOSE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
         "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Condition": {"Null": {"sts:SourceIdentity": "false"}}}
    ],
}  # fmt: skip


def role(iam, name, trust=BOUND_TRUST):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return f"arn:aws:iam::111111111111:role/{name}"


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
    role(iam, "DataPlatformBreakGlass")
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
    role(iam, "DataPlatformBreakGlass")
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
    assert {"dan@example.com", "erin@example.com", "erin-gh", "alice-moreno", "github:1004"} <= set(
        record["change"]["identities"]
    )
    evidence = record["change"]["evidence"]
    assert evidence["change_evidence_build_id"] == EVIDENCE_BUILD_ID and evidence["commits"] == [HEAD, MID]
    assert evidence["last_release"]["commit"] == RELEASED and evidence["last_release"]["execution_id"] == PREVIOUS
    assert record["approver_person"] == {"name": "dan@example.com", "source": "identity-center"}
    roles = {a["login"]: a["roles"] for a in evidence["accounts"]}
    assert roles["dan-gh"] == ["approving reviewer of PR #13", "merger of PR #12", f"pr_merge of {MID[:12]}"]


def test_evidence_from_another_build_is_not_accepted(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    write_change_evidence(aws, change_evidence(), build_id="DataPlatformChangeEvidence:another-run")

    message = rejection(store, iam)

    assert (
        f"the ChangeEvidence build {EVIDENCE_BUILD_ID} that CodePipeline reports for this execution left no" in message
    )


def test_a_validate_build_planting_identities_for_this_execution_changes_nothing(store, started, iam, aws):
    """Issue 17 #10: any Validate build may write incoming/ for any execution; the guard reads none of it."""
    forged = {"schema": "change-identities/v1", "head": HEAD, "commits": [], "identities": ["frank@example.com"]}
    upload_from_validate(aws, store, "change-identities.json", forged, folder="DataPlatformValidate:other-run")
    upload_from_validate(aws, store, "change-identities.json", {**forged, "identities": []})
    codepipeline = CodePipeline().approval(updated_by=FRANK).expect_result(success=True)

    assert guard(job_event(), codepipeline, store, iam).allowed


def test_a_range_that_does_not_start_at_the_ledgers_last_release_fails_closed(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    later = change_evidence()
    later["ranges"]["Prod"] = {"since": MID, "since_execution": "other", "commits": [HEAD], "complete": True}
    write_change_evidence(aws, later)

    message = rejection(store, iam)

    assert (
        f"the ledger's last Prod approval is commit {RELEASED}, but the change evidence counted the commits" in message
    )
    assert "the ledger and CodePipeline disagree" in message


def test_an_approval_after_the_evidence_was_collected_narrows_the_change_to_what_it_had_not_approved(store, iam, aws):
    """The evidence counted from an older approval; the ledger's newer release (RELEASED, bob's) ends the walk."""
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    wider = change_evidence()
    older = "0" * 40
    wider["commits"][RELEASED] = {
        **commit_facts(person("Bob Ito", "bob@example.com"), person("Bob Ito", "bob@example.com"), pulls=[11]),
        "parents": [older],
    }
    wider["pull_requests"]["11"] = {"number": 11, "author": BOB_GH, "merged_by": BOB_GH, "approved_by": []}
    wider["ranges"]["Prod"] = {"since": older, "since_execution": "e-0", "commits": [HEAD, MID, RELEASED]}
    write_change_evidence(aws, wider)
    codepipeline = CodePipeline().approval(updated_by=BOB).expect_result(success=True)

    assert guard(job_event(), codepipeline, store, iam).allowed
    assert guard_records(store)[0]["change"]["evidence"]["commits"] == [HEAD, MID]


def test_evidence_for_another_commit_fails_closed(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    write_change_evidence(aws, change_evidence(head="f" * 40))

    assert f"describes commit {'f' * 40}, but this execution built {HEAD}" in rejection(store, iam)


def test_a_missing_started_record_fails_closed_instead_of_skipping_the_commit_and_trigger_checks(store, iam, aws):
    """Issue 17 #8."""
    record_previous_release(store)
    write_change_evidence(aws, change_evidence(head="f" * 40))

    message = rejection(store, iam)

    assert "the ledger has no STARTED record (with its commit) for execution" in message
    assert "Fix: look for the execution's start in the ledger's dead-letter queue" in message


def test_an_author_who_commits_under_a_colleagues_name_is_still_the_author(store, iam, aws):
    """Issue 17 #2: alice commits as bob (GIT_AUTHOR_*), through her own pull request; git names are extra names,
    the provider's accounts decide."""
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    forged = change_evidence()
    forged["commits"][HEAD].update(
        author=person("Frank Olsen", "f.rank+rel@example.com"), committer=person("Frank Olsen", "frank@example.com")
    )
    write_change_evidence(aws, forged)
    codepipeline = CodePipeline().approval(updated_by=ALICE_APPROVER).expect_result(success=False)

    guard(job_event(commit_author=None), codepipeline, store, iam)

    message = codepipeline.result[1]["failureDetails"]["message"]
    assert "alice@example.com approved a change they authored" in message and "github:1001" in message


@pytest.mark.parametrize("merge", ["squash", "rebase"])
def test_the_merger_of_a_squash_or_rebase_merge_cannot_approve(store, iam, aws, merge):
    """Issue 17 #9: frank merged alice's PR; GitHub associates squash and rebased commits with it."""
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    merged = change_evidence()
    merged["pull_requests"]["13"]["merged_by"] = FRANK_GH
    merged["commits"][HEAD]["pushed_by"] = [{**FRANK_GH, "activity": "pr_merge"}]
    if merge == "rebase":
        merged["commits"][MID]["pull_requests"] = [13]
    write_change_evidence(aws, merged)
    codepipeline = CodePipeline().approval(updated_by=FRANK).expect_result(success=False)

    guard(job_event(), codepipeline, store, iam)

    assert "frank@example.com approved a change they authored" in codepipeline.result[1]["failureDetails"]["message"]


def test_an_account_of_the_change_that_maps_to_nobody_is_rejected_with_the_fix(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    stranger = change_evidence()
    stranger["pull_requests"]["12"]["approved_by"] = [gh("alt-account", 4242)]
    stranger["pull_requests"]["12"]["merged_by"] = gh("dependabot[bot]", 49699333, "Bot")
    write_change_evidence(aws, stranger)

    message = rejection(store, iam)

    assert (
        "the source-provider account alt-account (github:4242, approving reviewer of PR #12) is not mapped" in message
    )
    assert "Fix: add `github:4242` to that person's names under approval.identity_aliases" in message
    assert "dependabot" not in message  # no person approves as a bot


def test_a_commit_nobody_can_be_shown_to_have_brought_is_rejected(store, iam, aws):
    record_event(load_event("pipeline_started"), store=store)
    record_previous_release(store)
    orphan = change_evidence()
    orphan["commits"][MID].update(pull_requests=[], pushed_by=[])
    orphan["problems"] = [{"commit": MID, "problem": "came through no merged pull request and no recorded push"}]
    write_change_evidence(aws, orphan)

    message = rejection(store, iam)

    assert f"1 commit(s) of this change cannot be attributed to an account ({MID[:12]}: came through no" in message


def plain_role_approval(store, iam, *, source_identity, success, trust=BOUND_TRUST, approvers_role=None):
    """Someone approves through the (non-SSO) approvers role with the session name bob@example.com."""
    approvers = approvers_role or role(iam, "DataPlatformReleaseApprovers", trust)
    spoof = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
    codepipeline = CodePipeline().approval(updated_by=spoof).expect_result(success=success)
    cloudtrail, stubber = _cloudtrail(spoof, source_identity=source_identity)
    with stubber:
        decision = guard(job_event(), codepipeline, store, iam, cloudtrail=cloudtrail, approvers=(approvers,))
    return decision, codepipeline.result[1]


def test_a_source_identity_the_caller_chose_is_not_believed(store, started, iam):
    """Issue 17 #3: Alice assumes the approvers role with --source-identity bob@example.com; the role deployed
    before issue 17 only required that some SourceIdentity be present."""
    decision, result = plain_role_approval(
        store, iam, source_identity="bob@example.com", success=False, trust=LOOSE_TRUST
    )

    assert not decision.allowed
    assert (
        "role DataPlatformReleaseApprovers lets whoever assumes it choose sts:SourceIdentity"
        in (result["failureDetails"]["message"])
    )


def test_a_source_identity_bound_to_the_caller_names_the_person(store, started, iam):
    approvers = role(iam, "DataPlatformReleaseApprovers")
    decision, result = plain_role_approval(
        store, iam, source_identity="bob@example.com", success=True, approvers_role=approvers
    )
    assert decision.allowed and result["outputVariables"]["APPROVER"] == "bob@example.com"

    decision, result = plain_role_approval(
        store, iam, source_identity="alice@example.com", success=False, approvers_role=approvers
    )
    assert "alice@example.com approved a change they authored" in result["failureDetails"]["message"]


def test_a_plain_role_session_needs_a_source_identity(store, started, iam):
    _, result = plain_role_approval(store, iam, source_identity=None, success=False)

    assert "cannot be tied to a person" in result["failureDetails"]["message"]


def role_session_guard(store, iam, records, *, reply="put_job_success_result", **event):
    """The guard for an approval through the approvers role, with what CloudTrail has so far."""
    approvers = role(iam, "DataPlatformReleaseApprovers")
    session = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
    codepipeline = CodePipeline().approval(updated_by=session)
    cloudtrail, stubber = _cloudtrail(records=records)
    with stubber, codepipeline.stubber:
        codepipeline.stubber.add_response(reply, {})
        decision = run_guard(
            job_event(**event), codepipeline=codepipeline.client, iam=iam, cloudtrail=cloudtrail, store=store,
            settings=settings(approvers=(approvers,)), clock=lambda: event.get("now", NOW),
        )  # fmt: skip
    return decision, codepipeline.result


def test_a_colleagues_earlier_approval_is_never_taken_for_this_one(store, started, iam):
    """Issue 17 #4: bob approved an earlier request 10 minutes before; alice's approval (same session name) is not
    in CloudTrail yet. The guard waits for this request's own record instead of recording bob."""
    earlier = put_approval_result(
        "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com",
        "bob@example.com",
        token="aaaaaaaa-4b5a-4978-8695-a4b3c2d1e0f9",
        at="2026-03-02T09:52:42Z",
    )

    decision, (operation, params) = role_session_guard(store, iam, [earlier])

    assert decision.pending and not decision.allowed
    assert operation == "PutJobSuccessResult" and json.loads(params["continuationToken"]) == {
        "waiting_since": NOW.isoformat()
    }
    assert guard_records(store) == []  # nothing decided, nothing recorded


def test_the_guard_decides_on_this_approvals_own_record_once_cloudtrail_has_it(store, started, iam):
    own = put_approval_result(
        "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com", "alice@example.com"
    )
    event = job_event()
    event["CodePipeline.job"]["data"]["continuationToken"] = json.dumps({"waiting_since": NOW.isoformat()})
    approvers = role(iam, "DataPlatformReleaseApprovers")
    codepipeline = CodePipeline().approval(updated_by=own["userIdentity"]["arn"]).expect_result(success=False)
    cloudtrail, stubber = _cloudtrail(records=[own])
    with stubber:
        decision = guard(event, codepipeline, store, iam, cloudtrail=cloudtrail, approvers=(approvers,))

    assert not decision.pending and "alice@example.com approved a change they authored" in decision.message


def test_after_the_wait_a_missing_cloudtrail_record_rejects_with_the_reason(store, started, iam):
    event = job_event()
    waited = NOW - timedelta(minutes=21)
    event["CodePipeline.job"]["data"]["continuationToken"] = json.dumps({"waiting_since": waited.isoformat()})
    approvers = role(iam, "DataPlatformReleaseApprovers")
    session = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
    codepipeline = CodePipeline().approval(updated_by=session).expect_result(success=False)
    cloudtrail, stubber = _cloudtrail(records=[])
    with stubber:
        decision = guard(event, codepipeline, store, iam, cloudtrail=cloudtrail, approvers=(approvers,))

    assert not decision.pending
    assert "CloudTrail has recorded no PutApprovalResult with this approval's token since" in decision.message
    assert guard_records(store)[0]["decision"] == "rejected"


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ("twice", "2 PutApprovalResult calls in CloudTrail carry this approval's token"),
        ("before-start", "pending"),  # a record older than the action cannot be its approval
    ],
)
def test_cloudtrail_must_hold_exactly_one_record_of_this_approval_after_it_started(
    store, started, iam, records, expected
):
    session = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
    if records == "twice":
        found = [
            put_approval_result(session, "bob@example.com"),
            put_approval_result(session, "bob@example.com", at="2026-03-02T10:02:50Z"),
        ]
    else:
        found = [put_approval_result(session, "bob@example.com", at="2026-03-02T09:30:00Z")]  # action started 09:41

    reply = "put_job_success_result" if expected == "pending" else "put_job_failure_result"
    decision, (operation, params) = role_session_guard(store, iam, found, reply=reply)

    if expected == "pending":
        assert decision.pending
    else:
        assert operation == "PutJobFailureResult" and expected in params["failureDetails"]["message"]


def test_an_unmapped_identity_center_user_is_rejected(store, started, iam):
    message = rejection(store, iam, aliases={"alice@example.com": ["alice@example.com"]})

    assert "bob@example.com (identity-center) is not mapped to a git e-mail in approval.identity_aliases" in message
