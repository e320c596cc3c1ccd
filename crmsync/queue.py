"""Putting inbox events on the RQ queue: first enqueue, the sweeper and replay share this code.

The inbox row in the database is the source of truth; Redis only carries work. Anything that is
`pending` (Redis was down) or `queued` without a live job (Redis restarted, or a worker died) is
found here and enqueued again, so a lost queue never loses an event.

Each origin's events have their own job (`JOB_FUNCTIONS`): Moodle's are written to SuiteCRM, the CRM's
to Moodle (crm_connector/to_moodle.py).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from datetime import timedelta

from redis import Redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmsync import contract
from crmsync.config import Config
from crmsync.models import CrmRecord, EventStatus, EventTransition, InboxEvent, SubjectState, utcnow

log = logging.getLogger(__name__)

JOB_FUNCTION = "crm_connector.jobs.apply_event"
JOB_FUNCTIONS: dict[str, str] = {contract.MOODLE: JOB_FUNCTION, contract.CRM: "crm_connector.jobs.apply_crm_event"}
REWRITE_FUNCTION = "crm_connector.jobs.rewrite_subject"
SWEEP_BATCH = 1000
LIVE_JOB_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# CRM calls time out on their own; a job running this long is stuck, and is dead-lettered by its next run.
JOB_TIMEOUT_SECONDS = 900


def job_id(event_id: str) -> str:
    return f"event-{event_id}"


def retry_policy(config: Config) -> Retry | None:
    """Exponential backoff with jitter for transient CRM failures, as RQ retry intervals."""
    if config.job_max_retries == 0:
        return None
    intervals = []
    for attempt in range(config.job_max_retries):
        delay = min(config.job_retry_max_seconds, config.job_retry_base_seconds * 2**attempt)
        intervals.append(max(1, round(delay * random.uniform(0.5, 1.0))))
    return Retry(max=config.job_max_retries, interval=intervals)


def _runnable(session: Session, event_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(event id, job function) of each event, by its origin."""
    if not event_ids:
        return []
    rows = session.execute(select(InboxEvent.id, InboxEvent.site_id).where(InboxEvent.id.in_(event_ids))).all()
    functions = {event_id: JOB_FUNCTIONS[contract.origin_of(site_id)] for event_id, site_id in rows}
    return [(event_id, functions[event_id]) for event_id in event_ids if event_id in functions]


def enqueue_events(redis_conn: Redis, config: Config, jobs: Sequence[tuple[str, str]]) -> None:
    """Put one job per (event id, job function) on the queue in a single round trip. Raises redis errors."""
    if not jobs:
        return
    queue = Queue(config.queue_name, connection=redis_conn)
    retry = retry_policy(config)
    prepared = [
        Queue.prepare_data(function, args=(event_id,), job_id=job_id(event_id), retry=retry,
                           timeout=JOB_TIMEOUT_SECONDS,
                           result_ttl=3600, failure_ttl=7 * 86400, description=f"apply event {event_id}")
        for event_id, function in jobs
    ]
    with redis_conn.pipeline() as pipe:
        queue.enqueue_many(prepared, pipeline=pipe)
        pipe.execute()


def schedule_rewrite(redis_conn: Redis, config: Config, site_id: str, subject: str, delay_seconds: float) -> None:
    """Have the subject's newest state written again after `delay_seconds` (one job per subject)."""
    queue = Queue(config.queue_name, connection=redis_conn)
    queue.enqueue_in(timedelta(seconds=delay_seconds), REWRITE_FUNCTION, site_id, subject,
                     job_id=f"rewrite-{site_id}-{subject}".replace(":", "-"), retry=retry_policy(config),
                     job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=3600, failure_ttl=7 * 86400,
                     description=f"write {subject} again")


