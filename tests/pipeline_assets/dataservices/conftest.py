"""A local stand-in for the Globant Enterprise AI endpoints the publisher calls, on 127.0.0.1.

It speaks the same paths and envelopes as the real API (bearer token, multipart "file" parts,
{"errors": {"id", "description"}} on failure) and keeps the state a Data Analyst Assistant has:
uploaded files, a loading status, and revisions whose metadata names the datasets. Tests script
faults per route (a 429, a run of 500s, a status that stays "loading"), also after the request was
applied: the connection dropped in the middle of the answer, an HTML page instead of JSON, an
answer that comes too late. It removes a dataset file on DELETE /v1/assistant/{id}/datasets/{file},
the path an installation may configure (the public reference documents none).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from moto import mock_aws
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cicd.dataservices.build import build
from cicd.dataservices.manifest import load
from pipeline_assets.dataservices.bundle import ServiceBundle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dataservices"
TOKEN = "geai-test-token"
ASSISTANT_ID = "3f1c2a9e-0000-4000-8000-00000000c0de"


@dataclass
class Fault:
    method: str
    suffix: str  # the request path ends with this
    status: int
    times: int  # how many matching requests fail before the route behaves
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool = False  # the request is served first, then its answer is replaced by the fault
    drop: bool = False  # the connection drops in the middle of the answer's body
    html: bool = False  # a proxy's HTML page with this status instead of the API's JSON
    delay_s: float = 0.0  # the answer comes this late (past the client's timeout)
    after: int = 0  # this many matching requests are served before the fault starts


@dataclass
class Revision:
    metadata: list[dict[str, Any]]

    def value(self, key: str) -> str | None:
        return next((m["value"] for m in self.metadata if m["key"] == key), None)


class GeaiStub:
    def __init__(self) -> None:
        self.token = TOKEN
        self.assistant_id = ASSISTANT_ID
        self.files: dict[str, bytes] = {}
        self.revisions: list[Revision] = [Revision(metadata=[])]
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str]] = []
        self.loading_polls = 1  # status answers "loading" this many times after each change
        self.stuck_loading = False  # the status never becomes ready (a slow load)
        self.fail_load: str | None = None  # the status reports an error with this message
        self._pending = 0
        self._lock = threading.Lock()

    # --- what tests read ---
    @property
    def active(self) -> Revision:
        return self.revisions[-1]

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))

    # --- the WSGI app ---
    def _error(self, status: int, code: int, description: str, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps({"errors": {"id": code, "description": description}})
        return Response(body, status=status, content_type="application/json", headers=headers)

    def _json(self, body: Any) -> Response:
        return Response(json.dumps(body), status=200, content_type="application/json")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            response = self._handle(request)
        time.sleep(getattr(response, "delay_s", 0.0))  # outside the lock: other requests go on meanwhile
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, 6, "ApiToken not found or blocked")
        for fault in self.faults:
            if fault.times > 0 and request.method == fault.method and request.path.endswith(fault.suffix):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.applied:
                    self._route(request)
                return self._faulty(fault)
        return self._route(request)

    def _faulty(self, fault: Fault) -> Response:
        response = self._fault_response(fault)
        response.delay_s = fault.delay_s
        return response

    def _fault_response(self, fault: Fault) -> Response:
        if fault.html:
            page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(page, status=fault.status, content_type="text/html", headers=fault.headers)
        body = json.dumps(fault.body or {"errors": {"id": fault.status, "description": f"stub fault {fault.status}"}})
        if fault.drop:

            def cut_short() -> Iterator[bytes]:
                yield body[: len(body) // 2].encode()
                raise ConnectionAbortedError("the stub drops the connection mid-body")

            return Response(cut_short(), status=fault.status, content_type="application/json", headers=fault.headers)
        return Response(body, status=fault.status, content_type="application/json", headers=fault.headers)

    def _route(self, request: Request) -> Response:
        base = f"/v1/assistant/{self.assistant_id}"
        if not request.path.startswith(base):
            return self._error(404, 1, "Assistant Not Found")
        rest = request.path[len(base) :]
        if request.method == "GET" and rest == "/status":
            return self._status()
        if request.method == "POST" and rest == "/datasets/extend":
            uploads = request.files.getlist("file")
            if not uploads:
                return self._error(400, 9, "Field file is required")
            for upload in uploads:
                if not upload.filename.endswith(".csv"):
                    return self._error(400, 2027, "Document Extension Invalid")
                self.files[upload.filename] = upload.read()  # same name replaces: no duplicate rows
            self._pending = self.loading_polls
            return self._json({"success": True, "files": [u.filename for u in uploads]})
        if request.method == "GET" and rest == "":
            revision = {"revisionId": str(len(self.revisions)), "metadata": self.active.metadata}
            return self._json({"assistantId": self.assistant_id, "intents": [{"revisions": [revision]}]})
        if request.method == "PUT" and rest == "":
            return self._publish(request.get_json())
        if request.method == "DELETE" and rest.startswith("/datasets/"):
            name = rest[len("/datasets/") :]
            if self.files.pop(name, None) is None:
                return self._error(404, 2040, f"Dataset {name} Not Found")
            return self._json({"success": True})
        return self._error(404, 404, "Bad Endpoint")

    def _status(self) -> Response:
        if self.fail_load:
            return self._json({"status": "error", "message": self.fail_load})
        if self.stuck_loading or self._pending > 0:
            self._pending = max(0, self._pending - 1)
            return self._json({"status": "loading"})
        return self._json({"status": "ready"})

    def _publish(self, body: dict[str, Any]) -> Response:
        if body.get("action") != "savePublishNewRevision":
            return self._error(400, 2032, "The status value is unexpected")
        entries = {m["key"]: m for m in body.get("metadata", [])}
        if "metadata" not in entries:
            return self._error(400, 9, "Field metadata is required")
        document = json.loads(entries["metadata"]["value"])
        if document.get("da_version") != "2.0":
            return self._error(400, 3004, "Error validating metadata: da_version must be 2.0")
        for name in document:
            if name != "da_version" and f"{name}.csv" not in self.files:
                return self._error(400, 3005, f"Error validating metadata: no file was found for metadata '{name}'")
        self.revisions.append(Revision(metadata=list(body["metadata"])))
        self._pending = self.loading_polls
        return self._json({"assistantId": self.assistant_id, "revisionId": str(len(self.revisions))})


def fault(
    method: str, suffix: str, status: int, *, times: int, body=None, retry_after: str | None = None, **how: Any
) -> Fault:
    return Fault(method, suffix, status, times, body, {"Retry-After": retry_after} if retry_after else {}, **how)


@pytest.fixture
def stub_fault():
    """Build a scripted fault: stub.faults.append(stub_fault("POST", "/datasets/extend", 429, times=1))."""
    return fault


REMOVE_PATH = "v1/assistant/{assistant_id}/datasets/{file_name}"  # the stub's removal route


@pytest.fixture
def geai() -> Iterator[tuple[GeaiStub, str]]:
    stub = GeaiStub()
    server = make_server("127.0.0.1", 0, stub, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield stub, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def fixture_bundles() -> dict[str, ServiceBundle]:
    manifest = load(FIXTURES / "manifest.json", dbt_dir="tests/fixtures/dataservices/dbt_project")
    result = build(manifest)
    assert not result.errors, [f.render() for f in result.errors]
    return result.bundles


@pytest.fixture
def customer_health(fixture_bundles: dict[str, ServiceBundle]) -> ServiceBundle:
    return fixture_bundles["customer_health"]


@pytest.fixture
def warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """The customer_health mart as a real DuckDB table in schema main (the manifest's relation)."""
    connection = duckdb.connect(":memory:")
    connection.execute(
        """
        create table main.customer_health as select * from (values
            ('acc_002', 'Globex, Inc.', 'mid_market', 41.0, 'at_risk', true, 7,
             timestamp '2026-10-02 08:00:00', date '2026-11-27', 'it@globex.example'),
            ('acc_001', 'Acme Corp', 'enterprise', 82.5, 'healthy', false, 1,
             timestamp '2026-11-20 10:15:00', date '2026-11-27', 'ops@acme.example'),
            ('acc_004', 'Umbrella', 'enterprise', null, 'unknown', false, 0, null, date '2026-11-27', null)
        ) as t(account_id, account_name, segment, health_score, health_band, is_at_risk, open_ticket_count,
               last_activity_at, snapshot_date, contact_email)
        """
    )
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def s3_state() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="release-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield s3
