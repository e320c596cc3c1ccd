"""The RQ job: bring one subject up to the newest state waiting for it: a Moodle subject (e.g.
`enrolment:3:2`) in SuiteCRM, a CRM subject in Moodle (`contact:<id>`: to_moodle.py; `enrolment:<id>`,
`group:<id>`, `intake:<id>`: administration/).

Order is decided by the database alone (crm_connector/ordering.py): the job claims the subject,
applies the newest waiting event (older ones are coalesced into it, stale ones skipped), records the
applied sequence under its claim and releases it; a job that finds the subject claimed returns at
once, because the holder looks for newer events before it lets go. What can go wrong is sorted by
whose fault it is:

- the system written (SuiteCRM or Moodle) or the database is away, or the system refuses our
  credentials: pause work on that system only (crmsync/pause.py); the event keeps its retries and stays
  queued until the sweeper hands it out again;
- the system failed this request (500, database failure, timeout): retried with backoff by RQ, then
  dead-lettered;
- the system or the mapping rejects the message, or anything unexpected happens: dead-lettered once,
  with the reason, replayable;
- the learner's Contact is not in the CRM yet: the event waits, and applying the Contact releases it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError

from crm_connector import (
    administration,
    cascade,
    metrics,
    moodle,
    ordering,
    ownership,
    runtime,
    suitecrm,
    to_moodle,
)
from crm_connector.mapping import MappingError, writes_for
from crm_connector.writer import CrmWriter, ParentGone, ParentMissing
from crmsync import contract, pause, queue
from crmsync.models import CrmRecord, EventStatus, EventTransition, InboxEvent, utcnow

log = logging.getLogger(__name__)
WAITING = (EventStatus.PENDING, EventStatus.QUEUED)
DATABASE_AWAY = (OperationalError, InterfaceError, DisconnectionError)
RETRY_AFTER_CAP_SECONDS = 30
MAX_ROUNDS = 20  # a subject that keeps changing is handed to a fresh job after this many applies


# The two clients' errors sort alike (crm_connector/moodle/errors.py): one handling for both directions.
REFUSED = (suitecrm.AuthError, moodle.AuthError)
UNAVAILABLE = (suitecrm.Unavailable, moodle.Unavailable, *REFUSED)
TRANSIENT = (suitecrm.TransientError, moodle.TransientError)
PERMANENT = (suitecrm.PermanentError, moodle.PermanentError, MappingError)


class ClaimLost(Exception):
    """The subject's lease ran out and another worker took it: stop writing."""


@dataclass
class Applied:
    status: str
    detail: str
    written_keys: list[str] = field(default_factory=list)  # records whose waiting children it releases
    rewrite: list[tuple[str, str]] = field(default_factory=list)  # (site id, subject) to write again
    crm_writes: int = 0
    moodle_writes: int = 0
    parents_used: dict[str, str] = field(default_factory=dict)  # cascade.to_relink
    recreated: list[str] = field(default_factory=list)


def written_system(site_id: str) -> str:
    """The system an event's job writes (its pause target): Moodle for a CRM message, SuiteCRM for Moodle's."""
    return pause.MOODLE if contract.origin_of(site_id) == contract.CRM else pause.CRM


def _pause_seconds(config, target: str) -> int:
    return config.moodle_pause_seconds if target == pause.MOODLE else config.crm_pause_seconds


def _finish(session, events: list[InboxEvent], status: str, detail: str | None, error: str | None = None) -> None:
    ids = [e.id for e in events]
    if not ids:
        return
    values = {"status": status, "updated_at": utcnow(), "waiting_for": None}
    if error is not None:
        values["last_error"] = error
    session.execute(update(InboxEvent).where(InboxEvent.id.in_(ids)).values(**values)
                    .execution_options(synchronize_session=False))
    session.add_all(EventTransition(event_id=i, status=status, detail=detail) for i in ids)


def _reason(exc: BaseException) -> str:
    """The cause of an unexpected failure, for the dead letter: its class and first line, no SQL parameters."""
    text = str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{exc.__class__.__name__}: {first[:300]}".rstrip(": ")


def apply_event(event_id: str) -> str:
    """Entry point RQ calls (crmsync.queue.JOB_FUNCTION). Returns what happened, for the job result."""
    config = runtime.settings()
    session = runtime.session()
    try:
        event = session.get(InboxEvent, event_id)
        if event is None or event.status not in WAITING:
            return "nothing to do"
        site_id, subject = event.site_id, event.subject
        session.rollback()  # end this read: every decision below is taken on the newest committed rows
        return _apply_subject(session, config, site_id, subject)
    except DATABASE_AWAY as exc:
        # Nothing could be recorded; the event is still queued and the sweeper hands it out again.
        log.warning("database unavailable, event %s stays queued: %s", event_id, exc.__class__.__name__)
        return "paused: database unavailable"
    finally:
        session.close()