def mark_queued(session: Session, event_ids: Sequence[str], detail: str = "enqueued") -> None:
    """pending → queued, leaving rows a fast worker already moved on untouched."""
    if not event_ids:
        return
    # Select, then update: MySQL/MariaDB have no UPDATE … RETURNING.
    moved = session.scalars(
        select(InboxEvent.id).where(InboxEvent.id.in_(event_ids), InboxEvent.status == EventStatus.PENDING)
    ).all()
    if not moved:
        return
    session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(moved), InboxEvent.status == EventStatus.PENDING)
        .values(status=EventStatus.QUEUED, updated_at=utcnow())
    )
    session.add_all(EventTransition(event_id=i, status=EventStatus.QUEUED, detail=detail) for i in moved)


def enqueue_and_mark(session: Session, redis_conn: Redis, config: Config, event_ids: Sequence[str],
                     detail: str = "enqueued") -> bool:
    """Enqueue and record it; on a Redis failure the rows stay pending for the sweeper. Returns success."""
    if not event_ids:
        return True
    jobs = _runnable(session, event_ids)
    try:
        enqueue_events(redis_conn, config, jobs)
    except Exception as exc:  # noqa: BLE001 - any Redis failure leaves the events safely pending
        log.warning("could not enqueue %d events, left pending for the sweeper: %s", len(jobs),
                    exc.__class__.__name__)
        return False
    mark_queued(session, [event_id for event_id, _ in jobs], detail)
    session.commit()
    return True


def enqueue_stored(session: Session, redis_conn: Redis, config: Config, jobs: Sequence[tuple[str, str]]) -> bool:
    """Enqueue events the receiver just stored as queued; on a Redis failure, put them back to pending
    for the sweeper (a second commit, on that path only). Returns success."""
    if not jobs:
        return True
    try:
        enqueue_events(redis_conn, config, jobs)
    except Exception as exc:  # noqa: BLE001 - any Redis failure leaves the events safely pending
        log.warning("could not enqueue %d events, left pending for the sweeper: %s", len(jobs),
                    exc.__class__.__name__)
        event_ids = [event_id for event_id, _ in jobs]
        session.execute(update(InboxEvent)
                        .where(InboxEvent.id.in_(event_ids), InboxEvent.status == EventStatus.QUEUED)
                        .values(status=EventStatus.PENDING, updated_at=utcnow()))
        session.add_all(EventTransition(event_id=i, status=EventStatus.PENDING, detail="Redis unavailable")
                        for i in event_ids)
        session.commit()
        return False
    return True


def _jobs_without_live_job(redis_conn: Redis, event_ids: Iterable[str]) -> list[str]:
    event_ids = list(event_ids)
    jobs = Job.fetch_many([job_id(i) for i in event_ids], connection=redis_conn)
    lost = []
    for event_id, job in zip(event_ids, jobs, strict=True):
        if job is None or job.get_status(refresh=False) not in LIVE_JOB_STATES:
            lost.append(event_id)
    return lost


def _held_by_a_dead_worker(session: Session, grace: timedelta) -> list[str]:
    """Queued events whose subject's claim ran out: the worker holding it died (kill -9, a lost machine).

    RQ still lists such a job as started until its timeout passes; the claim's lease says sooner.
    """
    return list(session.scalars(
        select(InboxEvent.id).join(SubjectState, (SubjectState.site_id == InboxEvent.site_id)
                                   & (SubjectState.subject == InboxEvent.subject))
        .where(InboxEvent.status == EventStatus.QUEUED, InboxEvent.updated_at < utcnow() - grace,
               SubjectState.claim_token.is_not(None), SubjectState.claim_expires < utcnow())
        .order_by(InboxEvent.sequence).limit(SWEEP_BATCH)
    ).all())


