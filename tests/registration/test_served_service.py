"""`crmsync registration serve` under gunicorn, behind nginx configured with the shipped site file: the
pages answer, nginx forwards the visitor's address, and no log line holds a link's token."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import requests

from tests.support import REPO, background_process, free_port, wait_for_http

SITE = REPO / "docs" / "deploy" / "nginx-registration.conf"
PROXY = REPO / "docs" / "deploy" / "crmsync-registration-proxy.conf"
TOKEN = "Zq3_secret-token-of-a-link-0123456789abcdef"


@pytest.fixture
def served(sqlite_url, redis_url, tmp_path):
    port = free_port()
    env = {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "REGISTRATION_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1", "TRUSTED_PROXIES": "1", "LOG_FORMAT": "text", "REGISTRATION_SECRET_KEY": ""}
    loaded = subprocess.run([sys.executable, "-m", "crmsync", "registration", "load-catalogue"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0 and "catalogue loaded" in loaded.stdout, loaded.stderr
    with background_process([sys.executable, "-m", "crmsync", "registration", "serve"], env=env,
                            cwd=tmp_path) as process:
        wait_for_http(f"http://127.0.0.1:{port}/static/style.css", process=process)
        yield port, process


@pytest.fixture
def nginx(served, tmp_path):
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed (make test installs nginx-light)")
    port = free_port()
    site = SITE.read_text().replace("registration:8095", f"127.0.0.1:{served[0]}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};").replace(
        "/etc/nginx/crmsync-registration-proxy.conf", str(PROXY))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    process = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g",
                                "daemon off;"], stderr=subprocess.PIPE, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/static/style.css", process=process)
        yield port, served
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_pages_through_nginx_and_no_token_in_any_log(nginx, tmp_path):
    port, (_, service) = nginx
    base = f"http://127.0.0.1:{port}"
    index = requests.get(f"{base}/", headers={"Accept-Language": "ru"}, timeout=10)
    assert index.status_code == 200 and "Russian for Beginners" in index.text and "Выберите программу" in index.text
    form = requests.get(f"{base}/programmes/1", timeout=10)
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    assert requests.get(f"{base}/confirm/{TOKEN}", timeout=10).status_code == 404
    assert requests.get(f"{base}/previous/{TOKEN}?programme=1", timeout=10).status_code == 404
    assert requests.get(f"{base}/staff/", headers={"Accept": "application/json"}, timeout=10).status_code == 401
    too_big = requests.post(f"{base}/programmes/1", data={"x": "y" * 300_000}, timeout=10)
    assert too_big.status_code == 413
    service.terminate()
    output = service.communicate(timeout=20)[0]
    assert "REGISTRATION_SECRET_KEY is not set: using a new random one" in output
    assert '"GET /confirm/… HTTP/1.1" 404' in output and "/programmes/1" in output  # gunicorn's access log
    assert TOKEN not in output
    assert TOKEN not in (tmp_path / "access.log").read_text()