def apply_crm_event(event_id: str) -> str:
    """Entry point RQ calls for a CRM message (crmsync.queue.JOB_FUNCTIONS): written to Moodle."""
    return apply_event(event_id)


def rewrite_subject(site_id: str, subject: str) -> str:
    """Entry point RQ calls (crmsync.queue.REWRITE_FUNCTION) once a timed-out write can have landed."""
    config = runtime.settings()
    session = runtime.session()
    try:
        ordering.mark_rewrite(session, site_id, subject)
        return _apply_subject(session, config, site_id, subject)
    except DATABASE_AWAY as exc:
        log.warning("database unavailable, %s is written again later: %s", subject, exc.__class__.__name__)
        raise
    finally:
        session.close()


def _apply_subject(session, config, site_id: str, subject: str) -> str:
    why = pause.reason(runtime.redis_connection(), written_system(site_id))
    if why is not None:
        return f"paused: {why}"
    outcome = "busy: another worker holds the subject and applies its newest state"
    for _ in range(MAX_ROUNDS):
        token = ordering.claim(session, site_id, subject, config.subject_lease_seconds)
        if token is None:
            return outcome
        try:
            outcome = _apply_newest(session, config, site_id, subject, token)
        finally:
            session.rollback()
            ordering.release(session, site_id, subject, token)
        if outcome.startswith(("paused", "waiting")) or not _has_work(session, site_id, subject):
            return outcome
    newest = session.scalar(select(InboxEvent.id).where(InboxEvent.site_id == site_id, InboxEvent.subject == subject,
                                                        InboxEvent.status.in_(WAITING))
                            .order_by(InboxEvent.sequence.desc()).limit(1))
    if newest is not None:
        queue.enqueue_and_mark(session, runtime.redis_connection(), config, [newest], "handed to a fresh job")
    return outcome


def _has_work(session, site_id: str, subject: str) -> bool:
    """Events waiting, or a rewrite asked for by a worker that lost its claim (it then tries to claim, so
    either it gets the subject or this holder, looking after its release, sees the flag)."""
    found = session.scalar(select(InboxEvent.id).where(InboxEvent.site_id == site_id, InboxEvent.subject == subject,
                                                       InboxEvent.status.in_(WAITING)).limit(1))
    state = ordering.current(session, site_id, subject)
    session.rollback()
    return found is not None or (state is not None and state.rewrite)


def _apply_newest(session, config, site_id: str, subject: str, token: str) -> str:
    waiting = list(session.scalars(
        select(InboxEvent).where(InboxEvent.site_id == site_id, InboxEvent.subject == subject,
                                 InboxEvent.status.in_(WAITING)).order_by(InboxEvent.sequence.desc())
        .execution_options(populate_existing=True)
    ).all())
    state = ordering.current(session, site_id, subject)
    force = state.rewrite
    if waiting and waiting[0].sequence > state.last_sequence:
        target, older = waiting[0], waiting[1:]
    else:
        if waiting:
            _finish(session, waiting, EventStatus.SKIPPED, f"stale: sequence {state.last_sequence} already applied")
            metrics.EVENTS.labels(waiting[0].type, "skipped").inc(len(waiting))
        target = session.get(InboxEvent, state.last_event_id) if force and state.last_event_id else None
        if target is None:
            session.commit()
            return "stale" if waiting else "nothing to do"
        older = []  # a rewrite: the CRM may show an older state than the last one applied

    counted = target.status in WAITING  # a rewrite of an applied event counts against nothing
    if counted and target.attempts > config.job_max_retries:
        reason = target.last_error or "the worker applying it stopped (killed or crashed) every time"
        return _dead_letter(session, target, older, f"gave up after {target.attempts} attempts: {reason}")
    if counted:
        target.attempts += 1
    session.commit()

    def fence() -> None:
        if not ordering.renew(session, site_id, subject, token, config.subject_lease_seconds):
            raise ClaimLost(subject)

    redis = runtime.redis_connection()
    started = time.monotonic()
    again = target.status not in WAITING
    try:
        if contract.origin_of(site_id) == contract.CRM:
            applied = _to_moodle(session, config, site_id, target, fence, force, again)
        else:
            applied = _to_crm(session, config, site_id, target, fence, force, again)
    except (ClaimLost, ownership.StateMoved, IntegrityError) as exc:
        # Another worker holds the subject now, or the other direction recorded the learner's newer state
        # (or created their id-map row) while this one wrote: the next holder writes the newest state again.
        session.rollback()
        ordering.mark_rewrite(session, site_id, subject)
        lost = isinstance(exc, ClaimLost)
        log.warning("%s on %s mid-write; its next holder writes the newest state again",
                    "lost the claim" if lost else "the learner's state moved", subject)
        return "claim lost" if lost else "state moved"
    except ParentMissing as exc:
        session.rollback()
        return _wait_for_parent(session, site_id, target, older, exc.parent_key)
    except ParentGone as exc:
        session.rollback()
        return _conclude(session, site_id, subject, token, target, older, EventStatus.SKIPPED, str(exc), [],
                         force)
    except UNAVAILABLE as exc:
        session.rollback()
        if counted:
            _undo_attempt(session, target, exc.detail)
        system = written_system(site_id)
        pause.start(redis, exc.detail, _pause_seconds(config, system), getattr(exc, "retry_after", None) or 0,
                    target=system, immediately=isinstance(exc, REFUSED))
        return f"paused: {exc.detail}"
    except TRANSIENT as exc:
        session.rollback()
        return _transient(session, config, target, exc)
    except PERMANENT as exc:
        session.rollback()
        return _dead_letter(session, target, older, exc.detail if hasattr(exc, "detail") else str(exc))
    except DATABASE_AWAY:
        raise
    except Exception as exc:  # noqa: BLE001 - anything unexpected is dead-lettered once, never looped
        session.rollback()
        log.exception("event %s (%s) failed unexpectedly", target.id, target.type)
        return _dead_letter(session, target, older, _reason(exc))
    finally:
        metrics.CRM_LATENCY.observe(time.monotonic() - started)

    if force:
        applied.detail += " (written again: the system may have shown an older state)"
    outcome = _conclude(session, site_id, subject, token, target, older, applied.status, applied.detail,
                        applied.written_keys, force)
    if outcome in ("applied", "skipped"):
        relink = cascade.to_relink(session, site_id, subject, applied.parents_used, applied.recreated)
        for rewrite_site, rewrite_subject_key in [*applied.rewrite, *((site_id, key) for key in relink)]:
            ordering.mark_rewrite(session, rewrite_site, rewrite_subject_key)
            queue.schedule_rewrite(redis, config, rewrite_site, rewrite_subject_key, 0)
        metrics.CRM_WRITES.inc(applied.crm_writes)
        metrics.MOODLE_WRITES.inc(applied.moodle_writes)
        if outcome == "applied":
            pause.resolved(redis, written_system(site_id))
        log.info("%s event %s (%s %s): %s, %d coalesced", outcome, target.id, target.type, subject,
                 applied.detail, len(older))
    return outcome


