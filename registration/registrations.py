"""A person's registration: submit (taking a place), confirm (double opt-in), previous answers.

**Double opt-in.** A submission is stored `unconfirmed` and holds its place until its confirmation link
expires (REGISTRATION_CONFIRM_HOURS); following the link makes it `submitted` (pending staff's decision in
the CRM) and queues its push to the CRM. Only confirmed registrations reach the CRM, the digest's
"pending" and the previous answers offered to a returning person (an unconfirmed one may have been typed
in by anyone).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.models import (
    ProgrammeStatus,
    RegistrationStatus,
    RegProgramme,
    RegRegistration,
    RegToken,
    utcnow,
)
from registration import catalogue, tokens
from registration.forms import Declaration

log = logging.getLogger(__name__)
CONSENTS_KEY = "_consents"  # no declared field can be named so (names start with a letter)
# Statuses in which a second registration of the same address for the same programme is refused.
STANDING = (RegistrationStatus.SUBMITTED, RegistrationStatus.ACCEPTED, RegistrationStatus.WAITLISTED,
            RegistrationStatus.ENROLLED)


class AlreadyRegistered(Exception):
    pass


@dataclass(frozen=True)
class Submitted:
    registration_id: str
    token: str
    programme_status: str


def submit(session: Session, programme_id: int, declaration: Declaration, answers: dict, language: str,
           confirm_hours: int, now: datetime | None = None) -> Submitted:
    """Store a validated submission and issue its confirmation token, under the programme's lock.

    The same address submitting again while unconfirmed replaces its answers and gets a new link (a lost
    or unsent confirmation mail is sent again this way); while it stands (confirmed…) it is refused."""
    now = now or utcnow()
    email = answers["email"]
    values = {k: v for k, v in answers.items() if not k.startswith("consent_")}
    values[CONSENTS_KEY] = sorted(k.removeprefix("consent_") for k, v in answers.items()
                                  if k.startswith("consent_") and v)
    hold = now + timedelta(hours=confirm_hours)
    programme = catalogue.lock_programme(session, programme_id)
    if programme is None:
        raise catalogue.ProgrammeUnavailable("unknown")
    mine = session.scalars(select(RegRegistration).where(
        RegRegistration.programme_id == programme_id, RegRegistration.email == email,
        RegRegistration.status.in_((RegistrationStatus.UNCONFIRMED,) + STANDING))).all()
    if any(r.status in STANDING for r in mine):
        raise AlreadyRegistered()
    pending = next((r for r in mine if r.hold_until and r.hold_until > now), None)
    if pending is not None:
        # It holds its place already; only a programme withdrawn or closed since refuses it.
        status = catalogue.status_of(programme, catalogue.capacity_taken(session, programme_id, now), now)
        if status in (ProgrammeStatus.INACTIVE, ProgrammeStatus.CLOSED):
            raise catalogue.ProgrammeUnavailable(status)
        pending.answers, pending.language = values, language
        pending.consent_version, pending.consent_at, pending.hold_until = declaration.consent_version, now, hold
        registration = pending
    else:
        registration = RegRegistration(
            id=str(uuid.uuid4()), email=email, answers=values, status=RegistrationStatus.UNCONFIRMED,
            language=language, consent_version=declaration.consent_version, consent_at=now, submitted_at=now,
            hold_until=hold)
        status = catalogue.take_place(session, programme_id, registration, now).status
    token = tokens.issue(session, tokens.CONFIRM, email, hold - now, project_id=programme.project_id,
                         registration_id=registration.id, now=now)
    log.info("registration %s submitted for programme %s (now %s)", registration.id, programme_id, status)
    return Submitted(registration.id, token, status)


def confirm(session: Session, token: str, now: datetime | None = None) -> RegRegistration | None:
    """Confirm the registration of a confirmation token; None if the link is unknown, used or expired."""
    now = now or utcnow()
    row = tokens.find(session, tokens.CONFIRM, token, now)
    if row is None or row.registration_id is None:
        return None
    registration = session.get(RegRegistration, row.registration_id)
    if registration is None or registration.status != RegistrationStatus.UNCONFIRMED:
        return None
    row.used_at = now
    registration.status = RegistrationStatus.SUBMITTED
    registration.confirmed_at = now
    registration.hold_until = None
    log.info("registration %s confirmed", registration.id)
    return registration


def previous_answers(session: Session, email: str, project_id: int) -> dict:
    """The answers of this address's latest confirmed registration in the project (consents left out:
    they are given again each time), or {}."""
    registration = session.scalars(
        select(RegRegistration).join(RegProgramme).where(
            RegRegistration.email == email.lower(), RegProgramme.project_id == project_id,
            RegRegistration.confirmed_at.is_not(None))
        .order_by(RegRegistration.confirmed_at.desc()).limit(1)).first()
    if registration is None:
        return {}
    return {k: v for k, v in registration.answers.items() if k != CONSENTS_KEY}


def has_previous(session: Session, email: str, project_id: int) -> bool:
    return bool(previous_answers(session, email, project_id))


def verified_email(session: Session, token_hash: str | None, project_id: int, now: datetime | None = None) -> str | None:
    """The address a followed magic link proved, for this project, while the link's lifetime lasts."""
    if not token_hash:
        return None
    row = session.get(RegToken, token_hash)
    if (row is None or row.kind != tokens.MAGIC or row.used_at is None or row.project_id != project_id
            or row.expires_at <= (now or utcnow())):
        return None
    return row.email
