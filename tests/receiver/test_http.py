"""The receiver under gunicorn, and behind nginx configured with the shipped site file, over real sockets."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys

import pytest
import requests

from tests.receiver.conftest import message, new_secret, signed
from tests.support import REPO, background_process, free_port, wait_for_http

NGINX_SITE = REPO / "docs" / "deploy" / "nginx-crmsync.conf"
CRM_SECRET = new_secret()  # the served receiver's CRM_WEBHOOK_SECRETS


@pytest.fixture
def gunicorn(sqlite_url, redis_url, tmp_path):
    port = free_port()
    secret = new_secret()
    env = {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "WEBHOOK_SECRETS": secret,
           "CRM_WEBHOOK_SECRETS": CRM_SECRET, "BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1", "MAX_BODY_BYTES": "4096", "TRUSTED_PROXIES": "1", "LOG_FORMAT": "json"}
    with background_process([sys.executable, "-m", "crmsync", "serve"], env=env, cwd=tmp_path) as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        yield port, secret, process


def test_signed_post_is_accepted_over_http(gunicorn):
    port, secret, _ = gunicorn
    body = json.dumps(message())
    response = requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=body, headers=signed(body, secret),
                             timeout=10)
    assert response.status_code == 202


def test_oversize_chunked_body_without_content_length_is_413(gunicorn):
    port, secret, _ = gunicorn
    chunks = (b"x" * 1024 for _ in range(64))  # 64 KiB, streamed: the receiver never learns the size up front
    response = requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=chunks, timeout=10,
                             headers={"Content-Type": "application/json", "webhook-id": "x",
                                      "webhook-timestamp": "1", "webhook-signature": "v1,x"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413


@pytest.mark.parametrize("size", [10_000, 30_000])
def test_over_long_webhook_id_gets_our_json_400_not_gunicorns_431(gunicorn, size):
    port, secret, _ = gunicorn
    body = json.dumps(message())
    headers = {**signed(body, secret), "webhook-id": "x" * size}
    response = requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=body, headers=headers, timeout=10)
    assert response.status_code == 400
    assert "webhook-id" in response.json()["error"]


def test_gunicorn_lets_header_fields_through_to_our_own_limits():
    from receiver import gunicorn_config, webhooks

    assert gunicorn_config.limit_request_field_size > 30_000 > webhooks.MAX_WEBHOOK_ID


@pytest.fixture
def nginx(gunicorn, tmp_path):
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed (make test installs nginx-light)")
    port = free_port()
    site = NGINX_SITE.read_text().replace("receiver:8080", f"127.0.0.1:{gunicorn[0]}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    process = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        yield port, gunicorn
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_signed_post_passes_nginx_with_client_address_and_host_forwarded(nginx):
    port, (_, secret, receiver_process) = nginx
    body = json.dumps(message())
    # From 127.0.0.2, so the client address differs from nginx's own (127.0.0.1) towards gunicorn.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
    connection.request("POST", "/webhooks/moodle", body=body,
                       headers={**signed(body, secret), "Host": "sync.example.org"})
    assert connection.getresponse().status == 202
    receiver_process.terminate()
    output = receiver_process.communicate(timeout=20)[0]
    accepted = [json.loads(line) for line in output.splitlines() if '"accepted webhook' in line]
    assert accepted and accepted[0]["client"] == "127.0.0.2"
    assert (accepted[0]["host"], accepted[0]["scheme"]) == ("sync.example.org", "http")


def test_nginx_refuses_an_oversize_body_itself(nginx):
    port, _ = nginx
    response = requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=b"x" * (2 * 1024 * 1024),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413
    assert "nginx" in response.text  # nginx's own error page: the request never reached gunicorn


def test_nginx_proxy_timeout_outlasts_gunicorn():
    from receiver import gunicorn_config

    read_timeout = int(NGINX_SITE.read_text().split("proxy_read_timeout")[1].split("s;")[0])
    assert read_timeout > gunicorn_config.timeout
