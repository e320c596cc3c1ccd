"""The RQ job: apply one inbox event to SuiteCRM, in order per subject, at most once in effect.

Per subject (e.g. `enrolment:3:2`) a Redis lock lets one worker at a time write; the newest
waiting event's state is applied and every older waiting one is marked skipped (coalescing), and
an event not newer than the last applied sequence is skipped as stale.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select, update

from crm_connector import metrics, runtime
from crm_connector.mapping import MappingError, writes_for
from crm_connector.suitecrm import AuthError, PermanentError, TransientError
from crm_connector.writer import CrmWriter
from crmsync.models import EventStatus, EventTransition, InboxEvent, SubjectState, utcnow

log = logging.getLogger(__name__)
WAITING = (EventStatus.PENDING, EventStatus.QUEUED)
LOCK_TIMEOUT_SECONDS = 120
LOCK_WAIT_SECONDS = 30
RETRY_AFTER_CAP_SECONDS = 30


class SubjectBusy(Exception):
    """Another worker held the subject's lock for too long; RQ retries the job."""


def _finish(session, events: list[InboxEvent], status: str, detail: str | None, error: str | None = None) -> None:
    ids = [e.id for e in events]
    if not ids:
        return
    values = {"status": status, "updated_at": utcnow()}
    if error is not None:
        values["last_error"] = error
    session.execute(update(InboxEvent).where(InboxEvent.id.in_(ids)).values(**values))
    session.add_all(EventTransition(event_id=i, status=status, detail=detail) for i in ids)


def apply_event(event_id: str) -> str:
    """Entry point RQ calls (crmsync.queue.JOB_FUNCTION). Returns what happened, for the job result."""
    config = runtime.settings()
    session = runtime.session()
    try:
        event = session.get(InboxEvent, event_id)
        if event is None or event.status not in WAITING:
            return "nothing to do"
        lock = runtime.redis_connection().lock(f"crmsync:subject:{event.site_id}:{event.subject}",
                                               timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS)
        if not lock.acquire():
            raise SubjectBusy(event.subject)
        try:
            return _apply_subject(session, config, event.site_id, event.subject)
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - an expired lock is released already
                pass
    finally:
        session.close()


def _apply_subject(session, config, site_id: str, subject: str) -> str:
    waiting = session.scalars(
        select(InboxEvent).where(InboxEvent.site_id == site_id, InboxEvent.subject == subject,
                                 InboxEvent.status.in_(WAITING)).order_by(InboxEvent.sequence.desc())
    ).all()
    if not waiting:
        return "nothing to do"
    state = session.get(SubjectState, (site_id, subject))
    newest, older = waiting[0], waiting[1:]
    if state is not None and newest.sequence <= state.last_sequence:
        _finish(session, waiting, EventStatus.SKIPPED, f"stale: sequence {state.last_sequence} already applied")
        session.commit()
        metrics.EVENTS.labels(newest.type, "skipped").inc(len(waiting))
        return "stale"

    newest.attempts += 1
    session.commit()
    writer = CrmWriter(session, runtime.crm_client(), config, site_id)
    started = time.monotonic()
    try:
        writer.apply(writes_for(newest.payload, config))
    except TransientError as exc:
        session.rollback()
        return _transient(session, config, newest, exc)
    except (PermanentError, AuthError, MappingError) as exc:
        session.rollback()
        reason = exc.detail if hasattr(exc, "detail") else str(exc)
        _finish(session, [newest], EventStatus.FAILED, f"dead letter: {reason}", error=reason)
        _finish(session, older, EventStatus.SKIPPED, f"superseded by {newest.id}")
        session.commit()
        metrics.EVENTS.labels(newest.type, "failed").inc()
        log.warning("event %s (%s) failed permanently: %s", newest.id, newest.type, reason)
        return "failed"
    finally:
        metrics.CRM_LATENCY.observe(time.monotonic() - started)

    if state is None:
        session.add(SubjectState(site_id=site_id, subject=subject, last_sequence=newest.sequence,
                                 last_event_id=newest.id))
    else:
        state.last_sequence, state.last_event_id = newest.sequence, newest.id
    _finish(session, [newest], EventStatus.APPLIED, f"{writer.crm_writes} CRM writes", error=None)
    _finish(session, older, EventStatus.SKIPPED, f"coalesced into {newest.id}")
    session.commit()
    metrics.EVENTS.labels(newest.type, "applied").inc()
    metrics.EVENTS.labels(newest.type, "skipped").inc(len(older))
    metrics.CRM_WRITES.inc(writer.crm_writes)
    log.info("applied event %s (%s %s): %d CRM writes, %d coalesced", newest.id, newest.type, subject,
             writer.crm_writes, len(older))
    return "applied"


def _transient(session, config, event: InboxEvent, exc: TransientError) -> str:
    reason = exc.detail
    if event.attempts > config.job_max_retries:
        _finish(session, [event], EventStatus.FAILED, f"dead letter after {event.attempts} attempts: {reason}",
                error=reason)
        session.commit()
        metrics.EVENTS.labels(event.type, "failed").inc()
        return "failed"
    session.execute(update(InboxEvent).where(InboxEvent.id == event.id).values(last_error=reason))
    session.add(EventTransition(event_id=event.id, status=event.status, detail=f"attempt {event.attempts}: {reason}"))
    session.commit()
    metrics.RETRIES.inc()
    if exc.retry_after:
        # RQ's retry intervals are fixed at enqueue time; waiting here honours a longer Retry-After.
        time.sleep(min(exc.retry_after, RETRY_AFTER_CAP_SECONDS))
    raise exc
