"""The client against the local stub: bearer auth, retries on 429/5xx, clear failures on 4xx."""

import pytest
import requests

from pipeline_assets.dataservices.client import GeaiClient, GeaiError, LoadStatus, api_message, parse_status


def client_for(base_url, token, sleeps, **kwargs):
    return GeaiClient(base_url, token, sleep=sleeps.append, jitter=lambda: 1.0, backoff_s=0.5, **kwargs)


def test_status_with_the_project_token(geai):
    stub, url = geai
    status = client_for(url, stub.token, []).status(stub.assistant_id)
    assert status.state is LoadStatus.READY
    assert stub.calls == [("GET", f"/v1/assistant/{stub.assistant_id}/status")]


def test_a_rejected_token_fails_at_once_with_the_api_message(geai):
    stub, url = geai
    sleeps = []
    with pytest.raises(GeaiError) as caught:
        client_for(url, "revoked-token", sleeps).status(stub.assistant_id)
    assert caught.value.status == 401
    assert "[6] ApiToken not found or blocked" in str(caught.value)
    assert len(stub.calls) == 1 and sleeps == []  # a 401 is not retried


def test_429_then_success_backs_off_and_honours_retry_after(geai, tmp_path, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("POST", "/datasets/extend", 429, times=1, retry_after="3"))
    stub.faults.append(stub_fault("POST", "/datasets/extend", 503, times=1))
    csv = tmp_path / "a.csv"
    csv.write_text("x\n1\n")
    sleeps = []
    client_for(url, stub.token, sleeps).extend_datasets(stub.assistant_id, [("customer_health_v_abc.csv", csv)])
    assert stub.count("POST", "/datasets/extend") == 3
    assert sleeps == [3.0, 1.0]  # Retry-After first, then the exponential backoff (0.5 * 2**1)
    assert stub.files == {"customer_health_v_abc.csv": b"x\n1\n"}  # the retried upload re-sent the whole file


def test_500s_exhaust_the_retries_and_report_the_last_message(geai, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 500, times=99))
    sleeps = []
    with pytest.raises(GeaiError) as caught:
        client_for(url, stub.token, sleeps, max_attempts=4).status(stub.assistant_id)
    assert caught.value.status == 500 and caught.value.attempts == 4
    assert "after 4 attempts" in str(caught.value) and "stub fault 500" in str(caught.value)
    assert stub.count("GET", "/status") == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped(geai, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 502, times=99))
    sleeps = []
    with pytest.raises(GeaiError):
        client_for(url, stub.token, sleeps, max_attempts=6, max_backoff_s=2.0).status(stub.assistant_id)
    assert sleeps == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_a_400_is_not_retried_and_names_the_rejection(geai, stub_fault):
    stub, url = geai
    body = {"errors": [{"id": 3005, "description": "no metadata was found for file 'x'"}]}
    stub.faults.append(stub_fault("PUT", stub.assistant_id, 400, times=1, body=body))
    with pytest.raises(GeaiError) as caught:
        client_for(url, stub.token, []).publish_revision(stub.assistant_id, metadata={}, glossary="", publish_key="k")
    assert caught.value.status == 400
    assert "[3005] no metadata was found for file 'x'" in str(caught.value)


def test_an_unreachable_api_is_retried_then_reported(tmp_path):
    sleeps = []
    client = client_for("http://127.0.0.1:9", "t", sleeps, max_attempts=2, timeout_s=2)
    with pytest.raises(GeaiError) as caught:
        client.status("a")
    assert caught.value.status is None and "ConnectionError" in caught.value.api_message
    assert len(sleeps) == 1


def test_the_token_never_appears_in_the_client_repr():
    assert "secret-value" not in repr(GeaiClient("https://api.example", "secret-value"))
    with pytest.raises(ValueError, match="token is empty"):
        GeaiClient("https://api.example", "")


