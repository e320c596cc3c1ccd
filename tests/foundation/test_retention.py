"""Personal data is kept only as long as the settings say, and one person can be erased on request."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

from sqlalchemy import select

from crmsync import config, db, retention
from crmsync.models import EventStatus, EventTransition, InboxEvent, utcnow


def add(session, subject: str, status: str, age_days: float, data: dict | None = None, site: str = "s1") -> str:
    event_id = str(uuid.uuid4())
    when = utcnow() - timedelta(days=age_days)
    session.add(InboxEvent(id=event_id, site_id=site, type=subject.split(":")[0] + ".updated", subject=subject,
                           sequence=1, occurred_at=when, received_at=when, updated_at=when, status=status,
                           attempts=0, payload={"data": data or {"email": "private@example.invalid"}}))
    session.add(EventTransition(event_id=event_id, status=status, detail="test"))
    return event_id


def remaining(url: str) -> set[str]:
    with db.session_scope(url) as session:
        return set(session.scalars(select(InboxEvent.subject)).all())


def test_purge_deletes_finished_events_past_their_retention_and_keeps_the_rest(database_url):
    settings = config.load(environ={"DATABASE_URL": database_url, "RETENTION_DAYS": "30",
                                    "DEAD_LETTER_RETENTION_DAYS": "90"}, env_file=None)
    with db.session_scope(database_url) as session:
        add(session, "user:1", EventStatus.APPLIED, 31)
        add(session, "user:2", EventStatus.SKIPPED, 40)
        add(session, "user:3", EventStatus.APPLIED, 29)  # young enough
        add(session, "user:4", EventStatus.FAILED, 60)  # a dead letter, still replayable
        add(session, "user:5", EventStatus.FAILED, 91)
        add(session, "user:6", EventStatus.QUEUED, 365)  # never finished: never purged
        add(session, "user:7", EventStatus.WAITING, 365)
    with db.session_scope(database_url) as session:
        counts = retention.purge(session, settings)
    assert counts == {"finished": 2, "dead letters": 1}
    assert remaining(database_url) == {"user:3", "user:4", "user:6", "user:7"}
    with db.session_scope(database_url) as session:  # their history went with them
        assert len(session.scalars(select(EventTransition)).all()) == 4


def test_erasing_a_user_removes_their_messages_and_their_attendance_marks_only(database_url):
    with db.session_scope(database_url) as session:
        for subject in ("user:3", "enrolment:3:2", "grade:3:17", "course_access:3:2", "consent:3:1",
                        "module_completion:3:9", "course_completion:3:2", "user:33", "enrolment:33:3"):
            add(session, subject, EventStatus.APPLIED, 1)
        add(session, "user:3", EventStatus.APPLIED, 1, site="other-site")
        roll_call = add(session, "attendance:5", EventStatus.APPLIED, 1, data={"statuses": [
            {"userid": 3, "remarks": "private"}, {"userid": 4, "remarks": "stays"}]})
    with db.session_scope(database_url) as session:
        counts = retention.erase_user(session, "s1", 3)
    assert counts == {"events erased": 7, "attendance sessions redacted": 1}
    assert remaining(database_url) == {"user:33", "enrolment:33:3", "attendance:5", "user:3"}
    with db.session_scope(database_url) as session:
        assert session.get(InboxEvent, roll_call).payload["data"]["statuses"] == [{"userid": 4, "remarks": "stays"}]
        assert session.scalar(select(InboxEvent.site_id).where(InboxEvent.subject == "user:3")) == "other-site"


def test_purge_and_erase_commands(sqlite_url, tmp_path):
    with db.session_scope(sqlite_url) as session:
        add(session, "user:1", EventStatus.APPLIED, 400)
        add(session, "user:9", EventStatus.APPLIED, 1)
    env = {"DATABASE_URL": sqlite_url, "PATH": "/usr/bin:/bin"}
    purged = subprocess.run([sys.executable, "-m", "crmsync", "purge"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    erased = subprocess.run([sys.executable, "-m", "crmsync", "erase", "--site", "s1", "--user", "9"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    assert purged.stdout.strip() == "1 finished, 0 dead letters purged"
    assert erased.stdout.strip() == "1 events erased, 0 attendance sessions redacted"
    assert remaining(sqlite_url) == set()