def _to_crm(session, config, site_id: str, target: InboxEvent, fence, force: bool, again: bool) -> Applied:
    """A Moodle message, written to SuiteCRM."""
    writes = writes_for(target.payload, config) + cascade.no_longer_listed(session, site_id, target.payload)
    writes, decision = ownership.from_moodle(session, config, site_id, target.payload, writes, again)
    if decision is not None and force and not again:
        decision.rewrite_other = True  # the other direction moved while this one wrote: Moodle is written again
    before = cascade.incarnations(session, site_id, [w.key for w in writes])
    writer = CrmWriter(session, runtime.crm_client(), config, site_id, before_write=fence, force=force)
    writer.apply(writes)
    rewrite = [(site_id, facet) for facet in cascade.facets_to_rewrite(session, site_id, before)]
    detail = f"{writer.crm_writes} CRM writes"
    if decision is not None:
        ownership.settle_from_moodle(session, decision)
        if decision.losses:
            detail += f"; superseded: {', '.join(loss.field.crm for loss in decision.losses)} (GET /api/v1/conflicts)"
        crm_site = decision.state.get("crm_site_id")
        if decision.rewrite_other and crm_site and decision.crm_id:
            rewrite.append((crm_site, f"contact:{decision.crm_id}"))  # Moodle holds a value that lost
    return Applied(EventStatus.APPLIED, detail, [w.key for w in writes], rewrite, crm_writes=writer.crm_writes,
                   parents_used=writer.parents_used, recreated=writer.recreated)


def _to_moodle(session, config, site_id: str, target: InboxEvent, fence, force: bool, again: bool) -> Applied:
    """A CRM message, written to Moodle."""
    handler = administration.apply if administration.handles(target.type) else to_moodle.apply
    outcome = handler(session, config, runtime.moodle_client, site_id, target.payload, fence, again, force)
    status = EventStatus.SKIPPED if outcome.skipped else EventStatus.APPLIED
    return Applied(status, outcome.detail, [], outcome.rewrite, crm_writes=getattr(outcome, "crm_writes", 0),
                   moodle_writes=outcome.moodle_writes)


