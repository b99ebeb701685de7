"""Fault injection at the API steps of the runtime paths, through botocore's event hooks.

A *step* is the n-th call of one operation on one client (`s3.CopyObject#3`). At a step, one of
these faults is injected; everything else the client does is left to moto (or a Stubber):

    error       refused before it reaches the service: AccessDenied, which botocore does not retry
    throttling  the service answers SlowDown / ThrottlingException twice, then serves the call:
                botocore's own retry handler sees those answers, as it would from AWS
    lost        applied, but the answer is lost; botocore retries, so the call is applied twice
                (a call with an idempotency token is not: the service returns the first answer)
    lost-final  applied, and the answer is lost after botocore gave up: the caller sees an error
    timeout     never answered: every attempt times out (ReadTimeoutError); nothing is applied

`record_steps` runs a path once without faults and lists the steps it takes; `pick` keeps the
first and the last call of each operation, so a long loop is still tried at its ends.

A client answered by botocore's Stubber never reaches the wire (nor botocore's retries): there,
`timeout` is raised before the call, and throttling and a retried lost answer do not apply
(STUBBED_KINDS).

Every fault-injection test reports what it tried and how many invariants held through
`request.node.user_properties`; tests/conftest.py adds them up at the end of the run.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

KINDS = ("error", "throttling", "lost", "lost-final", "timeout")
SENT_KINDS = ("throttling", "lost", "timeout")  # need the request to reach the (mocked) wire
STUBBED_KINDS = ("error", "lost-final", "timeout")
THROTTLED_ANSWERS = 2  # fewer than any retry mode's attempts: the call succeeds on the third


@dataclass(frozen=True)
class Step:
    client: str
    operation: str
    occurrence: int  # 1-based

    def __str__(self) -> str:
        return f"{self.client}.{self.operation}#{self.occurrence}"


@dataclass(frozen=True)
class Fault:
    kind: str
    step: Step

    def __str__(self) -> str:
        return f"{self.kind} at {self.step}"


class _Raw:
    """The raw body botocore's AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    if len(data) < 24:
        return bytes([0x60 + len(data)]) + data
    return bytes([0x78, len(data)]) + data


def _cbor_map(pairs: dict[str, str]) -> bytes:
    out = bytes([0xA0 + len(pairs)])
    for key, value in pairs.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def throttle_response(client: Any, url: str) -> AWSResponse:
    """What the service sends when it throttles, in the client's protocol."""
    protocol = client.meta.service_model.protocol
    if protocol == "rest-xml":  # S3
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return AWSResponse(url, 503, {}, _Raw(body))
    if protocol in ("query", "ec2"):
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            b"</Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        return AWSResponse(url, 400, {}, _Raw(body))
    message = {"__type": "ThrottlingException", "message": "Rate exceeded"}
    if protocol == "smithy-rpc-v2-cbor":
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
        return AWSResponse(url, 400, headers, _Raw(_cbor_map(message)))
    headers = {"x-amzn-ErrorType": "ThrottlingException", "Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse(url, 400, headers, _Raw(json.dumps(message).encode()))


def _event(client: Any, stage: str, operation: str) -> str:
    return f"{stage}.{client.meta.service_model.service_id.hyphenize()}.{operation}"


def _has_idempotency_token(client: Any, operation: str) -> bool:
    shape = client.meta.service_model.operation_model(operation).input_shape
    return shape is not None and any(getattr(m, "metadata", {}).get("idempotencyToken") for m in shape.members.values())


class Injector:
    """One fault at one step, on the client that takes it; `fired` says whether the path reached the step."""

    def __init__(
        self, fault: Fault, client: Any, *, throttled_answers: int = THROTTLED_ANSWERS, stubbed: bool = False
    ) -> None:
        self.fault, self.client = fault, client
        self.throttled_answers = throttled_answers
        self.stubbed = stubbed
        self.fired = False
        self._calls = 0
        self._lock = threading.Lock()
        self._first: AWSResponse | None = None
        self._registered: list[tuple[str, Callable[..., Any]]] = []

    def __enter__(self) -> Injector:
        step = self.fault.step
        if self.stubbed and self.fault.kind not in STUBBED_KINDS:
            raise ValueError(f"{self.fault.kind} cannot reach a Stubber's client: it answers before the wire")
        # before-parameter-build comes before before-call, where a Stubber (registered for every
        # operation, so ahead of any one operation's handlers) would answer the call first.
        self._on(_event(self.client, "before-parameter-build", step.operation), self._arm, first=True)
        if self.fault.kind in SENT_KINDS and not self.stubbed:
            self._on(_event(self.client, "before-send", step.operation), self._send, first=True)
        if self.fault.kind == "lost-final":
            self._on(_event(self.client, "after-call", step.operation), self._lose)
        return self

    def __exit__(self, *_: Any) -> None:
        for event, handler in self._registered:
            self.client.meta.events.unregister(event, handler)

    def _on(self, event: str, handler: Callable[..., Any], *, first: bool = False) -> None:
        (self.client.meta.events.register_first if first else self.client.meta.events.register)(event, handler)
        self._registered.append((event, handler))

    def _arm(self, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self._calls += 1
            if self._calls != self.fault.step.occurrence:
                return
            self.fired = True
        context["injected_fault"] = self.fault.kind
        if self.fault.kind == "timeout" and self.stubbed:
            raise ReadTimeoutError(endpoint_url=f"{self.fault.step} (no answer)")
        if self.fault.kind == "error":
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": f"injected fault: {self.fault}"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                self.fault.step.operation,
            )

    def _send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        context = getattr(request, "context", None) or {}
        if context.get("injected_fault") != self.fault.kind:
            return None
        attempt = context.get("retries", {}).get("attempt", 1)
        if self.fault.kind == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        if self.fault.kind == "throttling":
            return throttle_response(self.client, request.url) if attempt <= self.throttled_answers else None
        # lost: the first attempt is applied by the mock, then its answer is lost on the way back.
        if attempt == 1:
            from moto.core.models import botocore_stubber

            self._first = botocore_stubber(event_name=event_name, request=request)
            raise ConnectionClosedError(endpoint_url=request.url)
        if self._first is not None and _has_idempotency_token(self.client, self.fault.step.operation):
            return self._first  # the service recognises the token and answers as the first time
        return None

    def _lose(self, context: dict[str, Any], **_: Any) -> None:
        if context.get("injected_fault") == "lost-final":
            raise ConnectionClosedError(endpoint_url=f"{self.fault.step} (answer lost after it was applied)")


@contextmanager
def inject(fault: Fault, clients: dict[str, Any], *, stubbed: tuple[str, ...] = ()) -> Iterator[Injector]:
    """The fault on the client it names; `stubbed` names clients a botocore Stubber answers."""
    with Injector(fault, clients[fault.step.client], stubbed=fault.step.client in stubbed) as injector:
        yield injector


@contextmanager
def record_steps(clients: dict[str, Any]) -> Iterator[list[Step]]:
    """The API steps a path takes (in call order), from one run without faults.

    Seen at before-parameter-build, once per call (not per retry), before a Stubber can answer it."""
    steps: list[Step] = []
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()
    with ExitStack() as stack:
        for name, client in clients.items():

            def record(event_name: str, name: str = name, **_: Any) -> None:
                operation = event_name.rsplit(".", 1)[1]
                with lock:
                    counts[(name, operation)] += 1
                    steps.append(Step(name, operation, counts[(name, operation)]))

            event = f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}"
            client.meta.events.register_first(event, record)
            stack.callback(client.meta.events.unregister, event, record)
        yield steps


