"""How long the inbox keeps what it was sent, and erasing one person from it.

The inbox holds whole messages: names, e-mail addresses, a deleted user's old username. Finished
events are kept for RETENTION_DAYS (dead letters for DEAD_LETTER_RETENTION_DAYS, so they can still
be replayed), then deleted with their history. `erase_user` removes one Moodle user's messages
for a data-protection erasure request, whatever their age.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from crmsync.config import Config
from crmsync.models import EventStatus, InboxEvent, utcnow

BATCH = 1000
# Subjects whose first number is the learner: user:U, enrolment:U:C, grade:U:I, consent:U:V, …
LEARNER_SUBJECTS = ("user", "enrolment", "grade", "module_completion", "course_completion", "course_access",
                    "consent")


def _delete_in_batches(session: Session, statement) -> int:
    deleted = 0
    while True:
        ids = session.scalars(statement.limit(BATCH)).all()
        if not ids:
            return deleted
        session.execute(delete(InboxEvent).where(InboxEvent.id.in_(ids)))
        session.commit()
        deleted += len(ids)


def purge(session: Session, config: Config) -> dict[str, int]:
    """Delete finished events past their retention; returns how many of each kind."""
    now = utcnow()
    finished = _delete_in_batches(session, select(InboxEvent.id).where(
        InboxEvent.status.in_([EventStatus.APPLIED, EventStatus.SKIPPED]),
        InboxEvent.updated_at < now - timedelta(days=config.retention_days)))
    dead = _delete_in_batches(session, select(InboxEvent.id).where(
        InboxEvent.status == EventStatus.FAILED,
        InboxEvent.updated_at < now - timedelta(days=config.dead_letter_retention_days)))
    return {"finished": finished, "dead letters": dead}


def erase_user(session: Session, site_id: str, user_id: int) -> dict[str, int]:
    """Remove every message about one Moodle user; attendance sessions lose only that user's marks."""
    subjects = or_(*[InboxEvent.subject == f"{kind}:{user_id}" if kind == "user"
                     else InboxEvent.subject.like(f"{kind}:{user_id}:%") for kind in LEARNER_SUBJECTS])
    erased = _delete_in_batches(session, select(InboxEvent.id).where(InboxEvent.site_id == site_id, subjects))
    redacted = 0
    sessions = session.scalars(select(InboxEvent).where(InboxEvent.site_id == site_id,
                                                        InboxEvent.subject.like("attendance:%"))).all()
    for event in sessions:
        statuses = event.payload.get("data", {}).get("statuses", [])
        kept = [s for s in statuses if s.get("userid") != user_id]
        if len(kept) != len(statuses):
            payload = dict(event.payload)
            payload["data"] = {**payload["data"], "statuses": kept}
            event.payload = payload
            redacted += 1
    session.commit()
    return {"events erased": erased, "attendance sessions redacted": redacted}
