"""Fault injection on the data-service publisher: at every call to the fake API on 127.0.0.1 and to S3.

A service cut into several parts is published again and again with new data; each publish takes one
fault, at one step of the API (the n-th call of a route) or of S3 (moto, through botocore's hooks):
  error       HTTP 400 / AccessDenied
  throttling  HTTP 429 twice / SlowDown twice, then served
  lost        applied, then the connection drops mid-answer (once: the client retries)
  lost-final  applied, then the connection drops mid-answer, every time it is tried
  timeout     the answer comes after the client's timeout, every time
Invariants after each: the assistant's active revision is the previous version or the new one, and
every file it names is on the assistant (nothing is published half-way); a failure is a GeaiError or
a PublishError; the publish run again without the fault converges on the new version, in S3 too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count

import pytest

from pipeline_assets.dataservices.bundle import Limits
from pipeline_assets.dataservices.client import GeaiClient, GeaiError
from pipeline_assets.dataservices.publisher import PublishError, Timing, publish_service
from pipeline_assets.dataservices.state import PublishState
from tests.fault_injection import READ_KINDS, Fault, Step, faults, inject, pick, record_steps

FAST = Timing(poll_interval_s=0.01, load_timeout_s=3)
REMOVE_PATH = "v1/assistant/{assistant_id}/datasets/{file_name}"  # the stub's removal route (conftest)
HTTP_KINDS = ("error", "throttling", "lost", "lost-final", "timeout")


@pytest.fixture
def chunked(customer_health, warehouse):
    """customer_health with 38 rows, cut into parts of 2 KiB sent in requests of 4 KiB."""
    warehouse.execute(
        "insert into main.customer_health select 'acc_' || lpad(cast(i as varchar), 4, '0'), repeat('x', 200), "
        "'smb', 50.0, 'watch', false, 0, null, date '2026-11-27', null from range(5, 40) t(i)"
    )
    limits = Limits(max_file_bytes=2048, max_request_bytes=4096)
    return customer_health.model_copy(update={"service": customer_health.service.model_copy(update={"limits": limits})})


class Publisher:
    def __init__(self, stub, url, s3, warehouse, bundle, tmp_path) -> None:
        self.stub, self.s3, self.warehouse, self.bundle, self.tmp_path = stub, s3, warehouse, bundle, tmp_path
        self.client = GeaiClient(
            url, stub.token, backoff_s=0.001, max_attempts=3, timeout_s=0.2, remove_path=REMOVE_PATH
        )
        self.state = PublishState(s3, "release-bucket", "dataservices-state/dev/")
        self.runs = count()

    def new_data(self) -> None:
        self.warehouse.execute(f"update main.customer_health set open_ticket_count = {next(self.runs) + 100}")

    def publish(self):
        return publish_service(
            self.bundle,
            assistant_id=self.stub.assistant_id,
            client=self.client,
            state=self.state,
            cursor=self.warehouse.cursor(),
            work_dir=self.tmp_path / f"work{next(self.runs)}",
            timing=FAST,
        )

    def active_key(self) -> str | None:
        return self.stub.active.value("publish_key")

    def active_files(self) -> set[str]:
        metadata = self.stub.active.value("metadata")
        return {f"{name}.csv" for name in json.loads(metadata) if name != "da_version"} if metadata else set()

    def current_key(self) -> str | None:
        return (self.state.current("customer_health") or {}).get("publish_key")


def http_steps(calls: list[tuple[str, str]], assistant_id: str) -> list[Step]:
    """The fake API's calls as steps: "<method> <route>", the n-th call of it."""
    seen: dict[str, int] = {}
    steps = []
    for method, path in calls:
        route = path.removeprefix(f"/v1/assistant/{assistant_id}") or "/"
        if method == "DELETE":
            route = ".csv"  # a removal, whichever file
        name = f"{method} {route}"
        seen[name] = seen.get(name, 0) + 1
        steps.append(Step("api", name, seen[name]))
    return steps


HOW = {
    "error": {"status": 400, "times": 1},
    "throttling": {"status": 429, "times": 2, "retry_after": "0"},
    "lost": {"status": 200, "times": 1, "applied": True, "drop": True},
    "lost-final": {"status": 200, "times": 99, "applied": True, "drop": True},
    "timeout": {"status": 200, "times": 99, "delay_s": 0.3},
}


@contextmanager
def api_fault(stub, make, step: Step, kind: str) -> Iterator[Callable[[], bool]]:
    """The fault on the fake API from the step's n-th call on; yields whether it was reached."""
    method, route = step.operation.split(" ", 1)
    how = dict(HOW[kind])
    status, times = how.pop("status"), how.pop("times")
    fault = make(method, "" if route == "/" else route, status, times=times, after=step.occurrence - 1, **how)
    stub.faults.append(fault)
    try:
        yield lambda: fault.times < times
    finally:
        stub.faults.clear()


@contextmanager
def s3_fault(s3, fault: Fault) -> Iterator[Callable[[], bool]]:
    with inject(fault, {"s3": s3}) as injector:
        yield lambda: injector.fired


def publish_under(publisher: Publisher, tally, label: str, armed) -> None:
    """A publish of new data with the fault armed, the checks, then the same publish again without it."""
    before = publisher.active_key()
    publisher.new_data()
    tally.fault(label)
    with armed as reached:
        try:
            outcome: object = publisher.publish()
        except Exception as exc:
            outcome = exc
        tally.check("the fault was reached", reached())
    loud = not isinstance(outcome, Exception) or isinstance(outcome, GeaiError | PublishError)
    tally.check("a failure is a GeaiError or PublishError", loud, repr(outcome))
    missing = publisher.active_files() - set(publisher.stub.files)
    tally.check("every file of the active revision is on the assistant", not missing, str(sorted(missing)[:3]))
    after_fault = publisher.active_key()
    again = publisher.publish()  # the same data: the same version's key
    tally.check(
        "the revision active after the fault is the previous version or the new one",
        after_fault in (before, again.publish_key),
        f"{after_fault} not in ({before}, {again.publish_key})",
    )
    converged = publisher.active_key() == again.publish_key == publisher.current_key()
    tally.check("publishing again converges on the new version", converged)
    missing = publisher.active_files() - set(publisher.stub.files)
    tally.check("after it, every file of the active revision is on the assistant", not missing)


def test_every_fault_at_every_api_and_s3_step_publishes_whole_or_not_at_all(
    geai, s3_state, warehouse, chunked, tmp_path, stub_fault, fault_tally
):
    stub, url = geai
    tally = fault_tally("data-service publisher")
    publisher = Publisher(stub, url, s3_state, warehouse, chunked, tmp_path)
    for _ in range(2):  # two versions: the third one's sweep removes the first
        publisher.publish()
        publisher.new_data()
    stub.calls.clear()
    with record_steps({"s3": s3_state}) as s3_steps:
        publisher.publish()
    api = pick(http_steps(stub.calls, stub.assistant_id))
    assert {s.operation for s in api} >= {"POST /datasets/extend", "PUT /", "GET /status", "DELETE .csv"}
    for step in api:
        for kind in READ_KINDS if step.operation.startswith("GET") else HTTP_KINDS:
            publish_under(publisher, tally, f"{kind} at {step}", api_fault(stub, stub_fault, step, kind))
    for fault in faults(pick(s3_steps)):
        publish_under(publisher, tally, str(fault), s3_fault(s3_state, fault))
    tally.assert_all_held()
