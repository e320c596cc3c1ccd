"""Pausing work while SuiteCRM as a whole is away or refuses our credentials.

An outage is not the events' fault: they keep their retries and stay queued, jobs return at once
while the pause lasts, and the sweeper puts them back on the queue, so the queue drains by itself
once the CRM answers again. Pauses grow while failures follow each other (1 s, 2 s, 4 s … up to
CRM_PAUSE_SECONDS), so a CRM that drops the odd call is barely slowed down and one that is down is
asked once per pause. The first job that meets an outage logs it once, as an error.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
PAUSE_KEY = "crmsync:crm-paused"
ALERT_KEY = "crmsync:crm-paused:alerted"
STRIKES_KEY = "crmsync:crm-paused:strikes"


def reason(redis: Redis) -> str | None:
    """Why work is paused now, or None (also when Redis cannot say: then the CRM call decides)."""
    try:
        value = redis.get(PAUSE_KEY)
    except RedisError:
        return None
    return value.decode() if value else None


def start(redis: Redis, why: str, longest: float, at_least: float = 0) -> None:
    try:
        strikes = redis.incr(STRIKES_KEY)
        redis.expire(STRIKES_KEY, 3600)
        seconds = max(at_least, min(longest, 2 ** (strikes - 1)))
        redis.set(PAUSE_KEY, why, ex=max(1, round(seconds)))
        first = strikes > 3 and redis.set(ALERT_KEY, "1", nx=True, ex=3600)
    except RedisError:
        first = True
    if first:
        log.error("SuiteCRM unavailable, pausing the connector (events keep their retries): %s", why)


def resolved(redis: Redis) -> None:
    """The CRM answered again: the next outage is announced again."""
    try:
        if redis.delete(ALERT_KEY, STRIKES_KEY) == 2:
            log.warning("SuiteCRM answers again; the connector resumes")
    except RedisError:
        pass
