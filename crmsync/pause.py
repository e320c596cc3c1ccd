"""Pausing the work that writes to one system while it is away or refuses our credentials.

Each target has its own pause: SuiteCRM (`CRM`, written by Moodle → CRM work) and Moodle (`MOODLE`,
written by CRM → Moodle work), so a Moodle outage never holds up CRM writes, and the reverse.

An outage is not the events' fault: they keep their retries and stay queued, jobs return at once
while the pause lasts, and the sweeper puts them back on the queue, so the queue drains by itself
once the system answers again. Pauses grow while failures follow each other (1 s, 2 s, 4 s … up to
the target's pause setting), so a system that drops the odd call is barely slowed down and one that
is down is asked once per pause. From the third failure in a row it is an outage (at once when the
credentials are refused: retrying cannot mend them): logged once, as an error, and shown to
operators until the system answers again.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
CRM = "crm"
MOODLE = "moodle"
NAMES = {CRM: "SuiteCRM", MOODLE: "Moodle"}
OUTAGE_AFTER_STRIKES = 3


def _key(target: str, what: str = "paused") -> str:
    """crmsync:crm-paused, crmsync:crm-outage, crmsync:crm-paused:strikes (the names before Moodle had its own)."""
    return f"crmsync:{target}-paused:strikes" if what == "strikes" else f"crmsync:{target}-{what}"


def _get(redis: Redis, key: str) -> str | None:
    try:
        value = redis.get(key)
    except RedisError:
        return None
    return value.decode() if value else None


def reason(redis: Redis, target: str = CRM) -> str | None:
    """Why work on `target` is paused this very moment, or None (also when Redis cannot say: the call decides)."""
    return _get(redis, _key(target))


def outage(redis: Redis, target: str = CRM) -> str | None:
    """What operators are told: the target has failed several times in a row and has not answered since."""
    return _get(redis, _key(target, "outage"))


def start(redis: Redis, why: str, longest: float, at_least: float = 0, target: str = CRM,
          immediately: bool = False) -> None:
    """Pause work on `target`; `immediately`: an outage from the first failure (refused credentials)."""
    try:
        strikes = redis.incr(_key(target, "strikes"))
        redis.expire(_key(target, "strikes"), 3600)
        seconds = max(at_least, min(longest, 2 ** (strikes - 1)))
        redis.set(_key(target), why, ex=max(1, round(seconds)))
        first = False
        if immediately or strikes >= OUTAGE_AFTER_STRIKES:
            first = redis.getset(_key(target, "outage"), why) is None
    except RedisError:
        first = True
    if first:
        log.error("%s unavailable, pausing the work that writes to it (events keep their retries): %s",
                  NAMES[target], why)


def resolved(redis: Redis, target: str = CRM) -> None:
    """The target answered again: the next outage is announced again."""
    try:
        if redis.delete(_key(target, "outage"), _key(target, "strikes")) == 2:
            log.warning("%s answers again; the work that writes to it resumes", NAMES[target])
    except RedisError:
        pass
