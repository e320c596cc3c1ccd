"""The inbox: every accepted event, stored once by id before it is acknowledged."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.models import EventStatus, EventTransition, InboxEvent
from receiver.messages import Message


def store(session: Session, messages: Sequence[Message]) -> tuple[list[str], list[str]]:
    """Insert new events as pending; returns (new ids, duplicate ids). Commits.

    A duplicate is an event stored before, or a repeat of an event within the same batch.
    """
    ids = [m.id for m in messages]
    seen = set(session.scalars(select(InboxEvent.id).where(InboxEvent.id.in_(ids))).all())
    new = []
    for message in messages:
        if message.id not in seen:
            seen.add(message.id)
            new.append(message)
    if new:
        try:
            _insert(session, new)
            session.commit()
        except IntegrityError:
            # A concurrent delivery of the same event won the race; store the rest one by one.
            session.rollback()
            new = [m for m in new if _insert_one(session, m)]
    duplicates = list(ids)
    for message in new:
        duplicates.remove(message.id)
    return [m.id for m in new], duplicates


def _rows(messages: Sequence[Message]) -> tuple[list[dict], list[dict]]:
    events = [dict(id=m.id, site_id=m.site_id, type=m.type, subject=m.subject, sequence=m.sequence,
                   occurred_at=m.occurred_at, status=EventStatus.PENDING, attempts=0, payload=m.payload)
              for m in messages]
    transitions = [dict(event_id=m.id, status=EventStatus.PENDING, detail="received") for m in messages]
    return events, transitions


def _insert(session: Session, messages: Sequence[Message]) -> None:
    events, transitions = _rows(messages)
    session.execute(insert(InboxEvent), events)
    session.execute(insert(EventTransition), transitions)


def _insert_one(session: Session, message: Message) -> bool:
    try:
        _insert(session, [message])
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False
