"""Abuse limits: rate limits per client address and per e-mail address (Redis), and the spam trap.

**Rate limits** count, in Redis, the requests that send e-mail or store a registration (a submission, a
"get my previous answers" request) per client address and per e-mail address in a fixed one-hour window.
The e-mail address is hashed in the key: Redis holds no personal data.

**Spam trap** (no third-party service): a honeypot input hidden from people (and from screen readers and
the keyboard) that robots fill in, and a minimum fill time, from a signed timestamp the form carries (a
robot cannot make an older one, so it cannot pretend to have taken its time).
"""

from __future__ import annotations

import hashlib
import time

from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis import Redis

WINDOW_SECONDS = 3600
HONEYPOT = "website"
STARTED = "form_started"
KEY_PREFIX = "crmsync:registration:rate:"
# A form older than this (a day) is no proof of anything either: its page is served again.
MAX_FORM_AGE_SECONDS = 86400


class RateLimited(Exception):
    def __init__(self, what: str):
        super().__init__(f"rate limit reached per {what}")
        self.what = what


def _hit(redis: Redis, key: str, limit: int) -> bool:
    window = int(time.time() // WINDOW_SECONDS)
    full = f"{KEY_PREFIX}{key}:{window}"
    pipe = redis.pipeline()
    pipe.incr(full)
    pipe.expire(full, WINDOW_SECONDS)
    count, _ = pipe.execute()
    return count <= limit


def check_address(redis: Redis, address: str, limit: int) -> None:
    if not _hit(redis, f"addr:{address}", limit):
        raise RateLimited("address")


def check_email(redis: Redis, email: str, limit: int) -> None:
    hashed = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
    if not _hit(redis, f"email:{hashed}", limit):
        raise RateLimited("email")


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="registration-form-started")


def started_token(secret_key: str) -> str:
    """The signed "this form was served now" value the form carries."""
    return _serializer(secret_key).dumps("form")


def spam_reason(form, secret_key: str, min_seconds: int) -> str | None:
    """Why a submitted form looks like a robot's (`honeypot`, `too_fast`, `no_start`), or None."""
    if form.get(HONEYPOT):
        return "honeypot"
    try:
        _, signed_at = _serializer(secret_key).loads(form.get(STARTED, ""), max_age=MAX_FORM_AGE_SECONDS,
                                                     return_timestamp=True)
    except BadSignature:
        return "no_start"
    if time.time() - signed_at.timestamp() < min_seconds:
        return "too_fast"
    return None
