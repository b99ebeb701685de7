"""Retroactive review of a break-glass change: written once, only by someone independent."""

import argparse
import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from cicd.audit import cli
from cicd.audit.review import ReviewError, complete_review
from pipeline_assets.ledger import layout
from pipeline_assets.ledger.store import EvidenceStore

BUCKET = "evidence-bucket"
PIPELINE = "DataPlatformDelivery"
EXECUTION = "6f7a8b9c-2d3e-4f4a-9b5c-6d7e8f9a0b41"
NOW = datetime(2026, 3, 9, 11, 20, tzinfo=UTC)
CAROL = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/carol@example.com"
COMMENT = "Diff limited to the checkpoint path; incident INC-4711 closed; accepted."


@pytest.fixture
def store(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket=BUCKET,
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            ObjectLockEnabledForBucket=True,
        )
        store = EvidenceStore(s3, BUCKET, retention_days=2557, clock=lambda: NOW)
        glass_key = layout.break_glass_key(NOW, pipeline=PIPELINE, execution_id=EXECUTION, job_id="job-1")
        store.put_record(
            glass_key,
            {
                "kind": "break-glass",
                "incident": "INC-4711",
                "approver": {"person": "erin@example.com"},
                "author": {"email": "dave@example.com", "name": "Dave Okafor"},
            },
        )
        store.put_record(
            layout.pending_review_key(pipeline=PIPELINE, execution_id=EXECUTION),
            {"kind": "review-pending", "break_glass_key": glass_key, "incident": "INC-4711"},
        )
        yield store


def review(store, reviewer=CAROL, **kw):
    args = {"pipeline": PIPELINE, "execution_id": EXECUTION, "decision": "accepted", "comment": COMMENT, "now": NOW}
    args.update(kw)
    return complete_review(store, reviewer_arn=reviewer, **args)


def test_an_independent_review_is_recorded_and_locked(store):
    result = review(store)

    assert result.written
    assert result.key.startswith(f"{layout.COMPLETED_REVIEWS_PREFIX}{PIPELINE}/{EXECUTION}/20260309T112000Z-")
    body = store.get_json(result.key)
    assert body["kind"] == "review-completed" and body["reviewer"] == "carol@example.com"
    assert body["incident"] == "INC-4711" and body["comment"] == COMMENT
    assert store.s3.head_object(Bucket=BUCKET, Key=result.key)["ObjectLockMode"] == "COMPLIANCE"


@pytest.mark.parametrize(
    ("reviewer", "message"),
    [
        (
            "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/dave@example.com",
            "wrote or break-glass",
        ),
        ("arn:aws:iam::111111111111:user/erin", "wrote or break-glass-approved this change"),
    ],
    ids=["author", "break-glass-approver"],
)
def test_the_author_or_the_break_glass_approver_cannot_review(store, reviewer, message):
    with pytest.raises(ReviewError, match=message):
        review(store, reviewer=reviewer)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"execution_id": "00000000-0000-4000-8000-000000000000"}, "no pending break-glass review for"),
        ({"decision": "fine"}, "decision must be one of accepted, remediation-required"),
        ({"comment": "ok"}, "at least 20 characters"),
    ],
)
def test_bad_reviews_are_refused_with_the_reason(store, kwargs, message):
    with pytest.raises(ReviewError, match=message):
        review(store, **kwargs)


def test_cli_review_takes_the_reviewer_from_sts(store, capsys):
    class Sts:
        def get_caller_identity(self):
            return {"Arn": CAROL, "Account": "111111111111", "UserId": "AROA:carol"}

    args = argparse.Namespace(
        bucket=BUCKET,
        pipeline=PIPELINE,
        execution_id=EXECUTION,
        decision="remediation-required",
        comment=COMMENT,
        env="prod",
        retention_days=None,  # from config/prod.yaml: 7 years
    )

    assert cli.cmd_review(args, s3=store.s3, sts=Sts()) == 0

    key = capsys.readouterr().out.strip().rsplit(f"s3://{BUCKET}/", 1)[1]
    assert json.loads(store.get_bytes(key))["decision"] == "remediation-required"
    retain = store.s3.head_object(Bucket=BUCKET, Key=key)["ObjectLockRetainUntilDate"]
    assert (retain - datetime.now(UTC)).days in (2556, 2557)


def test_cli_review_locks_its_record_as_long_as_the_ledger_whichever_environment_it_names(store, capsys):
    """The ledger Lambdas get the longest evidence retention of any environment (app.py); a review of a
    dev execution used dev's one year, so its record would have been unlocked six years early."""

    class Sts:
        def get_caller_identity(self):
            return {"Arn": CAROL, "Account": "111111111111", "UserId": "AROA:carol"}

    args = argparse.Namespace(
        bucket=BUCKET, pipeline=PIPELINE, execution_id=EXECUTION, decision="remediation-required", comment=COMMENT,
        env="dev", retention_days=None,
    )  # fmt: skip
    assert cli.cmd_review(args, s3=store.s3, sts=Sts()) == 0
    key = capsys.readouterr().out.strip().rsplit(f"s3://{BUCKET}/", 1)[1]
    retain = store.s3.head_object(Bucket=BUCKET, Key=key)["ObjectLockRetainUntilDate"]
    assert (retain - datetime.now(UTC)).days in (2556, 2557)
    assert cli.ledger_retention_days() == 2557


def test_cli_review_refusal_exits_1(store, capsys):
    class Sts:
        def get_caller_identity(self):
            return {"Arn": "arn:aws:sts::111111111111:assumed-role/X/dave@example.com"}

    args = argparse.Namespace(
        bucket=BUCKET, pipeline=PIPELINE, execution_id=EXECUTION, decision="accepted", comment=COMMENT,
        env="prod", retention_days=30,
    )  # fmt: skip
    assert cli.cmd_review(args, s3=store.s3, sts=Sts()) == 1
    assert "audit review refused: dave@example.com wrote" in capsys.readouterr().err
