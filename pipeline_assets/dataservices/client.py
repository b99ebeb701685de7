"""A small client for the Globant Enterprise AI endpoints the publisher uses.

Endpoints (paths as in the platform's API reference and its official Python SDK, pygeai):
    GET  /v1/assistant/{id}/status            Data Analyst dataset loading status
    POST /v1/assistant/{id}/datasets/extend   add CSV datasets (multipart, one "file" part per CSV)
    GET  /v1/assistant/{id}                   assistant data, with the active revision's metadata
    PUT  /v1/assistant/{id}                   update; action "savePublishNewRevision" publishes a revision

Every request carries the project API token as a bearer token. 429 and 5xx, dropped connections
(also mid-body) and a success whose body is not JSON (a proxy's error page) are retried (tenacity,
which the Airflow workers have) with exponential backoff and jitter, honouring a Retry-After that
urllib3 can read, capped like the backoff; any other 4xx fails at once with the API's own message,
because repeating a rejected request cannot make it valid. Every
request is safe to repeat: uploads replace a file of the same name, and a revision names files by
content.

The public API reference documents no endpoint that removes a dataset file. An installation that
has one can name it in the connection secret (`dataset_remove_path`); without it the orphan sweep
lists what it would remove instead.
"""

from __future__ import annotations

import enum
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import tenacity
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
PUBLISH_KEY = "publish_key"


class GeaiError(Exception):
    """A request to Globant Enterprise AI failed for good (rejected, or retries exhausted)."""

    def __init__(self, method: str, path: str, status: int | None, api_message: str, *, attempts: int = 1):
        self.method, self.path, self.status = method, path, status
        self.api_message, self.attempts = api_message, attempts
        got = f"HTTP {status}" if status is not None else "no response"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{method} {path} failed{tries}: {got}: {api_message}")


