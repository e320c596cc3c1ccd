"""Staff digests over a real SMTP server: one mail per project and period to its admin_email, listing the
period's registrations per programme by status; nothing when nothing happened; never one per registration."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from rq import Queue

from crm_connector.commands import _sweep_forever
from crmsync import db
from crmsync.cli import cli
from crmsync.models import RegProgramme, RegProject, RegRegistration
from registration import catalogue, digest, schedule
from tests.registration.conftest import SAMPLE, make_config

DAY = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday


def _add(session, programme: str, status: str, at: datetime, email: str = "x@example.org") -> str:
    registration = RegRegistration(
        id=str(uuid.uuid4()), programme_id=session.query(RegProgramme).filter_by(name=programme).one().id,
        email=email, answers={"first_name": "Secret"}, status=status, consent_version="v", consent_at=at,
        submitted_at=at, confirmed_at=at if status != "unconfirmed" else None,
        hold_until=at + timedelta(days=30) if status == "unconfirmed" else None)
    session.add(registration)
    return registration.id


def _catalogue(url: str) -> None:
    with db.session_scope(url) as session:
        catalogue.load_sample(session, SAMPLE)


def test_one_digest_per_project_and_period(sqlite_url, smtp_inbox):
    port, inbox = smtp_inbox
    config = make_config(sqlite_url, "redis://127.0.0.1:6379/9", port)
    _catalogue(sqlite_url)
    with db.session_scope(sqlite_url) as session:
        ids = [_add(session, "Data Analysis with Python", "submitted", DAY + timedelta(hours=9)),
               _add(session, "Data Analysis with Python", "submitted", DAY + timedelta(hours=10)),
               _add(session, "Data Analysis with Python", "accepted", DAY + timedelta(hours=11)),
               _add(session, "Russian for Beginners", "unconfirmed", DAY + timedelta(hours=12))]
        _add(session, "Data Analysis with Python", "submitted", DAY - timedelta(hours=1))  # the day before
        _add(session, "Project Management Essentials", "submitted", DAY + timedelta(hours=9))  # weekly project
    outcome = digest.send_digests(config, now=DAY + timedelta(days=1, hours=7))
    summer, weekly_project = "7a0c1e52-0000-4000-8000-000000000001", "7a0c1e52-0000-4000-8000-000000000002"
    # The weekly project's last complete week (to Monday 2026-11-30) had none; this week is not over.
    assert outcome == {summer: "sent", weekly_project: "nothing"}
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "summer-school@example.org"
    assert message["Subject"] == "Summer School: 4 registrations (2026-12-01)"
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Data Analysis with Python — 4 of 30 places taken, open" in body
    assert "  submitted: 2\n" in body and "  accepted: 1\n" in body
    assert "Russian for Beginners — 1 of 1 places taken, full" in body and "  unconfirmed: 1\n" in body
    assert all(i[:8] in body for i in ids)
    assert "x@example.org" not in body and "Secret" not in body  # no person in the mail
    # Handled once: the same day again sends nothing; a day without registrations sends nothing.
    assert digest.send_digests(config, now=DAY + timedelta(days=1, hours=8)) == {}
    assert digest.send_digests(config, now=DAY + timedelta(days=2, hours=7)) == {summer: "nothing"}
    assert len(inbox.messages) == 1
    # The weekly project's digest after its week (Monday 2026-11-30 to Sunday 2026-12-06).
    outcome = digest.send_digests(config, now=datetime(2026, 12, 7, 6, tzinfo=UTC))
    assert outcome[weekly_project] == "sent"
    weekly = inbox.messages[-1]
    assert weekly["To"] == "cpd@example.org"
    assert weekly["Subject"] == "Professional Development: 1 registration (2026-11-30 – 2026-12-06)"


def test_a_failed_digest_is_sent_at_the_next_run(sqlite_url, smtp_inbox):
    port, inbox = smtp_inbox
    _catalogue(sqlite_url)
    with db.session_scope(sqlite_url) as session:
        _add(session, "Data Analysis with Python", "submitted", DAY + timedelta(hours=9))
    broken = make_config(sqlite_url, "redis://127.0.0.1:6379/9", 1)
    assert digest.send_digests(broken, now=DAY + timedelta(days=1))["7a0c1e52-0000-4000-8000-000000000001"] \
        .startswith("failed")
    working = make_config(sqlite_url, "redis://127.0.0.1:6379/9", port)
    assert digest.send_digests(working, now=DAY + timedelta(days=1, hours=1)) == {
        "7a0c1e52-0000-4000-8000-000000000001": "sent"}
    assert len(inbox.messages) == 1


def test_send_digests_command(sqlite_url, smtp_inbox, monkeypatch):
    port, inbox = smtp_inbox
    _catalogue(sqlite_url)
    with db.session_scope(sqlite_url) as session:
        _add(session, "Data Analysis with Python", "submitted", datetime.now(UTC) - timedelta(days=1))
        session.query(RegProject).update({"digest_sent_until": None})
    environ = {"DATABASE_URL": sqlite_url, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
               "SMTP_STARTTLS": "false", "SMTP_FROM": "registration@example.org"}
    result = CliRunner().invoke(cli, ["registration", "send-digests"], env=environ)
    assert result.exit_code == 0, result.output
    assert "project 7a0c1e52-0000-4000-8000-000000000001: sent" in result.output
    assert [m["To"] for m in inbox.messages] == ["summer-school@example.org"]
    again = CliRunner().invoke(cli, ["registration", "send-digests"], env=environ)
    assert "project 7a0c1e52-0000-4000-8000-000000000001" not in again.output


def test_the_periodic_run_drops_expired_holds_requeues_missed_pushes_and_sends_digests(
        sqlite_url, redis_url, redis_client, smtp_inbox):
    port, inbox = smtp_inbox
    config = make_config(sqlite_url, redis_url, port)
    _catalogue(sqlite_url)
    now = datetime.now(UTC)
    with db.session_scope(sqlite_url) as session:
        missed = _add(session, "Data Analysis with Python", "submitted", now - timedelta(days=1))
        stale = _add(session, "Russian for Beginners", "unconfirmed", now - timedelta(days=40))
        session.get(RegRegistration, stale).hold_until = now - timedelta(seconds=1)
    assert schedule.tick(redis_client, config) is True
    assert schedule.tick(redis_client, config) is False  # one worker per round
    with db.session_scope(sqlite_url) as session:
        assert session.get(RegRegistration, stale) is None
        assert session.query(RegProgramme).filter_by(name="Russian for Beginners").one().status == "open"
    assert [j.args for j in Queue("crmsync-test", connection=redis_client).get_jobs()] == [(missed,)]
    assert [m["To"] for m in inbox.messages] == ["summer-school@example.org"]


def test_the_connector_workers_sweeper_runs_the_periodic_work(sqlite_url, redis_url, smtp_inbox):
    port, _inbox = smtp_inbox
    config = make_config(sqlite_url, redis_url, port, SWEEP_INTERVAL_SECONDS="1")
    _catalogue(sqlite_url)
    with db.session_scope(sqlite_url) as session:
        stale = _add(session, "Russian for Beginners", "unconfirmed", datetime.now(UTC) - timedelta(days=3))
        session.get(RegRegistration, stale).hold_until = datetime.now(UTC) - timedelta(seconds=1)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_forever, args=(config, stop), daemon=True)
    sweeper.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with db.session_scope(sqlite_url) as session:
                if session.get(RegRegistration, stale) is None:
                    break
            stop.wait(0.2)
        with db.session_scope(sqlite_url) as session:
            assert session.get(RegRegistration, stale) is None
    finally:
        stop.set()
        sweeper.join(10)
