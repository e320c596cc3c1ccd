"""`crmsync demo` shows what reached the CRM by reading it as any SuiteCRM is read: the V8 API."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
import uuid

from crm_connector.suitecrm import SuiteCrmClient
from crmsync import config
from moodle_sandbox.testing import MoodleSandboxProcess
from suitecrm_sandbox.testing import SandboxProcess
from tests.connector.conftest import user
from tests.support import REPO, receiver_in_thread


def test_the_demo_code_reads_no_sandbox_only_url():
    for path in ("crm_connector/demo.py", "crm_connector/commands.py"):
        assert "__sandbox" not in (REPO / path).read_text(), path


def test_the_demo_prints_the_records_of_its_own_site_through_the_v8_api(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:3", user(3, "Other-site")))  # same user id, another site
    worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=pipeline.env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        demo = subprocess.run([sys.executable, "-m", "crmsync", "demo", "--url", pipeline.url, "--secret",
                               pipeline.secret, "--wait", "120"], env=pipeline.env, cwd=REPO, capture_output=True,
                              text=True, timeout=180)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert demo.returncode == 0, demo.stderr[-3000:]
    assert time.monotonic() - started < 100  # it saw the records arrive instead of waiting out --wait
    out = demo.stdout
    for module in ("Contacts", "mdl_Enrolments", "mdl_Grades", "mdl_Attendance"):
        assert f"\n{module}: 3 records" in out, out
    assert "\nmdl_Completions: 6 records" in out, out
    assert "first_name=Alice" in out and "Other-site" not in out
    assert "course_name=CRM Sync Test Course" in out and "accessed=accessed" in out


def test_the_demo_shows_a_crm_users_edit_arriving_in_moodle(sqlite_url, redis_url, tmp_path):
    """`crmsync demo` against what `crmsync run` starts: the SuiteCRM sandbox sending CRM users' edits to the
    receiver's /webhooks/crm, the Moodle sandbox, a worker; the demo finds them through var/."""
    moodle_secret, crm_secret, queue = new_secret(), new_secret(), f"demo-{uuid.uuid4().hex[:12]}"
    settings = config.load(environ={"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "WEBHOOK_SECRETS": moodle_secret,
                                    "CRM_WEBHOOK_SECRETS": crm_secret, "ADMIN_API_TOKENS": "demo-admin-token",
                                    "QUEUE_NAME": queue, "LOG_LEVEL": "WARNING"}, env_file=None)
    server, receiver_url = receiver_in_thread(settings)
    receiver = receiver_url.removeprefix("http://")
    with SandboxProcess(crm_receiver_url=f"http://{receiver}/webhooks/crm", crm_secret=crm_secret) as crm, \
            MoodleSandboxProcess() as moodle:
        state = tmp_path / "var"
        state.mkdir()
        for name, value in (("sandbox-client-secret", crm.client_secret), ("sandbox-password", crm.password),
                            ("moodle-sandbox-token", moodle.token), ("admin-token", "demo-admin-token")):
            (state / name).write_text(value + "\n")
        common = {**os.environ, "DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "WEBHOOK_SECRETS": moodle_secret,
                  "CRM_WEBHOOK_SECRETS": crm_secret, "QUEUE_NAME": queue,
                  "LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
        for name in ("SUITECRM_URL", "MOODLE_URL", "MOODLE_TOKEN", "ADMIN_API_TOKENS"):
            common.pop(name, None)
        worker_env = {**common, "SUITECRM_URL": crm.url, "SUITECRM_CLIENT_ID": crm.client_id,
                      "SUITECRM_CLIENT_SECRET": crm.client_secret, "MOODLE_URL": moodle.url,
                      "MOODLE_TOKEN": moodle.token, "MOODLE_SITE_ID": "demo-moodle",
                      "SWEEP_INTERVAL_SECONDS": "1", "SWEEP_GRACE_SECONDS": "2"}
        # As `crmsync run` leaves it: no CRM nor Moodle configured, the sandboxes found at their binds and in var/.
        demo_env = {**common, "BIND": receiver, "SANDBOX_BIND": crm.url.removeprefix("http://"),
                    "MOODLE_SANDBOX_BIND": moodle.url.removeprefix("http://")}
        worker_log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=worker_env, cwd=tmp_path,
                                  stdout=worker_log, stderr=subprocess.STDOUT)
        try:
            demo = subprocess.run([sys.executable, "-m", "crmsync", "demo", "--wait", "90"],
                                  env=demo_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            worker_log.close()
            server.shutdown()
        out = demo.stdout
        assert "\nContacts: 3 records" in out, out + demo.stderr[-3000:] + (tmp_path / "worker.log").read_text()[-3000:]
        edited = re.search(r"admin, a CRM user, set Alice Anders's department to '([^']+)' in the CRM", out)
        assert edited, out
        assert "waiting for it to reach Moodle" in out

        # The CRM side, whatever the connector does with it: the receiver stored the CRM user's edit, decoded.
        stored = [e.payload for e in _inbox(sqlite_url) if e.type == "contact.updated"]
        assert [(p["data"]["changed"], p["data"]["fields"]["department"], p["data"]["moodle"]) for p in stored] == [
            (["department"], edited[1], {"site_id": "demo-moodle", "user_id": 3})]
        assert crm.crm_channel()["waiting"] == 0

        assert demo.returncode == 0, demo.stderr[-3000:]
        assert "Moodle user 3 (student1) now has department=" in out
        alice, = [u for u in moodle.records("user") if u["id"] == 3]
        assert alice["department"] == edited[1]

        # The intake and the move, made in the CRM, in Moodle: the learners end in Group B only.
        intake, move = out.split("\nIntake: ", 1)[1].split("\nGroup move: ", 1)
        assert "enrols them in CRM101, group Group A" in intake, out
        assert "Alice Anders: groups Group A" in intake and "Bob Brown: groups Group A" in intake, out
        # Carol's Moodle account was deleted in Moodle: her own record says so, in words, and names her.
        assert "CRM101 / user 5: failed: Carol Clark's Moodle user 5 is not in Moodle any more" in intake, out
        assert "Alice Anders: groups Group B" in move and "Bob Brown: groups Group B" in move, out
        groups = {g["id"]: g["name"] for g in moodle.records("groups")}
        members = {(groups[m["groupid"]], m["userid"]) for m in moodle.records("groups_members")}
        assert {("Group B", 3), ("Group B", 4)} <= members and not {("Group A", 3), ("Group A", 4)} & members

        # The sample registration programmes (seeded by `crmsync run` before the CRM had a course) name CRM101 now.
        assert "Registration: the sample programmes are now related to 3 Moodle course record(s)" in out, out
        client = SuiteCrmClient(crm.url, crm.client_id, crm.client_secret, timeout=10)
        crm101 = {c["id"] for c in client.find("mdl_Courses", {}, fields=["shortname"]) if c["shortname"] == "CRM101"}
        programmes = list(client.find("mdl_Programmes", {}, fields=["name"]))
        assert len(programmes) == 3 and len(crm101) == 1
        for programme in programmes:
            assert {c["id"] for c in client.related("mdl_Programmes", programme["id"], "mdl_programmes_mdl_courses")} \
                == crm101, programme


def _inbox(database_url: str) -> list:
    from sqlalchemy import select

    from crmsync import db
    from crmsync.models import InboxEvent

    with db.session_scope(database_url) as session:
        return list(session.scalars(select(InboxEvent)).all())


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()
