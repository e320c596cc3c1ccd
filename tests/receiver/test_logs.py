"""Every line the receiver's processes write is JSON when asked, and none carries a secret or personal data."""

from __future__ import annotations

import json
import sys

import requests

from tests.connector.conftest import user
from tests.receiver.conftest import message, new_secret, signed
from tests.support import background_process, free_port


def test_gunicorn_and_the_app_write_json_lines_without_secrets_or_personal_data(sqlite_url, redis_url, tmp_path):
    port = free_port()
    secret, admin_token = new_secret(), "admin-token-that-must-not-be-logged"
    env = {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "WEBHOOK_SECRETS": secret, "BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1", "LOG_FORMAT": "json", "ADMIN_API_TOKENS": admin_token}
    sent = message(type="user.created", subject="user:3", data=user(3, "Zebediah",
                                                                     email="zebediah.private@example.invalid"))
    body = json.dumps(sent)
    with background_process([sys.executable, "-m", "crmsync", "serve"], env=env, cwd=tmp_path,
                            ready_url=f"http://127.0.0.1:{port}/healthz") as process:
        assert requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=body, headers=signed(body, secret),
                             timeout=10).status_code == 202
        bad = requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=body, timeout=10,
                            headers={**signed(body, secret), "webhook-signature": "v1,Zm9v"})
        assert bad.status_code == 401
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/stats", timeout=10,
                            headers={"Authorization": f"Bearer {admin_token}"}).status_code == 200
        process.terminate()
        output = process.communicate(timeout=30)[0]

    lines = [line for line in output.splitlines() if line.strip()]
    assert any("Booting worker" in json.loads(line)["message"] for line in lines)  # gunicorn's own, as JSON
    assert any('"POST /webhooks/moodle' in json.loads(line)["message"] for line in lines)  # its access log
    for line in lines:
        json.loads(line)  # every line, gunicorn's included
    for private in (secret, secret.removeprefix("whsec_"), admin_token, "Zebediah", "zebediah.private"):
        assert private not in output
