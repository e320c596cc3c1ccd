"""`make run` brings the whole product up on embedded defaults and stops it cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from crm_connector.moodle import MoodleClient, MoodleError
from tests.support import REPO, free_port, wait_for_http

pytestmark = pytest.mark.slow


@pytest.fixture
def make_run(tmp_path, redis_url):
    bind = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "BIND": bind, "SANDBOX_BIND": f"127.0.0.1:{free_port()}",
           "SANDBOX_DATABASE": str(tmp_path / "sandbox.db"), "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
           "MOODLE_SANDBOX_BIND": f"127.0.0.1:{free_port()}", "REGISTRATION_BIND": f"127.0.0.1:{free_port()}",
           "MOODLE_SANDBOX_DATABASE": str(tmp_path / "moodle-sandbox.db"),
           "REDIS_URL": redis_url, "WEB_CONCURRENCY": "1"}
    for name in ("SUITECRM_URL", "MOODLE_URL", "MOODLE_TOKEN", "WEBHOOK_SECRETS", "CRM_WEBHOOK_SECRETS",
                 "ADMIN_API_TOKENS"):
        env.pop(name, None)
    log = tmp_path / "make-run.log"
    with log.open("w") as out:
        process = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, text=True)
    try:
        wait_for_http(f"http://{bind}/healthz", timeout=60, process=process)
        deadline = time.monotonic() + 30
        while "Sample data:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield process, bind, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C: crmsync stops what it started
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _printed(log, label: str) -> str:
    for line in log.read_text().splitlines():
        if label in line:
            return line.split(label, 1)[1].strip().split()[0]
    raise AssertionError(f"make run did not print {label!r}:\n{log.read_text()}")


def test_make_run_serves_and_stops_cleanly(make_run):
    process, bind, log = make_run
    assert requests.get(f"http://{bind}/healthz", timeout=5).status_code == 200
    assert _printed(log, "Receiver URL:") == f"http://{bind}/webhooks/moodle"
    assert _printed(log, "Signing secret:").startswith("whsec_")
    moodle = MoodleClient(_printed(log, "Moodle:"), _printed(log, "token:"))
    assert moodle.get_site_info()["username"] == "admin"  # the Moodle sandbox answers, with the printed token

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    # make itself dies of the SIGINT, as make does; what matters is that crmsync stopped its children.
    assert process.wait(timeout=40) in (0, -signal.SIGINT), log.read_text()
    printed = log.read_text()
    assert "stopping" in printed and "Traceback" not in printed, printed
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{bind}/healthz", timeout=2)
    with pytest.raises(MoodleError):
        moodle.get_site_info()  # the Moodle sandbox stopped too


def test_make_run_serves_the_registration_pages_with_the_sample_catalogue(make_run):
    _process, _bind, log = make_run
    index = requests.get(_printed(log, "Registration:"), timeout=10)
    assert index.status_code == 200 and "Russian for Beginners" in index.text


def test_make_run_sends_a_crm_users_edit_in_the_crm_sandbox_to_the_receiver(make_run):
    process, bind, log = make_run
    crm_url = _printed(log, "SuiteCRM:")
    assert _printed(log, "CRM changes:") == f"http://{bind}/webhooks/crm"
    crm_line = next(line for line in log.read_text().splitlines() if line.startswith("CRM changes:"))
    assert crm_line.split("secret:")[1].split()[0].startswith("whsec_")
    token = _printed(log, "(Authorization: Bearer").rstrip(")")
    # A CRM user (the password grant), not the sync's API user: the sandbox's channel records the edit.
    login = requests.post(f"{crm_url}/Api/access_token", timeout=10, json={
        "grant_type": "password", "client_id": "crmsync-sandbox",
        "client_secret": (REPO / "var" / "sandbox-client-secret").read_text().strip(),
        "username": "admin", "password": (REPO / "var" / "sandbox-password").read_text().strip()})
    assert login.status_code == 200, login.text
    created = requests.post(f"{crm_url}/Api/V8/module", timeout=10, json={"data": {"type": "Contacts", "attributes": {
        "first_name": "Ada", "last_name": "Lovelace", "moodle_site_id_c": "make-run-test", "moodle_user_id_c": "3"}}},
        headers={"Authorization": f"Bearer {login.json()['access_token']}", "Content-Type": "application/vnd.api+json"})
    assert created.status_code == 201, created.text
    subject = f"contact:{created.json()['data']['id']}"

    deadline = time.monotonic() + 30
    while True:
        listed = requests.get(f"http://{bind}/api/v1/events", params={"subject": subject}, timeout=10,
                              headers={"Authorization": f"Bearer {token}"}).json()["events"]
        if listed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(e["type"], e["site_id"].startswith("crm:")) for e in listed] == [("contact.updated", True)], listed


def test_make_run_puts_the_sample_catalogue_into_the_crm_sandbox_and_the_service_mirrors_it(make_run, tmp_path):
    """Staff decide in the bundled sandbox: the programmes the registration pages offer are the CRM's records."""
    import yaml
    from sqlalchemy import create_engine, text

    from crm_connector.suitecrm import SuiteCrmClient

    _process, _bind, log = make_run
    crm = SuiteCrmClient(_printed(log, "SuiteCRM:"), "crmsync-sandbox",
                         (REPO / "var" / "sandbox-client-secret").read_text().strip(), timeout=10)
    sample = yaml.safe_load((REPO / "registration" / "sample_catalogue.yaml").read_text())
    assert {p["id"] for p in crm.find("mdl_Programmes", {})} == {p["id"] for p in sample["programmes"]}
    assert {p["id"] for p in crm.find("mdl_RegProjects", {})} == {p["id"] for p in sample["projects"]}
    with create_engine(f"sqlite:///{tmp_path / 'run.db'}").connect() as connection:
        mirrored = set(connection.execute(text("SELECT crm_id FROM reg_programmes")).scalars())
    assert mirrored == {p["id"] for p in sample["programmes"]}