class _TransientError(Exception):
    """One try failed in a way that repeating may fix: the status (None without a response), why,
    and the wait the API asked for."""

    def __init__(self, status: int | None, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


class LoadStatus(enum.Enum):
    READY = "ready"
    LOADING = "loading"
    FAILED = "failed"


@dataclass(frozen=True)
class AssistantStatus:
    state: LoadStatus
    raw: str  # the status text the API sent, for logs and error messages
    message: str


# The status endpoint's response body is not shown in the documentation: these words are our
# assumption of its vocabulary. Anything unrecognised counts as "still loading", so an unknown
# word can only make the publisher wait (and time out, loudly), never switch too early.
_READY_WORDS = frozenset({"ready", "loaded", "complete", "completed", "success", "succeeded", "finished", "done"})
_FAILED_WORDS = frozenset({"error", "failed", "failure", "loaderror", "load_error"})


def parse_status(body: Any) -> AssistantStatus:
    value: Any = body
    if isinstance(body, Mapping):
        for key in ("status", "datasetsStatus", "datasetStatus", "loadingStatus", "state"):
            if key in body:
                value = body[key]
                break
    if isinstance(value, Mapping):
        value = value.get("status", value.get("state", ""))
    raw = str(value).strip()
    word = raw.lower().replace(" ", "_")
    message = ""
    if isinstance(body, Mapping):
        message = str(body.get("message") or body.get("description") or body.get("error") or "")
    if word in _READY_WORDS:
        return AssistantStatus(LoadStatus.READY, raw, message)
    if word in _FAILED_WORDS:
        return AssistantStatus(LoadStatus.FAILED, raw, message)
    return AssistantStatus(LoadStatus.LOADING, raw, message)


def api_message(response: requests.Response) -> str:
    """The API's own explanation from its error envelope {"errors": {"id", "description"}} (or a list)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:500] or "(empty response)"
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, Mapping):
        errors = [errors]
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors:
            if isinstance(error, Mapping):
                code = error.get("id", error.get("code"))
                text = error.get("description", error.get("message", ""))
                parts.append(f"[{code}] {text}" if code is not None else str(text))
        if parts:
            return "; ".join(parts)
    if isinstance(body, Mapping):
        for key in ("message", "description", "error", "detail"):
            if body.get(key):
                return str(body[key])
    return json.dumps(body)[:500]


class GeaiClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout_s: float = 120.0,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        remove_path: str | None = None,
    ):
        if not token:
            raise ValueError("the Globant Enterprise AI API token is empty")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.session = session or requests.Session()
        self.timeout_s, self.max_attempts = timeout_s, max_attempts
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._sleep, self._jitter = sleep, jitter
        self.remove_path = remove_path  # e.g. "v1/assistant/{assistant_id}/datasets/{file_name}"

    def __repr__(self) -> str:  # never print the token
        return f"GeaiClient({self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        files: Callable[[], list[tuple[str, tuple[str, Any, str]]]] | None = None,
    ) -> Any:
        """Send one logical request, retrying transient failures; returns the decoded JSON body."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_TransientError),
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(method, path, state),
        )
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    return self._send_once(method, path, url, headers, json_body, params, files, attempt=number)
        except tenacity.RetryError as exhausted:
            failure = exhausted.last_attempt.exception()
            assert isinstance(failure, _TransientError)  # the only exception `retry` lets tenacity repeat
            raise GeaiError(method, path, failure.status, failure.reason, attempts=self.max_attempts) from None
        raise AssertionError("tenacity ends every run with a result or an exception")  # pragma: no cover

    def _send_once(
        self,
        method: str,
        path: str,
        url: str,
        headers: Mapping[str, str],
        json_body: Any,
        params: Mapping[str, str] | None,
        files: Callable[[], list[tuple[str, tuple[str, Any, str]]]] | None,
        *,
        attempt: int,
    ) -> Any:
        """One try: the decoded body, a GeaiError for a rejection, or _TransientError for what is worth repeating."""
        opened = files() if files is not None else None  # re-opened per try: a retried upload re-sends it all
        try:
            response = self.session.request(
                method, url, headers=headers, json=json_body, params=params, files=opened, timeout=self.timeout_s
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            # ChunkedEncodingError: the connection dropped in the middle of the body.
            raise _TransientError(None, f"{type(exc).__name__}: {exc}") from exc
        finally:
            for _, (_, handle, _) in opened or []:
                if hasattr(handle, "close"):
                    handle.close()
        status = response.status_code
        if status >= 300:
            message = api_message(response)
            if status not in RETRYABLE_STATUS:
                raise GeaiError(method, path, status, message, attempts=attempt)
            raise _TransientError(status, message, self._retry_after(response.headers.get("Retry-After")))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:  # a gateway's or proxy's page in place of the API's answer
            kind = response.headers.get("Content-Type") or "no content type"
            # No Retry-After here: a page that is not the API's does not speak for it.
            raise _TransientError(status, f"the body is not JSON ({kind}): {response.text.strip()[:200]!r}") from None

    def _retry_after(self, value: str | None) -> float | None:
        """The wait the API asked for, capped like our own backoff; None when absent or not a wait."""
        if value is None:
            return None
        try:
            return min(float(Retry().parse_retry_after(value)), self.max_backoff_s)
        except InvalidHeader:  # negative, NaN, words: outside the header's grammar, so use our own backoff
            return None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _TransientError) and failure.retry_after is not None:
            return failure.retry_after
        # Equal jitter (half the backoff plus up to half again): many workers retrying the same outage
        # spread out instead of retrying together, and none retries sooner than half the backoff.
        backoff = tenacity.wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s)(state)
        return backoff * (0.5 + self._jitter() / 2)

    def _log_retry(self, method: str, path: str, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        status, reason = (failure.status, failure.reason) if isinstance(failure, _TransientError) else (None, "")
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s (%s); retry %d/%d in %.1fs", method, path, status, reason, state.attempt_number,
                    self.max_attempts - 1, delay)  # fmt: skip

    # --- the endpoints ---------------------------------------------------------------------------

    def status(self, assistant_id: str) -> AssistantStatus:
        return parse_status(self.request("GET", f"v1/assistant/{assistant_id}/status"))

    def extend_datasets(self, assistant_id: str, files: Iterable[tuple[str, Path]]) -> Any:
        """Upload CSV files; each is sent under its upload name (the versioned dataset name + .csv)."""
        chosen = list(files)

        def open_all() -> list[tuple[str, tuple[str, Any, str]]]:
            return [("file", (name, path.open("rb"), "text/csv")) for name, path in chosen]

        return self.request("POST", f"v1/assistant/{assistant_id}/datasets/extend", files=open_all)

    def assistant(self, assistant_id: str) -> Any:
        return self.request("GET", f"v1/assistant/{assistant_id}", params={"detail": "summary"})

    def active_publish_key(self, assistant_id: str) -> str | None:
        """The publish key recorded in the assistant's active revision, if we published it."""
        return find_metadata_value(self.assistant(assistant_id), PUBLISH_KEY)

    def active_file_names(self, assistant_id: str) -> set[str]:
        """The CSV files the active revision's Data Analyst metadata names (what users query now)."""
        raw = find_metadata_value(self.assistant(assistant_id), "metadata")
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            return set()
        return {f"{name}.csv" for name in document if name != "da_version"} if isinstance(document, dict) else set()

    def remove_dataset(self, assistant_id: str, file_name: str) -> Any:
        if not self.remove_path:
            raise GeaiError("DELETE", "(none)", None, "no dataset_remove_path is configured for this installation")
        path = self.remove_path.format(assistant_id=assistant_id, file_name=quote(file_name))
        return self.request("DELETE", path)

    def publish_revision(
        self, assistant_id: str, *, metadata: Mapping[str, Any], glossary: str, publish_key: str
    ) -> Any:
        """Publish a new revision whose Data Analyst metadata names the freshly loaded datasets.

        This is the switch: until it succeeds the active revision still describes the previous
        version's datasets, so users never query a version that is only partly loaded.
        """
        body = {
            "action": "savePublishNewRevision",
            "revisionName": f"publish {publish_key}",
            "metadata": [
                {"key": "metadata", "type": "json", "value": json.dumps(metadata)},
                {"key": "glossary", "type": "text", "value": glossary},
                {"key": PUBLISH_KEY, "type": "text", "value": publish_key},
            ],
        }
        return self.request("PUT", f"v1/assistant/{assistant_id}", json_body=body)


def find_metadata_value(assistant: Any, key: str) -> str | None:
    """A metadata value of the active revision in GET /assistant/{id} (summary shows only that one)."""
    if not isinstance(assistant, Mapping):
        return None
    for intent in assistant.get("intents") or []:
        for revision in intent.get("revisions") or []:
            for item in revision.get("metadata") or []:
                if isinstance(item, Mapping) and item.get("key") == key:
                    return str(item.get("value"))
    return None
