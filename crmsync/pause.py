"""Pausing work while SuiteCRM as a whole is away or refuses our credentials.

An outage is not the events' fault: they keep their retries and stay queued, jobs return at once
while the pause lasts, and the sweeper puts them back on the queue, so the queue drains by itself
once the CRM answers again. Pauses grow while failures follow each other (1 s, 2 s, 4 s … up to
CRM_PAUSE_SECONDS), so a CRM that drops the odd call is barely slowed down and one that is down is
asked once per pause. From the third failure in a row it is an outage: logged once, as an error,
and shown to operators until SuiteCRM answers again.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
PAUSE_KEY = "crmsync:crm-paused"
OUTAGE_KEY = "crmsync:crm-outage"  # set from the third failure in a row until SuiteCRM answers again
STRIKES_KEY = "crmsync:crm-paused:strikes"
OUTAGE_AFTER_STRIKES = 3


def _get(redis: Redis, key: str) -> str | None:
    try:
        value = redis.get(key)
    except RedisError:
        return None
    return value.decode() if value else None


def reason(redis: Redis) -> str | None:
    """Why work is paused this very moment, or None (also when Redis cannot say: the CRM call decides)."""
    return _get(redis, PAUSE_KEY)


def outage(redis: Redis) -> str | None:
    """What operators are told: SuiteCRM has failed several times in a row and has not answered since."""
    return _get(redis, OUTAGE_KEY)


def start(redis: Redis, why: str, longest: float, at_least: float = 0) -> None:
    try:
        strikes = redis.incr(STRIKES_KEY)
        redis.expire(STRIKES_KEY, 3600)
        seconds = max(at_least, min(longest, 2 ** (strikes - 1)))
        redis.set(PAUSE_KEY, why, ex=max(1, round(seconds)))
        first = False
        if strikes >= OUTAGE_AFTER_STRIKES:
            first = redis.getset(OUTAGE_KEY, why) is None
    except RedisError:
        first = True
    if first:
        log.error("SuiteCRM unavailable, pausing the connector (events keep their retries): %s", why)


def resolved(redis: Redis) -> None:
    """The CRM answered again: the next outage is announced again."""
    try:
        if redis.delete(OUTAGE_KEY, STRIKES_KEY) == 2:
            log.warning("SuiteCRM answers again; the connector resumes")
    except RedisError:
        pass