@pytest.mark.parametrize(
    ("body", "state"),
    [
        ({"status": "Ready"}, LoadStatus.READY),
        ({"status": "loading"}, LoadStatus.LOADING),
        ({"datasetsStatus": {"status": "completed"}}, LoadStatus.READY),
        ({"status": "error", "message": "bad csv"}, LoadStatus.FAILED),
        ({"status": "something new"}, LoadStatus.LOADING),  # unknown words wait, they never switch early
        ({}, LoadStatus.LOADING),
    ],
)
def test_status_vocabulary(body, state):
    assert parse_status(body).state is state


def test_api_message_reads_plain_text_bodies():
    response = requests.Response()
    response.status_code, response._content, response.reason = 502, b"<html>bad gateway</html>", "Bad Gateway"
    assert api_message(response) == "<html>bad gateway</html>"


# --- faults on the wire (issue 24: D1-D3) -----------------------------------------------------


def test_a_connection_dropped_in_the_middle_of_the_body_is_retried(geai, stub_fault):
    # D1: ChunkedEncodingError escaped after one attempt.
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 200, times=1, body={"status": "ready"}, drop=True))
    sleeps = []
    status = client_for(url, stub.token, sleeps).status(stub.assistant_id)
    assert status.state is LoadStatus.READY
    assert stub.count("GET", "/status") == 2 and sleeps == [0.5]


def test_a_200_with_an_html_page_is_retried_then_named_with_its_endpoint(geai, stub_fault):
    # D2: a bare JSONDecodeError named no endpoint.
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 200, times=99, html=True))
    with pytest.raises(GeaiError) as caught:
        client_for(url, stub.token, [], max_attempts=3).status(stub.assistant_id)
    message = str(caught.value)
    assert f"GET v1/assistant/{stub.assistant_id}/status failed after 3 attempts: HTTP 200" in message
    assert "not JSON (text/html" in message and "502 Bad Gateway" in message


# "1.5": delta-seconds are digits only (RFC 9110 10.2.3); urllib3's reader refuses it, so the backoff applies.
@pytest.mark.parametrize("header", ["-1", "nan", "inf", "soon", "1.5"])
def test_a_retry_after_that_is_not_a_wait_falls_back_to_the_backoff(geai, stub_fault, header):
    # D3: "Retry-After: -1" crashed the client with "sleep length must be non-negative".
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 429, times=1, retry_after=header))
    sleeps = []
    client_for(url, stub.token, sleeps).status(stub.assistant_id)
    assert sleeps == [0.5]


def test_a_retry_after_date_is_the_time_until_then_and_a_past_date_is_now(geai, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 503, times=1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    sleeps = []
    client_for(url, stub.token, sleeps).status(stub.assistant_id)
    assert sleeps == [0.0]


def test_an_answer_that_never_comes_times_out_and_is_retried(geai, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 200, times=1, body={"status": "ready"}, delay_s=0.5))
    sleeps = []
    status = client_for(url, stub.token, sleeps, timeout_s=0.1).status(stub.assistant_id)
    assert status.state is LoadStatus.READY and sleeps == [0.5]


def test_a_retry_after_longer_than_the_backoff_cap_waits_the_cap(geai, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 429, times=1, retry_after="3600"))
    stub.faults.append(stub_fault("GET", "/status", 503, times=1, retry_after=" 2 "))
    sleeps = []
    status = client_for(url, stub.token, sleeps, max_backoff_s=30.0).status(stub.assistant_id)
    assert status.state is LoadStatus.READY
    assert sleeps == [30.0, 2.0]  # each Retry-After honoured, none beyond the cap


def test_a_rejection_after_retries_reports_how_many_attempts_it_took(geai, stub_fault):
    stub, url = geai
    stub.faults.append(stub_fault("GET", "/status", 503, times=2))
    stub.faults.append(stub_fault("GET", "/status", 403, times=1))
    sleeps = []
    with pytest.raises(GeaiError) as caught:
        client_for(url, stub.token, sleeps).status(stub.assistant_id)
    assert caught.value.status == 403 and caught.value.attempts == 3
    assert "failed after 3 attempts: HTTP 403" in str(caught.value)
    assert sleeps == [0.5, 1.0]
