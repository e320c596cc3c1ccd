"""Notices of a run that found differences: the e-mail a real SMTP server receives, the gauges scraped.

The SMTP server is aiosmtpd's, started by the test on a free port: what it receives is what a mail
server would be handed, headers, envelope and login included.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from crmsync import config, db
from crmsync.models import ReconcileDifference, ReconcileRun
from reconciler import notify
from tests.support import free_port

PERSONAL = ("siobhan.oneil@example.org", "O'Neil", "user:3", "enrolment:3:2")


class Inbox:
    """aiosmtpd handler keeping what it was given."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret")


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox.authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def settings(database_url: str, port: int, **extra) -> config.Config:
    return config.load(environ={"DATABASE_URL": database_url, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
                                "SMTP_FROM": "crmsync@example.org", "SMTP_STARTTLS": "false",
                                "RECONCILE_EMAIL_TO": "ops@example.org, registrar@example.org", **extra},
                       env_file=None)


def finished_run(database_url: str, counts: dict, status: str = "done") -> int:
    """A run as the reconciler leaves it, with the differences behind its counts (personal data in them)."""
    started = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    with db.session_scope(database_url) as session:
        run = ReconcileRun(site_id="site-1", started_at=started, finished_at=started + timedelta(minutes=42, seconds=5),
                           status=status, trigger="schedule", counts=counts, requests={"moodle": 61, "crm": 240})
        run.differences = [
            ReconcileDifference(kind="field_differs", entity="user", key="user:3", crm_module="Contacts",
                                crm_id="7d0c5e2a-93b4-4c1e-9f1a-2b6d8e4c0a13", field="email1",
                                moodle_value="siobhan.oneil@example.org", crm_value="s.oneil@example.org", owner="moodle"),
            ReconcileDifference(kind="missing_in_crm", entity="enrolment", key="enrolment:3:2", owner="moodle",
                                moodle_value="O'Neil"),
        ]
        session.add(run)
        session.flush()
        return run.id


def test_the_email_gives_the_counts_and_no_personal_data(sqlite_url, smtp_server):
    port, inbox = smtp_server
    run_id = finished_run(sqlite_url, {"field_differs": {"user": 1, "grade": 0}, "missing_in_crm": {"enrolment": 1}})
    outcome = notify.notify_run(settings(sqlite_url, port), run_id)
    assert outcome == {"email": "sent", "moodle": "off"}
    [(recipients, raw)] = inbox.messages
    assert recipients == ["ops@example.org", "registrar@example.org"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["From"] == "crmsync@example.org" and mail["Message-ID"]
    assert mail["Subject"] == f"Moodle ⇄ SuiteCRM reconciliation: 2 differences found (site site-1, run {run_id})"
    body = mail.get_content()
    assert "1  user        a field differs (field_differs)" in body
    assert "1  enrolment   missing in the CRM (missing_in_crm)" in body
    assert "grade" not in body  # kinds with no difference are left out
    assert "42 min 05 s" in body and "61 to Moodle, 240 to SuiteCRM" in body
    assert f"/api/v1/reconciliations/{run_id}/differences?format=csv" in body
    assert not [text for text in PERSONAL if text in raw.decode("utf-8", "replace")]


def test_no_notice_for_a_run_that_found_nothing_or_did_not_finish(sqlite_url, smtp_server):
    port, inbox = smtp_server
    clean = finished_run(sqlite_url, {"field_differs": {"user": 0}})
    interrupted = finished_run(sqlite_url, {"field_differs": {"user": 4}}, status="interrupted")
    for run_id in (clean, interrupted):
        assert notify.notify_run(settings(sqlite_url, port), run_id)["email"] == "nothing to report"
    assert inbox.messages == []


def test_login_and_a_refused_starttls(sqlite_url, smtp_server):
    """SMTP_USERNAME logs in; with SMTP_STARTTLS a server offering no TLS is sent nothing, password included."""
    port, inbox = smtp_server
    run_id = finished_run(sqlite_url, {"extra_in_crm": {"course": 3}})
    assert notify.notify_run(settings(sqlite_url, port, SMTP_USERNAME="crmsync", SMTP_PASSWORD="s3cret"),
                             run_id)["email"] == "sent"
    assert inbox.logins == [("crmsync", "s3cret")] and len(inbox.messages) == 1
    refused = notify.notify_run(settings(sqlite_url, port, SMTP_STARTTLS="true", SMTP_USERNAME="crmsync",
                                         SMTP_PASSWORD="s3cret"), run_id)
    assert refused["email"] == "failed: SMTPNotSupportedError"
    assert inbox.logins == [("crmsync", "s3cret")] and len(inbox.messages) == 1


def test_an_unreachable_smtp_server_is_logged_not_raised(sqlite_url, caplog):
    run_id = finished_run(sqlite_url, {"field_differs": {"user": 1}})
    outcome = notify.notify_run(settings(sqlite_url, free_port()), run_id)
    assert outcome["email"] == "failed: ConnectionRefusedError"
    assert f"reconciliation run {run_id}: the e-mail was not sent" in caplog.text


def test_every_process_serves_the_gauges_of_the_latest_finished_run(sqlite_url, redis_url):
    """Read from the database at scrape time: a worker process and the receiver that ran nothing show it."""
    from tests.receiver.conftest import Receiver
    from tests.support import background_process

    finished_run(sqlite_url, {"missing_in_crm": {"user": 7}})
    latest = finished_run(sqlite_url, {"field_differs": {"grade": 2}, "missing_in_crm": {"enrolment": 1}})
    finished_run(sqlite_url, {"field_differs": {"user": 9}}, status="interrupted")  # not finished: not shown
    with db.session_scope(sqlite_url) as session:
        finished = session.get(ReconcileRun, latest).finished_at.timestamp()
    port = free_port()
    env = {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "WORKER_METRICS_PORT": str(port), "QUEUE_NAME": "idle",
           "SUITECRM_URL": "http://127.0.0.1:9", "SUITECRM_CLIENT_ID": "x", "SUITECRM_CLIENT_SECRET": "x"}
    with background_process([sys.executable, "-m", "crmsync", "worker"], env=env,
                            ready_url=f"http://127.0.0.1:{port}/metrics"):
        worker = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    receiver = Receiver(sqlite_url, redis_url).client.get("/metrics").get_data(as_text=True)
    for metrics in (worker, receiver):
        gauges = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("crmsync_reconcile_")}
        assert gauges['crmsync_reconcile_differences{entity="grade",kind="field_differs"}'] == 2
        assert gauges['crmsync_reconcile_differences{entity="enrolment",kind="missing_in_crm"}'] == 1
        assert gauges['crmsync_reconcile_differences{entity="user",kind="missing_in_crm"}'] == 0  # the older run's
        assert gauges['crmsync_reconcile_differences{entity="user",kind="field_differs"}'] == 0  # unfinished run's
        assert gauges["crmsync_reconcile_last_run_timestamp_seconds"] == pytest.approx(finished)