def _conclude(session, site_id: str, subject: str, token: str, target: InboxEvent, older: list[InboxEvent],
              status: str, detail: str, written_keys: list[str], rewritten: bool) -> str:
    """Record the outcome under the claim, with the cascade it starts and the children it releases."""
    if not ordering.finish(session, site_id, subject, token, target.sequence, target.id, rewritten):
        session.rollback()
        ordering.mark_rewrite(session, site_id, subject)
        log.warning("lost the claim on %s before recording it; its next holder writes the newest state again",
                    subject)
        return "claim lost"
    if target.status in WAITING:
        _finish(session, [target], status, detail, error=None)
    else:
        session.add(EventTransition(event_id=target.id, status=target.status, detail=detail))
    _finish(session, older, EventStatus.SKIPPED, f"coalesced into {target.id}")
    follow_up = cascade.children(session, target) if status == EventStatus.APPLIED else []
    session.commit()
    # Only once the records are committed: a child that starts waiting for one of them from now on sees it
    # (_wait_for_parent looks again after its own commit), and one that waited before is found here.
    released = _release_children(session, site_id, written_keys)
    if released:
        session.commit()
        follow_up += released
    if follow_up:
        queue.enqueue_and_mark(session, runtime.redis_connection(), runtime.settings(), follow_up,
                               "enqueued after its parent")
    outcome = "applied" if status == EventStatus.APPLIED else "skipped"
    metrics.EVENTS.labels(target.type, outcome).inc()
    metrics.EVENTS.labels(target.type, "skipped").inc(len(older))
    return outcome


def _release_children(session, site_id: str, keys: list[str]) -> list[str]:
    """Events that waited for one of these records: back to pending, to be enqueued after the commit."""
    if not keys:
        return []
    released = list(session.scalars(select(InboxEvent.id).where(
        InboxEvent.site_id == site_id, InboxEvent.status == EventStatus.WAITING,
        InboxEvent.waiting_for.in_(set(keys)))).all())
    if released:
        queue.release_waiting(session, released, "its parent reached the CRM")
    return released


def _wait_for_parent(session, site_id: str, target: InboxEvent, older: list[InboxEvent], parent_key: str) -> str:
    _undo_attempt(session, target, None, commit=False)
    session.execute(update(InboxEvent).where(InboxEvent.id == target.id)
                    .values(status=EventStatus.WAITING, waiting_for=parent_key, updated_at=utcnow())
                    .execution_options(synchronize_session=False))
    session.add(EventTransition(event_id=target.id, status=EventStatus.WAITING, detail=f"waiting for {parent_key}"))
    _finish(session, older, EventStatus.SKIPPED, f"coalesced into {target.id}")
    session.commit()
    # The parent may have been applied between our look and our commit: then nobody would release us.
    if session.get(CrmRecord, (site_id, parent_key), populate_existing=True) is not None:
        released = _release_children(session, site_id, [parent_key])
        session.commit()
        queue.enqueue_and_mark(session, runtime.redis_connection(), runtime.settings(), released,
                               "enqueued after its parent")
    return f"waiting for {parent_key}"


def _undo_attempt(session, event: InboxEvent, error: str | None, commit: bool = True) -> None:
    """An outage or a missing parent is not the event's fault: it keeps its retries."""
    values = {"attempts": InboxEvent.attempts - 1}
    if error is not None:
        values["last_error"] = error
    session.execute(update(InboxEvent).where(InboxEvent.id == event.id).values(**values)
                    .execution_options(synchronize_session=False))
    if commit:
        session.commit()


def _dead_letter(session, target: InboxEvent, older: list[InboxEvent], reason: str) -> str:
    _finish(session, [target], EventStatus.FAILED, f"dead letter: {reason}", error=reason)
    _finish(session, older, EventStatus.SKIPPED, f"superseded by {target.id}")
    session.commit()
    metrics.EVENTS.labels(target.type, "failed").inc()
    log.warning("event %s (%s) is a dead letter: %s", target.id, target.type, reason)
    return "failed"


def _transient(session, config, event: InboxEvent, exc) -> str:
    reason = exc.detail
    if exc.may_have_landed:
        # The system may carry the request out after anything written later: write the newest state
        # again once it cannot be running any more.
        ordering.mark_rewrite(session, event.site_id, event.subject)
        late = (config.moodle_late_write_seconds if written_system(event.site_id) == pause.MOODLE
                else config.crm_late_write_seconds)
        queue.schedule_rewrite(runtime.redis_connection(), config, event.site_id, event.subject, late)
    if event.attempts > config.job_max_retries:
        return _dead_letter(session, event, [], f"after {event.attempts} attempts: {reason}")
    session.execute(update(InboxEvent).where(InboxEvent.id == event.id).values(last_error=reason)
                    .execution_options(synchronize_session=False))
    session.add(EventTransition(event_id=event.id, status=event.status, detail=f"attempt {event.attempts}: {reason}"))
    session.commit()
    metrics.RETRIES.inc()
    if exc.retry_after:
        # RQ's retry intervals are fixed at enqueue time; waiting here honours a longer Retry-After.
        time.sleep(min(exc.retry_after, RETRY_AFTER_CAP_SECONDS))
    raise exc
