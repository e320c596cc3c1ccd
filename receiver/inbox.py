"""The inbox: every accepted event, stored once by id before it is acknowledged."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.models import EventStatus, EventTransition, InboxEvent
from receiver.messages import Message

# Core statements on the tables: the ORM's unit of work costs more per request than the insert itself.
EVENTS = InboxEvent.__table__
TRANSITIONS = EventTransition.__table__


def store(session: Session, messages: Sequence[Message], queued: bool) -> tuple[list[str], list[str]]:
    """Insert new events; returns (new ids, duplicate ids). One commit.

    `queued`: the caller enqueues the new events right after this commit, so they are stored as queued in
    the same transaction (their history says received, then enqueued). Should the enqueue fail, the caller
    puts them back to pending (crmsync.queue.enqueue_stored); should it never happen (the process died),
    the sweeper finds queued rows without a job and enqueues them. Otherwise they stay pending.

    A duplicate is an event stored before, or a repeat of an event within the same batch.
    """
    ids = [m.id for m in messages]
    seen = set(session.scalars(select(EVENTS.c.id).where(EVENTS.c.id.in_(ids))).all())
    new = []
    for message in messages:
        if message.id not in seen:
            seen.add(message.id)
            new.append(message)
    if new:
        try:
            _insert(session, new, queued)
            session.commit()
        except IntegrityError:
            # A concurrent delivery of the same event won the race; store the rest one by one.
            session.rollback()
            new = [m for m in new if _insert_one(session, m, queued)]
    duplicates = list(ids)
    for message in new:
        duplicates.remove(message.id)
    return [m.id for m in new], duplicates


def _rows(messages: Sequence[Message], queued: bool) -> tuple[list[dict], list[dict]]:
    status = EventStatus.QUEUED if queued else EventStatus.PENDING
    events = [dict(id=m.id, site_id=m.site_id, type=m.type, subject=m.subject, sequence=m.sequence,
                   occurred_at=m.occurred_at, status=status, attempts=0, payload=m.payload)
              for m in messages]
    transitions = [dict(event_id=m.id, status=EventStatus.PENDING, detail="received") for m in messages]
    if queued:
        transitions += [dict(event_id=m.id, status=EventStatus.QUEUED, detail="enqueued") for m in messages]
    return events, transitions


def _insert(session: Session, messages: Sequence[Message], queued: bool) -> None:
    events, transitions = _rows(messages, queued)
    session.execute(insert(EVENTS), events)
    session.execute(insert(TRANSITIONS), transitions)


def _insert_one(session: Session, message: Message, queued: bool) -> bool:
    try:
        _insert(session, [message], queued)
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False
