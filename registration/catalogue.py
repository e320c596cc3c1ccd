"""The local copy of the CRM's catalogue (projects, programmes) and the capacity rule.

**The capacity rule.** A programme's places are taken by its registrations that are `submitted` (confirmed,
waiting for staff), `accepted` or `enrolled`, and by `unconfirmed` ones while their hold lasts (until the
confirmation link expires: a place is kept for the person who has just submitted, and freed if they never
confirm). `rejected` and `waitlisted` ones take none. A programme is `full` when the places
taken reach its capacity (a capacity of 0 means no places), and `open` again when places free up.

**Never over capacity.** Every change that takes a place first locks the programme's row (SELECT … FOR
UPDATE on PostgreSQL and MariaDB; on SQLite, BEGIN IMMEDIATE: SQLite lets one writer at a time), then
counts and inserts in the same transaction: concurrent submissions queue on the lock, each sees the ones
committed before it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from crmsync.models import (
    ProgrammeStatus,
    RegistrationStatus,
    RegProgramme,
    RegProject,
    RegRegistration,
    RegToken,
    utcnow,
)

log = logging.getLogger(__name__)

DIGEST_PERIODS = ("daily", "weekly", "never")


class ProgrammeUnavailable(Exception):
    """A submission to a programme that is not offered; `reason` is one of ProgrammeStatus (or `unknown`)."""

    def __init__(self, reason: str):
        super().__init__(f"programme not offered: {reason}")
        self.reason = reason


class UnknownRegistration(LookupError):
    pass


def _bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _datetime(value) -> datetime | None:
    """A CRM datetime ('2026-01-31 09:00:00' in UTC, ISO 8601, or a datetime) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def declaration_key(project: dict) -> str:
    """The form declaration of a project: its `declaration` if the CRM gives one, else its name as a slug."""
    if project.get("declaration"):
        return str(project["declaration"])
    return re.sub(r"[^a-z0-9]+", "-", str(project.get("name", "")).lower()).strip("-") or "default"


def apply_catalogue(session: Session, projects: list[dict], programmes: list[dict]) -> None:
    """Upsert the local copy from the CRM's records (CRM field names plus `id`; programmes also `project_id`,
    the project's CRM id, and `course_crm_ids`). Those no longer listed become inactive (never deleted: their
    registrations keep pointing at them)."""
    by_crm_id: dict[str, RegProject] = {p.crm_id: p for p in session.scalars(select(RegProject))}
    listed_projects = set()
    for record in projects:
        crm_id = str(record["id"])
        listed_projects.add(crm_id)
        project = by_crm_id.get(crm_id)
        if project is None:
            project = by_crm_id[crm_id] = RegProject(crm_id=crm_id)
            session.add(project)
        project.name = str(record.get("name") or crm_id)
        project.active = _bool(record.get("active", True))
        project.description = record.get("description") or None
        project.admin_email = record.get("admin_email") or None
        period = str(record.get("digest_period") or "daily")
        project.digest_period = period if period in DIGEST_PERIODS else "daily"
        project.declaration = declaration_key(record)
    for crm_id, project in by_crm_id.items():
        if crm_id not in listed_projects:
            project.active = False
    session.flush()

    existing: dict[str, RegProgramme] = {p.crm_id: p for p in session.scalars(select(RegProgramme))}
    listed_programmes = set()
    for record in programmes:
        crm_id = str(record["id"])
        project = by_crm_id.get(str(record.get("project_id")))
        if project is None:
            log.warning("catalogue: programme %s names no known project, skipped", crm_id)
            continue
        listed_programmes.add(crm_id)
        programme = existing.get(crm_id)
        if programme is None:
            programme = existing[crm_id] = RegProgramme(crm_id=crm_id, status=ProgrammeStatus.OPEN)
            session.add(programme)
        programme.project_id = project.id
        programme.name = str(record.get("name") or crm_id)
        programme.active = _bool(record.get("active", True))
        programme.opens_at = _datetime(record.get("opens_at"))
        programme.closes_at = _datetime(record.get("closes_at"))
        programme.capacity = _int(record.get("capacity"))
        programme.course_crm_ids = [str(c) for c in record.get("course_crm_ids") or []]
    for crm_id, programme in existing.items():
        if crm_id not in listed_programmes:
            programme.active = False
    session.flush()
    for programme in existing.values():
        refresh_status(session, programme)


def capacity_taken(session: Session, programme_id: int, now: datetime | None = None) -> int:
    """Places taken by the programme's registrations (the rule in this module's docstring)."""
    now = now or utcnow()
    return session.scalar(
        select(func.count()).select_from(RegRegistration).where(
            RegRegistration.programme_id == programme_id,
            or_(RegRegistration.status.in_(RegistrationStatus.TAKING),
                (RegRegistration.status == RegistrationStatus.UNCONFIRMED) & (RegRegistration.hold_until > now)))
    ) or 0


