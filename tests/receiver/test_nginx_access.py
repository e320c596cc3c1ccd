"""The shipped nginx site keeps the admin API and the metrics off the public webhook host."""

from __future__ import annotations

import http.client

import pytest

from tests.receiver.test_http import gunicorn, nginx  # noqa: F401 - the real gunicorn and nginx fixtures


def _status(port: int, path: str, source: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    connection.request("GET", path)
    return connection.getresponse().status


@pytest.mark.parametrize("path", ["/api/v1/stats", "/metrics", "/api/v1/openapi.json"])
def test_operator_endpoints_answer_only_this_host(nginx, path):  # noqa: F811
    port, _ = nginx
    assert _status(port, path, "127.0.0.2") == 403  # any other client address, as a public one would be
    assert _status(port, path, "127.0.0.1") in (200, 401)  # reaches the receiver (the admin API wants a token)


@pytest.mark.parametrize("path", ["/webhooks/moodle", "/webhooks/crm"])
def test_moodle_and_the_crm_still_reach_the_webhook_and_health_paths(nginx, path):  # noqa: F811
    port, _ = nginx
    assert _status(port, "/healthz", "127.0.0.2") == 200
    assert _status(port, path, "127.0.0.2") in (400, 401, 405)  # the receiver's answer, not nginx's
