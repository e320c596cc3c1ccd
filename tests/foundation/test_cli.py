"""What an operator sees from the `crmsync` command when something is wrong: one clear line, no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

CRMSYNC = str(Path(sys.executable).parent / "crmsync")


def crmsync(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([CRMSYNC, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_config_masks_passwords_inside_urls():
    shown = crmsync("config", DATABASE_URL="postgresql://sync:p4ss-w0rd@db.internal/crmsync",
                    REDIS_URL="redis://:r3dis-pw@cache.internal:6379/0")
    assert shown.returncode == 0, shown.stderr
    assert "p4ss-w0rd" not in shown.stdout and "r3dis-pw" not in shown.stdout
    assert "DATABASE_URL=postgresql://sync:***@db.internal/crmsync" in shown.stdout


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path):
    failed = crmsync("migrate", cwd=tmp_path, DATABASE_URL="postgresql://sync:s3cret@127.0.0.1:1/crmsync")
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[0].startswith("cannot use the database (postgresql://sync:***@127.0.0.1:1/crmsync)")
    assert "s3cret" not in failed.stderr


def test_migrate_says_what_it_did(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = crmsync("migrate", cwd=tmp_path, DATABASE_URL=url)
    second = crmsync("migrate", cwd=tmp_path, DATABASE_URL=url)
    assert "upgraded from an empty database to revision" in first.stdout
    assert "database schema is up to date (revision" in second.stdout


def test_a_named_env_file_must_exist(tmp_path):
    missing = crmsync("--env-file", str(tmp_path / "nope.env"), "config", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_the_env_file_reaches_the_processes_that_do_the_work(tmp_path, redis_url):
    """gunicorn's workers read the named file too: a secret only there verifies a signed POST."""
    import json

    import requests

    from tests.receiver.conftest import message, new_secret, signed
    from tests.support import background_process, free_port

    port, secret = free_port(), new_secret()
    env_file = tmp_path / "receiver.env"
    env_file.write_text(f"WEBHOOK_SECRETS={secret}\nDATABASE_URL=sqlite:///{tmp_path / 'named.db'}\n"
                        f"REDIS_URL={redis_url}\nBIND=127.0.0.1:{port}\nWEB_CONCURRENCY=1\n")
    clean = {k: "" for k in ("WEBHOOK_SECRETS", "DATABASE_URL", "BIND")}
    environment = {k: v for k, v in os.environ.items() if k not in clean}
    with background_process([CRMSYNC, "--env-file", str(env_file), "serve"], env=environment, cwd=tmp_path,
                            ready_url=f"http://127.0.0.1:{port}/healthz"):
        body = json.dumps(message())
        answer = requests.post(f"http://127.0.0.1:{port}/webhooks/moodle", data=body, headers=signed(body, secret),
                               timeout=10)
    assert answer.status_code == 202, answer.text
    assert (tmp_path / "named.db").exists()  # the database the file names, not the default


def test_the_sandbox_secret_stays_out_of_the_process_list(tmp_path):
    from tests.support import background_process, free_port

    port = free_port()
    with background_process([CRMSYNC, "sandbox", "--bind", f"127.0.0.1:{port}", "--database", ":memory:"],
                            env={"SANDBOX_CLIENT_SECRET": "sandbox-secret-from-env"}, cwd=tmp_path,
                            ready_url=f"http://127.0.0.1:{port}/__sandbox/faults") as process:
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        import requests

        token = requests.post(f"http://127.0.0.1:{port}/Api/access_token", timeout=5, json={
            "grant_type": "client_credentials", "client_id": "crmsync-sandbox",
            "client_secret": "sandbox-secret-from-env"})
    assert "sandbox-secret-from-env" not in cmdline
    assert token.status_code == 200