def status_of(programme: RegProgramme, taken: int, now: datetime | None = None) -> str:
    now = now or utcnow()
    if not programme.active or not programme.project.active:
        return ProgrammeStatus.INACTIVE
    if (programme.opens_at and now < programme.opens_at) or (programme.closes_at and now >= programme.closes_at):
        return ProgrammeStatus.CLOSED
    if taken >= programme.capacity:
        return ProgrammeStatus.FULL
    return ProgrammeStatus.OPEN


def refresh_status(session: Session, programme: RegProgramme, now: datetime | None = None) -> str:
    """Recompute and store the programme's status; returns it."""
    programme.status = status_of(programme, capacity_taken(session, programme.id, now), now)
    return programme.status


def lock_row(session: Session, model, row_id: int):
    """The row, locked until the session's transaction ends (see the module's docstring)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return session.get(model, row_id, populate_existing=True)
    return session.scalars(select(model).where(model.id == row_id)
                           .with_for_update().execution_options(populate_existing=True)).first()


def lock_programme(session: Session, programme_id: int) -> RegProgramme | None:
    return lock_row(session, RegProgramme, programme_id)


@dataclass(frozen=True)
class Offer:
    programme: RegProgramme
    taken: int
    status: str

    @property
    def places_left(self) -> int:
        return max(0, self.programme.capacity - self.taken)


def offers(session: Session, now: datetime | None = None, include_unavailable: bool = True) -> list[Offer]:
    """Every programme of an active project with its live status (what the public list shows)."""
    now = now or utcnow()
    rows = session.scalars(select(RegProgramme).join(RegProject).where(RegProject.active.is_(True))
                           .order_by(RegProject.name, RegProgramme.name)).all()
    result = []
    for programme in rows:
        taken = capacity_taken(session, programme.id, now)
        status = status_of(programme, taken, now)
        if status != ProgrammeStatus.INACTIVE and (include_unavailable or status == ProgrammeStatus.OPEN):
            result.append(Offer(programme, taken, status))
    return result


def take_place(session: Session, programme_id: int, registration: RegRegistration,
               now: datetime | None = None) -> RegProgramme:
    """Add the registration if the programme is offered and has a place, under the programme's row lock;
    raises ProgrammeUnavailable otherwise. The caller commits (which releases the lock)."""
    now = now or utcnow()
    programme = lock_programme(session, programme_id)
    if programme is None:
        raise ProgrammeUnavailable("unknown")
    status = status_of(programme, capacity_taken(session, programme.id, now), now)
    if status != ProgrammeStatus.OPEN:
        programme.status = status
        raise ProgrammeUnavailable(status)
    registration.programme_id = programme.id
    session.add(registration)
    session.flush()
    refresh_status(session, programme, now)
    return programme


def set_status(session: Session, registration_id: str, status: str, message: str = "") -> None:
    """A status decided in the CRM; frees or takes a place and updates the programme's status (open/full).

    Taking a place back (e.g. a rejected registration accepted after all) is allowed over capacity: staff
    decide; the programme then shows `full`."""
    if status not in RegistrationStatus.CRM:
        raise ValueError(f"unknown registration status {status!r}")
    registration = session.get(RegRegistration, registration_id)
    if registration is None:
        raise UnknownRegistration(registration_id)
    programme = lock_programme(session, registration.programme_id)
    session.refresh(registration)
    registration.status = status
    registration.status_message = message or None
    session.flush()
    refresh_status(session, programme)


def drop_expired_holds(session: Session, now: datetime | None = None) -> int:
    """Delete the unconfirmed registrations whose hold ran out (their links with them) and refresh their
    programmes' status. Nothing of an unconfirmed registration is kept: its address may be someone else's."""
    now = now or utcnow()
    programme_ids = session.scalars(select(RegRegistration.programme_id).distinct().where(
        RegRegistration.status == RegistrationStatus.UNCONFIRMED, RegRegistration.hold_until <= now)).all()
    count = 0
    for programme_id in programme_ids:
        programme = lock_programme(session, programme_id)
        expired = select(RegRegistration.id).where(
            RegRegistration.programme_id == programme_id, RegRegistration.status == RegistrationStatus.UNCONFIRMED,
            RegRegistration.hold_until <= now)
        ids = session.scalars(expired).all()
        session.execute(delete(RegToken).where(RegToken.registration_id.in_(ids)))
        count += session.execute(delete(RegRegistration).where(RegRegistration.id.in_(ids))).rowcount
        refresh_status(session, programme, now)
    return count


def load_sample(session: Session, path) -> None:
    """Apply a catalogue YAML file (registration/sample_catalogue.yaml's shape) to the local copy."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    apply_catalogue(session, data.get("projects", []), data.get("programmes", []))
