"""moto server on 127.0.0.1: real HTTP for every process, quiet in the logs, stopped by its context manager."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlparse

from cicd.engines.moto_server import moto_server


def test_requests_are_not_logged_one_line_each(capfd, caplog):
    # werkzeug logs a line per request by default (to stderr when nothing else handles its logger): the
    # rehearsal printed ~7,500 of them in ten minutes of CI log.
    with moto_server() as server:
        s3 = server.client("s3")
        server.create_bucket("quiet")
        for index in range(3):
            s3.put_object(Bucket="quiet", Key=f"k{index}", Body=b"x")
    captured = capfd.readouterr()
    assert "HTTP/1.1" not in captured.err + captured.out
    assert [record.getMessage() for record in caplog.records if record.name == "werkzeug"] == []


def test_the_server_listens_on_loopback_and_is_stopped_at_the_end():
    before = logging.getLogger("werkzeug").level
    with moto_server() as server:
        address = urlparse(server.endpoint)
        assert address.hostname == "127.0.0.1"
        socket.create_connection((address.hostname, address.port), timeout=5).close()
    assert logging.getLogger("werkzeug").level == before
    try:
        socket.create_connection((address.hostname, address.port), timeout=2).close()
    except OSError:
        return
    raise AssertionError(f"{server.endpoint} still accepts connections after the context ended")
