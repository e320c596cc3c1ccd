"""RQ jobs of the registration service's CRM side (registration/crm.py does the work).

- `enqueue_push` (called by the service once a registration is confirmed) → `push_registration`;
- `pull_catalogue`: the CRM's catalogue into the local copy, then each programme's status onto its CRM record;
  run by `crmsync registration pull-catalogue` and, every REGISTRATION_CATALOGUE_SECONDS, by the worker's
  sweeper (`tick`: every worker looks, the first to claim the period in Redis enqueues it, as
  reconciler/schedule.py starts a scheduled reconciliation);
- `push_programme_status`: one programme's status onto its CRM record.

The jobs run on the product's queue, in the connector's workers, with its retry policy: a CRM that is away
or failing gets the push again later; a registration that is gone or not confirmed is logged and left.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from rq import Queue
from sqlalchemy import select

from crm_connector.suitecrm import SuiteCrmClient
from crmsync import db
from crmsync import queue as queues
from crmsync.config import Config
from crmsync.models import RegProgramme
from registration import catalogue, crm

log = logging.getLogger(__name__)

PUSH_JOB = "registration.jobs.push_registration"
PULL_JOB = "registration.jobs.pull_catalogue_job"
CATALOGUE_CLAIM = "crmsync:registration:catalogue:"


def _queue(config: Config) -> Queue:
    return Queue(config.queue_name, connection=Redis.from_url(config.redis_url))


def crm_client(config: Config) -> SuiteCrmClient:
    config.require("suitecrm_url", "suitecrm_client_id", "suitecrm_client_secret")
    return SuiteCrmClient(config.suitecrm_url, config.suitecrm_client_id, config.suitecrm_client_secret,
                          config.suitecrm_username, config.suitecrm_password, config.suitecrm_timeout_seconds,
                          redis=Redis.from_url(config.redis_url))


def enqueue_push(config: Config, registration_id: str) -> None:
    """Queue the push of a confirmed registration to the CRM on the product's queue (idempotent there:
    the job matches on the registration's id)."""
    _queue(config).enqueue(PUSH_JOB, registration_id, job_id=f"registration-push-{registration_id}",
                           retry=queues.retry_policy(config))


def push_registration(registration_id: str) -> str | None:
    """RQ job: the registration's Contact and record in the CRM (registration.crm.push), their ids stored back,
    and its programme's status on the CRM's Programme. Returns the record's CRM id, None when there is
    nothing to push."""
    from crm_connector import runtime

    config = runtime.settings()
    with db.session_scope(config.database_url) as session:
        try:
            registration = crm.push(session, runtime.crm_client(), registration_id)
        except catalogue.UnknownRegistration:
            log.warning("registration %s to push is gone (deleted before its push)", registration_id)
            return None
        except crm.NotConfirmed as exc:
            log.warning("registration not pushed: %s", exc)
            return None
        # Its place may have filled the programme: staff see `full` on it now, not at the next catalogue pull.
        crm.push_programme_status(session, runtime.crm_client(), registration.programme_id)
        return registration.crm_id


def pull_catalogue(config: Config) -> tuple[int, int]:
    """The CRM's projects and programmes into the local catalogue, then every programme's status (open, full,
    closed, inactive as the service computes it) onto its CRM record. Returns (projects, programmes) read."""
    client = crm_client(config)
    with db.session_scope(config.database_url) as session:
        counts = crm.pull_catalogue(session, client)
        session.flush()
        for programme_id in session.scalars(select(RegProgramme.id)).all():
            crm.push_programme_status(session, client, programme_id)
    log.info("registration catalogue pulled from the CRM: %d projects, %d programmes", *counts)
    return counts


def pull_catalogue_job() -> tuple[int, int]:
    """RQ job of the periodic pull (`tick`)."""
    from crm_connector import runtime

    return pull_catalogue(runtime.settings())


def push_programme_status(config: Config, programme_id: int) -> str | None:
    with db.session_scope(config.database_url) as session:
        return crm.push_programme_status(session, crm_client(config), programme_id)


def tick(redis: Redis, config: Config, now: float | None = None) -> str | None:
    """Enqueue the catalogue pull once per REGISTRATION_CATALOGUE_SECONDS, whichever worker looks first
    (a claim per period in Redis); returns the job's id when this call enqueued it."""
    period = config.registration_catalogue_seconds
    if not period or not config.suitecrm_url:
        return None
    now = time.time() if now is None else now
    slot = int(now // period)
    if not redis.set(f"{CATALOGUE_CLAIM}{slot}", "1", nx=True, ex=max(1, int(period)) * 2):
        return None
    job = Queue(config.queue_name, connection=redis).enqueue(
        PULL_JOB, job_id=f"registration-catalogue-{slot}", description="registration catalogue pull",
        result_ttl=period, failure_ttl=7 * 86400)
    return job.id
