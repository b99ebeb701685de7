"""The bake: a full period by default; with pass_on_progress, done as soon as the new run proves progress."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipeline_assets.streaming_control import Controller, Outcome, Timing

BUCKET = "checkpoints"
CHECKPOINT = f"s3://{BUCKET}/job/"


class RunningJob:
    """An EMR Serverless client whose run is RUNNING and commits one micro-batch per poll."""

    def __init__(self, s3, state: str = "RUNNING"):
        self.s3, self.state, self.batch = s3, state, 0

    def get_job_run(self, applicationId, jobRunId):  # noqa: N803 (boto3's names)
        return {"jobRun": {"jobRunId": jobRunId, "state": self.state}}

    def commit(self) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=f"job/commits/{self.batch}", Body=b"{}")
        self.batch += 1


@pytest.fixture
def baking():
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        job = RunningJob(s3)
        clock = {"now": 0.0}

        def sleep(seconds: float) -> None:
            clock["now"] += seconds
            job.commit()

        def controller(**timing) -> Controller:
            return Controller(
                job, s3, "app", "job", timing=Timing(bake_s=600, poll_s=15, **timing),
                clock=lambda: clock["now"], sleep=sleep, log=lambda _: None,
            )  # fmt: skip

        yield controller, clock, job


def test_a_bake_lasts_its_whole_period_by_default(baking):
    controller, clock, _ = baking
    assert controller().bake(Outcome("restarted", "job", "run", "r-b"), "run", CHECKPOINT, -1) is None
    assert clock["now"] >= 600


def test_a_bake_that_may_pass_on_progress_ends_once_the_new_batches_are_committed(baking):
    controller, clock, _ = baking
    outcome = Outcome("restarted", "job", "run", "r-a")
    assert controller(pass_on_progress=True, min_new_batches=2).bake(outcome, "run", CHECKPOINT, -1) is None
    assert clock["now"] == 30  # two polls, two commits
    assert outcome.steps[-1] == "bake passed: 2 micro-batches committed"


def test_passing_on_progress_still_fails_a_run_that_makes_none(baking):
    controller, clock, job = baking
    job.commit = lambda: None  # the run stays RUNNING and commits nothing
    failure = controller(pass_on_progress=True).bake(Outcome("restarted", "job", "run", "r-a"), "run", CHECKPOINT, -1)
    assert failure is not None and "committed 0 micro-batch(es)" in failure
    assert clock["now"] >= 600


def test_a_checkpoint_that_cannot_be_read_mid_bake_does_not_end_the_bake(baking):
    controller, clock, _ = baking
    baker = controller(pass_on_progress=True)
    real, failures = baker.s3, {"left": 2}

    class Flaky:
        """The S3 client, whose first two listings fail (throttling, a lost answer)."""

        def __getattr__(self, name):
            return getattr(real, name)

        def get_paginator(self, name):
            if failures["left"]:
                failures["left"] -= 1
                raise ConnectionError("listing failed")
            return real.get_paginator(name)

    baker.s3 = Flaky()
    assert baker.bake(Outcome("restarted", "job", "run", "r-a"), "run", CHECKPOINT, -1) is None
    assert clock["now"] == 30  # the two failed looks were no answer; the third saw the two new batches