def test_make_run_accepts_a_message_signed_by_the_php_plugin(make_run, tmp_path):
    process, bind, log = make_run
    secret = _printed(log, "Signing secret:")
    token = _printed(log, "(Authorization: Bearer").rstrip(")")
    message_id = str(uuid.uuid4())
    body = json.dumps({
        "id": message_id, "type": "course_access.updated", "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sequence": 1, "subject": "course_access:3:2", "site": {"id": "make-run-test", "url": "http://moodle.invalid"},
        "moodle_event": None, "data": {"userid": 3, "courseid": 2, "lastaccess": 1795344100},
    })
    signed = subprocess.run(["php", "tests/php/tools/sign_message.php", secret, message_id, str(int(time.time()))],
                            input=body, capture_output=True, text=True, cwd=REPO, check=True)
    headers = {**json.loads(signed.stdout), "Content-Type": "application/json"}
    response = requests.post(f"http://{bind}/webhooks/moodle", data=body.encode(), headers=headers, timeout=10)
    assert response.status_code == 202, response.text

    shown = requests.get(f"http://{bind}/api/v1/events/{message_id}", headers={"Authorization": f"Bearer {token}"},
                         timeout=10)
    assert shown.status_code == 200
    statuses = [step["status"] for step in shown.json()["history"]]
    assert "queued" in statuses


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (proc / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in environ and "crmsync" in cmdline or text in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


def test_a_second_run_refuses_and_leaves_the_first_untouched(make_run):
    process, bind, log = make_run
    before = requests.get(f"http://{bind}/metrics", timeout=5).text
    second = subprocess.run([str(Path(sys.executable).parent / "crmsync"), "run"], cwd=REPO, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "BIND": f"127.0.0.1:{free_port()}"})
    assert second.returncode != 0
    assert "another `crmsync run` is already running" in second.stderr
    after = requests.get(f"http://{bind}/metrics", timeout=5).text
    assert "crmsync_" in before and "crmsync_" in after  # its metrics were not wiped


def test_a_killed_run_takes_its_children_with_it(make_run):
    process, bind, log = make_run
    run = next(int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split())
    os.kill(run, signal.SIGKILL)  # `crmsync run` itself, with no chance to stop anything
    process.wait(timeout=40)
    deadline = time.monotonic() + 30
    while _processes_mentioning(f"BIND={bind}"):
        assert time.monotonic() < deadline, _processes_mentioning(f"BIND={bind}")
        time.sleep(0.5)


@pytest.mark.parametrize("cycle", [1, 2])
def test_ctrl_c_under_load_leaves_no_process_behind(make_run, cycle):
    process, bind, log = make_run
    url = f"http://{bind}/healthz"
    stop_load = threading.Event()

    def load():
        while not stop_load.is_set():
            try:
                requests.get(url, timeout=1)
            except requests.RequestException:
                pass

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=40)
    stop_load.set()
    assert _processes_mentioning(f"BIND={bind}") == [], log.read_text()[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
