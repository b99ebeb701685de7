"""One rollback command puts back the DAGs, the published data and the streaming job; a plane left behind fails it."""

from __future__ import annotations

import duckdb
import pytest

from cicd.rollback import drill
from cicd.rollback.rollback import (
    Clients,
    DataPlane,
    Environment,
    Planes,
    RollbackFailedError,
    Steps,
    StreamingPlane,
    rollback,
)
from pipeline_assets.dbt_wap import embedded, wap
from pipeline_assets.streaming_control import Outcome, RedeployFailedError, StreamingControlError

ROOT = drill.ROOT


class Stream:
    """streaming_control's Controller as the rollback uses it: redeploy_running(release_bucket, release)."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[tuple[str, str]] = []
        self.error = error

    def redeploy_running(self, release_bucket: str, release_id: str) -> Outcome:
        self.calls.append((release_bucket, release_id))
        if self.error is not None:
            raise self.error
        return Outcome("restarted", "operations_events_stream", "run-2", release_id)


def published_orders(path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return int(conn.execute("select count(*) from analytics_marts.orders").fetchone()[0])


@pytest.fixture
def released(tmp_path):
    """Releases A then B active (the drill's played pipeline and the real activator on moto), and a warehouse
    where A published 10 orders and B then published 4."""
    files_a, files_b = drill.release_files(ROOT)
    path = tmp_path / "warehouse.duckdb"
    execute = embedded.duckdb_executor(path)
    with drill.moto_environment() as (s3, ssm):
        a, b = drill.upload(s3, files_a), drill.upload(s3, files_b)
        lane = drill.ReleaseLane(s3, ssm)
        pipeline = drill.DrillPipeline(lane, s3)
        for release, rows in ((a, 10), (b, 4)):
            pipeline.run(release)
            plan = wap.WapPlan(database="warehouse", target_schema="analytics", release_id=release, selector="ops")

            def build(plan=plan, rows=rows) -> int:
                with duckdb.connect(str(path)) as conn:
                    schema = plan.release.split(".")[1]
                    conn.execute(f"create or replace table {schema}.orders as select range as id from range({rows})")
                return 0

            wap.run(plan, executor=execute, build=build)
        clients = Clients(pipeline, drill.DrillCloudFormation(lane), s3, ssm)
        env = Environment("prod", drill.STAGE, drill.PIPELINE, drill.PARAMETER, drill.RELEASE_BUCKET,
                          evidence_bucket=drill.EVIDENCE_BUCKET)  # fmt: skip
        data = DataPlane(execute, "warehouse", "analytics")

        def roll_back(stream: Stream, data: DataPlane = data):
            planes = Planes(streaming=StreamingPlane(stream, drill.RELEASE_BUCKET), data=data)
            return rollback(env, clients, poll_s=0, sleep=lambda _: None, steps=Steps(echo=lambda _: None),
                            planes=planes)  # fmt: skip

        yield roll_back, a, b, path, ssm


def test_one_rollback_puts_back_the_dags_the_data_and_the_stream(released):
    roll_back, a, _, path, ssm = released
    stream = Stream()
    result = roll_back(stream)
    assert ssm.get_parameter(Name=drill.PARAMETER)["Parameter"]["Value"] == a
    assert published_orders(path) == 10
    assert stream.calls == [(drill.RELEASE_BUCKET, a)]
    assert set(result.live_after) == {"dags", "data", "streaming"}
    assert result.live_after["dags"] <= result.live_after["data"] <= result.live_after["streaming"]
    assert [s["step"] for s in result.steps[-2:]] == [
        f"swap the published data back to {a}",
        f"redeploy the streaming job to {a} from its checkpoint",
    ]


@pytest.mark.parametrize(
    "error",
    [
        StreamingControlError("release r-a cannot resume from the checkpoint"),
        RedeployFailedError(Outcome("rolled_back", "operations_events_stream", "run-3", "r-b", reason="no progress")),
    ],
    ids=["refused", "failed its bake"],
)
def test_a_stream_that_does_not_come_back_fails_the_command_after_the_other_planes(released, error):
    roll_back, a, _, path, ssm = released
    with pytest.raises(RollbackFailedError, match=f"streaming job not back to {a}") as failure:
        roll_back(Stream(error))
    assert ssm.get_parameter(Name=drill.PARAMETER)["Parameter"]["Value"] == a  # the code plane is back
    assert published_orders(path) == 10  # and the data plane too
    assert set(failure.value.result.live_after) == {"dags", "data"}


def test_data_that_cannot_be_restored_fails_the_command_but_the_stream_still_comes_back(released):
    roll_back, a, _, path, _ = released
    with duckdb.connect(str(path)) as conn:  # someone published again since A: the previous schema is not A's
        conn.execute("update _wap.schema_comments set comment = 'published release r-x (ops)'")
    stream = Stream()
    with pytest.raises(RollbackFailedError, match=f"data not back to {a}"):
        roll_back(stream)
    assert stream.calls == [(drill.RELEASE_BUCKET, a)]
    assert published_orders(path) == 4  # nothing was swapped


def test_a_warehouse_error_fails_the_data_plane_and_the_stream_still_comes_back(released):
    roll_back, a, _, _, _ = released

    def lost_connection(sql: str):
        raise ConnectionError("250001: could not connect to Snowflake backend after 2 attempt(s)")

    stream = Stream()
    with pytest.raises(RollbackFailedError, match=f"data not back to {a}: .*could not connect") as failure:
        roll_back(stream, data=DataPlane(lost_connection, "warehouse", "analytics"))
    assert stream.calls == [(drill.RELEASE_BUCKET, a)]
    assert set(failure.value.result.live_after) == {"dags", "streaming"}


def test_an_api_error_from_the_stream_fails_the_command_with_the_plane_named(released):
    from botocore.exceptions import ClientError

    roll_back, a, _, path, _ = released
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListJobRuns")
    with pytest.raises(RollbackFailedError, match=f"streaming job not back to {a}: .*ThrottlingException") as failure:
        roll_back(Stream(throttled))
    assert published_orders(path) == 10
    assert "cicd streaming status" in str(failure.value)


def test_the_command_takes_the_stream_along_when_the_streaming_application_is_known(monkeypatch):
    import argparse

    from cicd.rollback import cli

    monkeypatch.setattr(cli, "_session_client", lambda args, service: f"{service}-client")
    env = Environment("prod", "Prod", "p", drill.PARAMETER, "releases")
    clients = Clients(None, None, "s3-client", None)
    base = {"streaming_job": "operations_events_stream", "streaming_bake_seconds": 300.0, "no_streaming": False,
            "data_schema": None}  # fmt: skip
    monkeypatch.delenv(cli.STREAMING_APPLICATION, raising=False)
    assert cli.resolve_planes(argparse.Namespace(streaming_application_id=None, **base), env, clients) == Planes()

    monkeypatch.setenv(cli.STREAMING_APPLICATION, "00app")
    planes = cli.resolve_planes(argparse.Namespace(streaming_application_id=None, **base), env, clients)
    controller = planes.streaming.controller
    assert (controller.emr, controller.application_id, planes.streaming.release_bucket) == (
        "emr-serverless-client",
        "00app",
        "releases",
    )
    assert controller.timing.pass_on_progress and controller.timing.bake_s == 300.0
    opted_out = argparse.Namespace(streaming_application_id=None, **{**base, "no_streaming": True})
    assert cli.resolve_planes(opted_out, env, clients).streaming is None
