"""The registration service's periodic work, run by every connector worker's sweeper (as
reconciler/schedule.py): free the places of unconfirmed registrations whose hold ran out, queue the CRM
push of confirmed registrations not pushed yet (Redis was down at confirmation), send due digests.

Every worker calls `tick`; a Redis claim per TICK_SECONDS lets one of them do the work of that round.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from redis import Redis
from sqlalchemy import select

from crmsync import db, mail
from crmsync.config import Config
from crmsync.models import RegistrationStatus, RegRegistration, utcnow
from registration import catalogue, digest, jobs

log = logging.getLogger(__name__)
TICK_SECONDS = 300
CLAIM_PREFIX = "crmsync:registration:tick:"
# A confirmed registration whose push is not queued after this long was missed (its job normally runs in seconds).
PUSH_GRACE = timedelta(minutes=10)


def tick(redis_conn: Redis, config: Config, now: float | None = None) -> bool:
    """Do this round's work if no other worker claimed it; True when this one did."""
    round_number = int((now if now is not None else time.time()) // TICK_SECONDS)
    if not redis_conn.set(f"{CLAIM_PREFIX}{round_number}", "1", nx=True, ex=2 * TICK_SECONDS):
        return False
    run(config)
    return True


def run(config: Config) -> None:
    with db.session_scope(config.database_url) as session:
        expired = catalogue.drop_expired_holds(session)
        if expired:
            log.info("registration: %d unconfirmed registrations expired and deleted, their places freed", expired)
        missed = session.scalars(select(RegRegistration.id).where(
            RegRegistration.status == RegistrationStatus.SUBMITTED, RegRegistration.pushed_at.is_(None),
            RegRegistration.confirmed_at < utcnow() - PUSH_GRACE)).all()
    for registration_id in missed:
        jobs.enqueue_push(config, registration_id)
    if mail.configured(config):
        digest.send_digests(config)
