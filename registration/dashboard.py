"""The staff dashboard's figures: per programme, the registrations by status and the fill rate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmsync.models import RegistrationStatus, RegProgramme, RegProject, RegRegistration
from registration import catalogue

SHOWN = (RegistrationStatus.UNCONFIRMED, RegistrationStatus.SUBMITTED, RegistrationStatus.ACCEPTED,
         RegistrationStatus.ENROLLED, RegistrationStatus.WAITLISTED, RegistrationStatus.REJECTED)


@dataclass(frozen=True)
class Row:
    project: str
    programme: str
    programme_id: int
    status: str
    capacity: int
    taken: int
    counts: dict[str, int]

    @property
    def fill_percent(self) -> int:
        return round(100 * self.taken / self.capacity) if self.capacity else 100


def rows(session: Session) -> list[Row]:
    counts: dict[int, dict[str, int]] = {}
    for programme_id, status, n in session.execute(
            select(RegRegistration.programme_id, RegRegistration.status, func.count())
            .group_by(RegRegistration.programme_id, RegRegistration.status)):
        counts.setdefault(programme_id, {})[status] = n
    result = []
    for programme in session.scalars(select(RegProgramme).join(RegProject).order_by(RegProject.name, RegProgramme.name)):
        taken = catalogue.capacity_taken(session, programme.id)
        result.append(Row(programme.project.name, programme.name, programme.id,
                          catalogue.status_of(programme, taken), programme.capacity, taken,
                          {s: counts.get(programme.id, {}).get(s, 0) for s in SHOWN}))
    return result
