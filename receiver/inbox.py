"""The inbox: every accepted event, stored once by id before it is acknowledged."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Select, bindparam, insert, select, text, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.models import EventStatus, EventTransition, InboxEvent, utcnow
from receiver.messages import Message

# Core statements on the tables: the ORM's unit of work costs more per request than the insert itself.
EVENTS = InboxEvent.__table__
TRANSITIONS = EventTransition.__table__
EVENT_COLUMNS = ("id", "site_id", "type", "subject", "sequence", "occurred_at", "received_at", "updated_at", "status",
                 "attempts", "payload")


def store(session: Session, messages: Sequence[Message], queued: bool) -> tuple[list[str], list[str]]:
    """Insert new events; returns (new ids, duplicate ids). One commit.

    `queued`: the caller enqueues the new events right after this commit, so they are stored as queued in
    the same transaction (their history says received, then enqueued). Should the enqueue fail, the caller
    puts them back to pending (crmsync.queue.enqueue_stored); should it never happen (the process died),
    the sweeper finds queued rows without a job and enqueues them. Otherwise they stay pending.

    A duplicate is an event stored before, or a repeat of an event within the same batch.
    """
    ids = [m.id for m in messages]
    first: dict[str, Message] = {}
    for message in messages:
        first.setdefault(message.id, message)  # no id twice in one statement: the first one counts
    unique = list(first.values())
    dialect = session.get_bind().dialect.name
    try:
        if dialect == "postgresql":
            # One statement, so a transaction of its own: no BEGIN and COMMIT round trips around it.
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            stored = _insert_new_postgresql(session, unique, queued)
        elif dialect == "sqlite":
            stored = _insert_new_sqlite(session, unique, queued)
        else:
            stored = _insert_new(session, unique, queued)
        session.commit()
        new = [m for m in unique if m.id in stored]
    except IntegrityError:
        # MySQL/MariaDB: a concurrent delivery of the same event won the race; store the rest one by one.
        session.rollback()
        new = [m for m in unique if _insert_one(session, m, queued)]
    duplicates = list(ids)
    for message in new:
        duplicates.remove(message.id)
    return [m.id for m in new], duplicates


def _status(queued: bool) -> str:
    return EventStatus.QUEUED if queued else EventStatus.PENDING


def _event_rows(messages: Sequence[Message], queued: bool) -> list[dict]:
    now = utcnow()
    return [dict(id=m.id, site_id=m.site_id, type=m.type, subject=m.subject, sequence=m.sequence,
                 occurred_at=m.occurred_at, received_at=now, updated_at=now, status=_status(queued), attempts=0,
                 payload=m.payload)
            for m in messages]


def _history(queued: bool) -> list[tuple[str, str]]:
    """The transitions each new event starts with: (status, detail)."""
    received = [(EventStatus.PENDING, "received")]
    return received + [(EventStatus.QUEUED, "enqueued")] if queued else received


def _single_postgresql(history_length: int) -> Select:
    """One new event and its history in one statement, a data-modifying CTE: the rows are parameters, so
    SQLAlchemy compiles it once and PostgreSQL prepares it once per connection."""
    new = (postgresql.insert(EVENTS).values({column: bindparam(column) for column in EVENT_COLUMNS})
           .on_conflict_do_nothing().returning(EVENTS.c.id).cte("new"))
    rows = union_all(*(select(new.c.id, bindparam(f"status_{n}", type_=TRANSITIONS.c.status.type),
                              bindparam(f"detail_{n}", type_=TRANSITIONS.c.detail.type),
                              bindparam("at", type_=TRANSITIONS.c.at.type))
                       for n in range(history_length)))
    history = insert(TRANSITIONS).from_select(["event_id", "status", "detail", "at"], rows).cte("history")
    return select(new.c.id).add_cte(history)


def _insert_new_postgresql(session: Session, messages: Sequence[Message], queued: bool) -> set[str]:
    """The events that are new and their history, in one statement: SINGLE_POSTGRESQL for one message (a
    request's usual load), BATCH_POSTGRESQL for a batch."""
    if len(messages) > 1:
        return _insert_batch_postgresql(session, messages, queued)
    parameters = _event_rows(messages, queued)[0] | {"at": utcnow()}
    for n, (status, detail) in enumerate(_history(queued)):
        parameters |= {f"status_{n}": status, f"detail_{n}": detail}
    return set(session.scalars(SINGLE_POSTGRESQL[queued], parameters).all())


SINGLE_POSTGRESQL = {queued: _single_postgresql(len(_history(queued))) for queued in (True, False)}

# A batch's messages as one JSON document that PostgreSQL unpacks: a statement of a constant text whatever the
# batch size, so psycopg parses it once and PostgreSQL prepares it once per connection (rows sent as VALUES
# make a statement as long as the batch, parsed again for every request), and one parameter that costs a
# json.dumps to send (as arrays, psycopg escaped every payload in Python: 4.6 ms more a batch of 100). One
# message keeps SINGLE_POSTGRESQL, whose parameters cost less than a document.
BATCH_POSTGRESQL = text(f"""
WITH new AS (
    INSERT INTO {EVENTS.name} (id, site_id, type, subject, sequence, occurred_at, received_at, updated_at, status,
                               attempts, payload)
    SELECT m.id, m.site_id, m.type, m.subject, m.sequence, m.occurred_at, :now, :now, :status, 0, m.payload
    FROM json_to_recordset(CAST(:messages AS json))
        AS m(id text, site_id text, type text, subject text, sequence bigint, occurred_at timestamptz, payload json)
    ON CONFLICT DO NOTHING
    RETURNING id
), history AS (
    INSERT INTO {TRANSITIONS.name} (event_id, status, detail, at)
    SELECT new.id, h.status, h.detail, :now
    FROM new CROSS JOIN unnest(CAST(:statuses AS text[]), CAST(:details AS text[])) WITH ORDINALITY
        AS h(status, detail, position)
    ORDER BY new.id, h.position
)
SELECT id FROM new
""")


def _insert_batch_postgresql(session: Session, messages: Sequence[Message], queued: bool) -> set[str]:
    rows = [{"id": m.id, "site_id": m.site_id, "type": m.type, "subject": m.subject, "sequence": m.sequence,
             "occurred_at": m.occurred_at.isoformat(), "payload": m.payload} for m in messages]
    history = _history(queued)
    parameters = {"now": utcnow(), "status": _status(queued), "messages": json.dumps(rows),
                  "statuses": [status for status, _ in history], "details": [detail for _, detail in history]}
    return set(session.scalars(BATCH_POSTGRESQL, parameters).all())


def _insert_new_sqlite(session: Session, messages: Sequence[Message], queued: bool) -> set[str]:
    """The events that are new and their history: two statements of constant text, each with the rows as one
    JSON document that SQLite unpacks (json_each). As parameters, SQLAlchemy processed every value of every
    row in Python: 4.9 ms of a batch of 100's 6.7. The values are those its types would store: the payload as
    the same JSON text, the times through UtcDateTime's own conversion."""
    dialect = session.get_bind().dialect
    as_stored = UTC_DATETIME.dialect_impl(dialect).bind_processor(dialect)
    rows = [{"id": m.id, "site_id": m.site_id, "type": m.type, "subject": m.subject, "sequence": m.sequence,
             "occurred_at": as_stored(m.occurred_at), "payload": json.dumps(m.payload)} for m in messages]
    now = utcnow()
    stored = set(session.scalars(BATCH_SQLITE, {"now": now, "status": _status(queued),
                                                "messages": json.dumps(rows)}).all())
    if stored:
        session.execute(HISTORY_SQLITE, {"at": now, "ids": json.dumps([m.id for m in messages if m.id in stored]),
                                         "history": json.dumps(_history(queued))})
    return stored


UTC_DATETIME = EVENTS.c.received_at.type
# `WHERE true`: SQLite's parser needs it to read ON CONFLICT after INSERT … SELECT.
BATCH_SQLITE = text(f"""
INSERT INTO {EVENTS.name} (id, site_id, type, subject, sequence, occurred_at, received_at, updated_at, status,
                           attempts, payload)
SELECT json_extract(m.value, '$.id'), json_extract(m.value, '$.site_id'), json_extract(m.value, '$.type'),
       json_extract(m.value, '$.subject'), json_extract(m.value, '$.sequence'),
       json_extract(m.value, '$.occurred_at'), :now, :now, :status, 0, json_extract(m.value, '$.payload')
FROM json_each(:messages) AS m WHERE true
ON CONFLICT DO NOTHING
RETURNING id
""").bindparams(bindparam("now", type_=UTC_DATETIME))
# In the order the rows were inserted one statement per status before: every event's first transition, then
# every event's second.
HISTORY_SQLITE = text(f"""
INSERT INTO {TRANSITIONS.name} (event_id, status, detail, at)
SELECT e.value, json_extract(h.value, '$[0]'), json_extract(h.value, '$[1]'), :at
FROM json_each(:history) AS h CROSS JOIN json_each(:ids) AS e
ORDER BY h.key, e.key
""").bindparams(bindparam("at", type_=UTC_DATETIME))


def _insert_new(session: Session, messages: Sequence[Message], queued: bool) -> set[str]:
    """Engines without INSERT … RETURNING (MySQL): look for the ids first."""
    ids = [m.id for m in messages]
    seen = set(session.scalars(select(EVENTS.c.id).where(EVENTS.c.id.in_(ids))).all())
    new = [m for m in messages if m.id not in seen]
    _insert(session, new, queued)
    return {m.id for m in new}


def _insert_history(session: Session, messages: Sequence[Message], queued: bool) -> None:
    if messages:
        at = utcnow()
        session.execute(insert(TRANSITIONS), [dict(event_id=m.id, status=status, detail=detail, at=at)
                                              for status, detail in _history(queued) for m in messages])


def _insert(session: Session, messages: Sequence[Message], queued: bool) -> None:
    if messages:
        session.execute(insert(EVENTS), _event_rows(messages, queued))
        _insert_history(session, messages, queued)


def _insert_one(session: Session, message: Message, queued: bool) -> bool:
    try:
        _insert(session, [message], queued)
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False
