"""The links e-mailed to people: `confirm` (double opt-in) and `magic` (get my previous answers).

The token is 32 random bytes, sent in the link only; the database keeps its SHA-256, so a copy of the
database gives nobody a working link. A token works once and until its expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.models import RegToken, utcnow

CONFIRM = "confirm"
MAGIC = "magic"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(session: Session, kind: str, email: str, lifetime: timedelta, *, project_id: int | None = None,
          registration_id: str | None = None, now: datetime | None = None) -> str:
    """A new token (returned: it goes into the link, never into the database)."""
    token = secrets.token_urlsafe(32)
    now = now or utcnow()
    session.add(RegToken(token_hash=digest(token), kind=kind, email=email, project_id=project_id,
                         registration_id=registration_id, created_at=now, expires_at=now + lifetime))
    return token


def find(session: Session, kind: str, token: str, now: datetime | None = None) -> RegToken | None:
    """The unused, unexpired token of this kind, or None."""
    if not token or len(token) > 100:
        return None
    row = session.scalars(select(RegToken).where(RegToken.token_hash == digest(token), RegToken.kind == kind)).first()
    if row is None or row.used_at is not None or row.expires_at <= (now or utcnow()):
        return None
    return row


def use(session: Session, kind: str, token: str, now: datetime | None = None) -> RegToken | None:
    """Find the token and mark it used (in the caller's transaction), or None."""
    row = find(session, kind, token, now)
    if row is not None:
        row.used_at = now or utcnow()
    return row
