"""The database decides who may write a subject and which state is the newest: nothing else does.

Every decision is one conditional UPDATE on the subject's `subject_states` row, read by the engine
as the newest committed row (also under MySQL/MariaDB's snapshot reads), so it holds on SQLite,
PostgreSQL and MySQL/MariaDB alike:

- `claim`: a worker takes the subject if nobody holds it or the holder's lease ran out.
- `renew`: before each CRM write the holder extends its lease *and* learns whether it still holds
  it (the fencing check): a worker that lost the subject never starts another write.
- `finish`: records the applied sequence only while still holding the claim and only if it is
  newer than the last one applied, and ends the claim; the caller commits it with the events' new
  status.
- `mark_rewrite`: a worker that wrote and then found its claim gone cannot know whether its write
  landed after a newer one; it flags the subject so the next claimant writes the newest state again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.models import SubjectState, utcnow

NOTHING_APPLIED = -1


def _row(site_id: str, subject: str):
    return (SubjectState.site_id == site_id) & (SubjectState.subject == subject)


def claim(session: Session, site_id: str, subject: str, lease_seconds: int) -> str | None:
    """A claim token, or None when another live worker holds the subject. Commits."""
    token = str(uuid.uuid4())
    now = utcnow()
    taken = session.execute(
        update(SubjectState)
        .where(_row(site_id, subject),
               or_(SubjectState.claim_token.is_(None), SubjectState.claim_expires < now))
        .values(claim_token=token, claim_expires=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken == 1:
        session.commit()
        return token
    exists = session.scalar(select(SubjectState.subject).where(_row(site_id, subject)))
    if exists is not None:
        session.rollback()
        return None
    session.add(SubjectState(site_id=site_id, subject=subject, last_sequence=NOTHING_APPLIED, last_event_id=None,
                             claim_token=token, claim_expires=now + timedelta(seconds=lease_seconds),
                             rewrite=False))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another worker created the row, and so holds the subject
        return None
    return token


def renew(session: Session, site_id: str, subject: str, token: str, lease_seconds: int) -> bool:
    """Extend the lease; False when the claim was lost. Commits."""
    held = session.execute(
        update(SubjectState).where(_row(site_id, subject), SubjectState.claim_token == token)
        .values(claim_expires=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return held == 1


def finish(session: Session, site_id: str, subject: str, token: str, sequence: int, event_id: str,
           rewritten: bool) -> bool:
    """Record `sequence` as applied and end the claim, if it still holds; the caller commits. False: claim lost.

    Only a forced write clears the rewrite flag: one set by a loser after this writer looked at it
    must survive for the next claimant.
    """
    # The claim ends in the same commit: the holder looks for newer work after it (jobs._has_work), as after
    # `release`, and one commit fewer per event is one fsync fewer.
    values = {"last_sequence": sequence, "last_event_id": event_id, "updated_at": utcnow(), "claim_token": None,
              "claim_expires": None}
    if rewritten:
        values["rewrite"] = False
    held = session.execute(
        update(SubjectState).where(_row(site_id, subject), SubjectState.claim_token == token)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    return held == 1


def mark_rewrite(session: Session, site_id: str, subject: str) -> None:
    session.execute(update(SubjectState).where(_row(site_id, subject)).values(rewrite=True)
                    .execution_options(synchronize_session=False))
    session.commit()


def release(session: Session, site_id: str, subject: str, token: str) -> None:
    session.execute(
        update(SubjectState).where(_row(site_id, subject), SubjectState.claim_token == token)
        .values(claim_token=None, claim_expires=None).execution_options(synchronize_session=False)
    )
    session.commit()


def current(session: Session, site_id: str, subject: str) -> SubjectState | None:
    """The subject's row as committed now (never a cached object)."""
    return session.execute(
        select(SubjectState).where(_row(site_id, subject)).execution_options(populate_existing=True)
    ).scalar_one_or_none()
