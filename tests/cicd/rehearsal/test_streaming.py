"""The streaming job on real engines: redeploy, refusal and rollback through EMR Serverless's API, counted by key.

One scenario for the module (each Spark start costs tens of seconds): the real broker with a steady producer;
release A started by streaming_control; a redeploy to C, whose query cannot resume A's checkpoint, refused;
a redeploy to B (a compatible code change); the rollback to the snapshot taken before B. Spark runs the
release's own job with Spark's own Kafka source (the locked jars), its checkpoint and output in S3 on moto.
"""

from __future__ import annotations

import json
import time

import pytest

from cicd.rehearsal.stream import TOPIC, SteadyProducer, wait_until_landed
from cicd.rehearsal.streaming import (
    CHECKPOINT_BUCKET,
    JOB,
    RELEASE_BUCKET,
    spark_part,
    streaming_stage,
    with_job_change,
    with_query,
)
from pipeline_assets.streaming_control import CheckpointIncompatibleError, Timing, store

pytestmark = pytest.mark.slow

A, B, C = "r-000000000000000a", "r-000000000000000b", "r-000000000000000c"
TIMING = Timing(
    shutdown_grace_s=60,
    cancel_timeout_s=240,
    start_timeout_s=300,
    bake_s=900,  # a limit: the bake passes once the new run committed two micro-batches
    poll_s=2,
    min_new_batches=2,
    pass_on_progress=True,
)


def running(stage) -> list[str]:
    return [run_id for run_id, run in stage.runs.runs.items() if run.job_run.state == "RUNNING"]


def wait_for_commit(stage, timeout_s: float = 900) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        committed = store.last_committed_batch(stage.s3(), stage.checkpoint_uri)
        if committed >= 0:
            return committed
        time.sleep(2)
    raise AssertionError(f"no micro-batch committed in {timeout_s} s")


@pytest.fixture(scope="module")
def scenario(kafka_broker, tmp_path_factory):
    files = spark_part()
    query = json.loads(files[f"{JOB}/query.json"])
    query["stateful_operators"][0]["keys"] = [{"name": "event_id", "type": "string"}]  # a new state key
    outcome: dict = {}
    with streaming_stage(broker=kafka_broker, workdir=tmp_path_factory.mktemp("spark")) as stage:
        stage.publish_spark(A, files)
        stage.publish_spark(B, with_job_change(files, "B"))
        stage.publish_spark(C, with_query(files, query))
        producer = SteadyProducer(stage.broker.bootstrap, rate_per_s=15).start()
        try:
            outcome["first_run"] = stage.start(A, TIMING)
            wait_for_commit(stage)
            try:
                stage.controller(TIMING).redeploy_running(RELEASE_BUCKET, C)
            except CheckpointIncompatibleError as exc:
                outcome["refusal"] = exc
            outcome["running_after_refusal"] = running(stage)
            outcome["redeploy"] = stage.controller(TIMING).redeploy_running(RELEASE_BUCKET, B)
            outcome["rollback"] = stage.controller(TIMING).rollback(CHECKPOINT_BUCKET)
        finally:
            produced = producer.stop()
        outcome["tally"] = wait_until_landed(stage.s3(), stage.output_uri, produced, timeout_s=600)
        outcome["offsets"] = stage.broker.end_offsets(TOPIC)
        outcome["runs"] = {rid: (run.job_run.tags or {}).get("release_id") for rid, run in stage.runs.runs.items()}
        outcome["running"] = {outcome["runs"][run_id] for run_id in running(stage)}
    return outcome


def test_a_redeploy_whose_query_cannot_resume_the_checkpoint_is_refused_and_the_job_keeps_running(scenario):
    assert "stateful operator 0 keys changed" in str(scenario["refusal"])
    assert scenario["running_after_refusal"] == [scenario["first_run"]]  # nothing was stopped or started
    assert C not in scenario["runs"].values()


def test_redeploy_and_rollback_on_the_real_broker_lose_and_duplicate_nothing(scenario):
    tally = scenario["tally"]
    assert tally.produced > 0
    assert (len(tally.lost), len(tally.duplicated), len(tally.unexpected)) == (0, 0, 0), tally.summary()


def test_every_message_the_broker_holds_went_through_sparks_kafka_source(scenario):
    # The producer wrote only events; each landed exactly once, so the topic's size is the tally's.
    assert sum(scenario["offsets"].values()) == scenario["tally"].produced == scenario["tally"].landed_rows


def test_the_job_ran_a_then_b_then_a_again_and_one_run_is_left(scenario):
    assert scenario["redeploy"].release_id == B and scenario["rollback"].release_id == A
    assert list(scenario["runs"].values()) == [A, B, A]
    assert scenario["running"] == {A}