def sweep(session: Session, redis_conn: Redis, config: Config) -> int:
    """Re-enqueue pending events, queued events whose job is gone and events still waiting for a parent the
    CRM holds; returns how many."""
    # Lets RQ notice jobs whose worker died (kill -9): it retries or fails them, and we see that below.
    StartedJobRegistry(config.queue_name, connection=redis_conn).cleanup()
    # A row younger than this may still be enqueued by the request that stored it, or be taken by a job.
    grace = timedelta(seconds=config.sweep_grace_seconds)
    pending = session.scalars(
        select(InboxEvent.id)
        .where(InboxEvent.status == EventStatus.PENDING, InboxEvent.received_at < utcnow() - grace)
        .order_by(InboxEvent.sequence).limit(SWEEP_BATCH)
    ).all()
    queued = session.scalars(
        select(InboxEvent.id)
        .where(InboxEvent.status == EventStatus.QUEUED, InboxEvent.updated_at < utcnow() - grace)
        .order_by(InboxEvent.sequence).limit(SWEEP_BATCH)
    ).all()
    lost = _jobs_without_live_job(redis_conn, queued) if queued else []
    seen = set(lost)
    lost += [i for i in _held_by_a_dead_worker(session, grace) if i not in seen]
    if lost:
        # They stay queued: a job is on its way, and should this enqueue fail, the next sweep finds them again.
        # (Back to pending first, they would show as such to anyone looking meanwhile, for no reason.)
        session.execute(update(InboxEvent).where(InboxEvent.id.in_(lost), InboxEvent.status == EventStatus.QUEUED)
                        .values(updated_at=utcnow()))
        session.add_all(EventTransition(event_id=i, status=EventStatus.QUEUED, detail="job lost; enqueued again")
                        for i in lost)
        session.commit()
    released = _waiting_for_a_parent_in_the_crm(session, grace)
    jobs = _runnable(session, [*pending, *lost, *released])
    if jobs:
        enqueue_events(redis_conn, config, jobs)
        mark_queued(session, [event_id for event_id, _ in jobs], "enqueued by sweeper")
        session.commit()
        log.info("sweeper enqueued %d events (%d pending, %d with a lost job, %d whose parent reached the CRM)",
                 len(jobs), len(pending), len(lost), len(released))
    return len(jobs)


def _waiting_for_a_parent_in_the_crm(session: Session, grace: timedelta) -> list[str]:
    """Events still waiting for a record the CRM holds now, back to pending. The parent's job releases its
    waiting children once its record is committed; a worker that died in between leaves them waiting."""
    waiting = session.scalars(
        select(InboxEvent.id).join(CrmRecord, (CrmRecord.site_id == InboxEvent.site_id)
                                   & (CrmRecord.entity_key == InboxEvent.waiting_for))
        .where(InboxEvent.status == EventStatus.WAITING, InboxEvent.updated_at < utcnow() - grace)
        .order_by(InboxEvent.sequence).limit(SWEEP_BATCH)
    ).all()
    if waiting:
        release_waiting(session, waiting, "its parent is in the CRM (found by the sweeper)")
        session.commit()
    return list(waiting)


def release_waiting(session: Session, event_ids: Sequence[str], detail: str) -> None:
    """Events that waited for their parent, back to pending (the caller commits, then enqueues them)."""
    session.execute(update(InboxEvent)
                    .where(InboxEvent.id.in_(event_ids), InboxEvent.status == EventStatus.WAITING)
                    .values(status=EventStatus.PENDING, waiting_for=None, updated_at=utcnow())
                    .execution_options(synchronize_session=False))
    session.add_all(EventTransition(event_id=i, status=EventStatus.PENDING, detail=detail) for i in event_ids)


def replay(session: Session, redis_conn: Redis, config: Config, event_ids: Sequence[str]) -> int:
    """Send finished events (failed, skipped or applied) through the connector again, with all their retries
    (a dead letter that used them up is replayed once the operator mended the cause)."""
    chosen = session.scalars(
        select(InboxEvent.id).where(InboxEvent.id.in_(event_ids), InboxEvent.status != EventStatus.QUEUED)
    ).all()
    if not chosen:
        return 0
    session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(chosen))
        .values(status=EventStatus.PENDING, last_error=None, attempts=0, updated_at=utcnow())
    )
    session.add_all(EventTransition(event_id=i, status=EventStatus.PENDING, detail="replay requested") for i in chosen)
    session.commit()
    enqueue_and_mark(session, redis_conn, config, chosen, "enqueued for replay")
    return len(chosen)