def pick(steps: list[Step], *, every_write: bool = False, skip: Callable[[Step], bool] = lambda _: False) -> list[Step]:
    """The first and the last call of each operation, in the order the path takes them.

    every_write: every call of a write, not only its ends (a path's writes are few and each matters)."""
    seen: dict[tuple[str, str], list[int]] = {}
    for step in steps:
        seen.setdefault((step.client, step.operation), []).append(step.occurrence)
    chosen = []
    for (client, operation), occurrences in seen.items():
        every = every_write and not is_read(Step(client, operation, 0))
        for occurrence in occurrences if every else sorted({occurrences[0], occurrences[-1]}):
            step = Step(client, operation, occurrence)
            if not skip(step):
                chosen.append(step)
    return chosen


READ_PREFIXES = ("Get", "List", "Head", "Describe")


def is_read(step: Step) -> bool:
    return step.operation.startswith(READ_PREFIXES)


# A read's answer lost is a read repeated (botocore retries it) or an error (it gave up), and a read
# throttled is a read repeated: for reads, an error and a timeout are the faults that differ.
READ_KINDS = ("error", "timeout")


def faults(steps: list[Step], kinds: tuple[str, ...] = KINDS, *, stubbed: tuple[str, ...] = ()) -> list[Fault]:
    """Each kind at each write step, READ_KINDS at each read step (STUBBED_KINDS on a stubbed client)."""
    return [
        Fault(kind, step)
        for step in steps
        for kind in kinds
        if (not is_read(step) or kind in READ_KINDS) and (step.client not in stubbed or kind in STUBBED_KINDS)
    ]


@dataclass
class Tally:
    """What one test tried: faults, and invariant checks (each one named, so a failure says which)."""

    path: str
    faults: int = 0
    checks: int = 0
    held: int = 0
    broken: list[str] = field(default_factory=list)

    def fault(self, fault: Fault | str) -> None:
        self.faults += 1
        self._current = str(fault)

    def check(self, invariant: str, holds: bool, detail: str = "") -> None:
        self.checks += 1
        if holds:
            self.held += 1
        else:
            self.broken.append(f"{getattr(self, '_current', '?')}: {invariant}{f' ({detail})' if detail else ''}")

    def report(self, node: Any) -> None:
        counts = {"path": self.path, "faults": self.faults, "checks": self.checks, "held": self.held}
        node.user_properties.append(("fault_injection", counts))

    def assert_all_held(self) -> None:
        assert not self.broken, f"{len(self.broken)} invariant(s) broken:\n" + "\n".join(self.broken[:20])
