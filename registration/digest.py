"""Staff digests: one e-mail per project and period (its digest_period: daily or weekly, UTC days; weeks
start on Monday) to its admin_email, with the period's registrations per programme by status. Nothing is
sent for a period without registrations, and never a mail per registration.

A period is handled once: the project's `digest_sent_until` moves to its end after the mail went (or
when there was nothing to tell), under the project row's lock, so two workers never both send it. A mail
that fails leaves it, to be tried at the next run.

The digest names no person: registrations appear by reference and time (staff see the people in the
CRM's Registrations list, behind its access control).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync import db, mail
from crmsync.config import Config
from crmsync.models import RegProgramme, RegProject, RegRegistration, utcnow
from registration import catalogue, dashboard

log = logging.getLogger(__name__)
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def period_end(period: str, now: datetime) -> datetime:
    """The end of the last complete period before `now`."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday()) if period == "weekly" else midnight


def compose(session: Session, project: RegProject, start: datetime, end: datetime) -> tuple[str, str] | None:
    """Subject and body of a project's digest for [start, end), or None when nothing happened."""
    registrations = session.scalars(
        select(RegRegistration).join(RegProgramme).where(
            RegProgramme.project_id == project.id, RegRegistration.submitted_at >= start,
            RegRegistration.submitted_at < end).order_by(RegProgramme.name, RegRegistration.submitted_at)).all()
    if not registrations:
        return None
    by_programme: dict[RegProgramme, dict[str, list[RegRegistration]]] = defaultdict(lambda: defaultdict(list))
    for registration in registrations:
        by_programme[registration.programme][registration.status].append(registration)
    day = "%Y-%m-%d"
    span = f"{start:{day}}" if end - start <= timedelta(days=1) else f"{start:{day}} – {(end - timedelta(seconds=1)):{day}}"
    subject = f"{project.name}: {len(registrations)} registration{'s' if len(registrations) != 1 else ''} ({span})"
    lines = [f"Registrations for {project.name} submitted {span} (UTC), per programme by their status now.", ""]
    for programme, per_status in sorted(by_programme.items(), key=lambda item: item[0].name):
        taken = catalogue.capacity_taken(session, programme.id)
        lines.append(f"{programme.name} — {taken} of {programme.capacity} places taken, "
                     f"{catalogue.status_of(programme, taken)}")
        for status in dashboard.SHOWN:
            for_status = per_status.get(status, [])
            if for_status:
                lines.append(f"  {status}: {len(for_status)}")
                lines += [f"    {r.id[:8]}  {r.submitted_at:%Y-%m-%d %H:%M}" for r in for_status]
        lines.append("")
    lines.append("The people and their answers are in the CRM's Registrations list; accept, waitlist or reject "
                 "them there.")
    return subject, "\n".join(lines) + "\n"


def send_digests(config: Config, now: datetime | None = None) -> dict[str, str]:
    """Send every project's due digest; {project CRM id: "sent" | "nothing" | "failed: …"} for those due."""
    now = now or utcnow()
    with db.session_scope(config.database_url) as session:
        project_ids = session.scalars(select(RegProject.id).where(
            RegProject.digest_period.in_(PERIODS), RegProject.admin_email.is_not(None))).all()
    outcome: dict[str, str] = {}
    for project_id in project_ids:
        with db.session_scope(config.database_url) as session:
            project = catalogue.lock_row(session, RegProject, project_id)
            end = period_end(project.digest_period, now)
            if project.digest_sent_until is not None and project.digest_sent_until >= end:
                continue
            start = project.digest_sent_until or end - PERIODS[project.digest_period]
            message = compose(session, project, start, end)
            if message is None:
                outcome[project.crm_id] = "nothing"
            else:
                try:
                    mail.send(config, [project.admin_email], *message)
                except Exception as exc:  # noqa: BLE001 - tried again at the next run
                    log.warning("registration digest of project %s not sent: %s", project.crm_id,
                                exc.__class__.__name__)
                    outcome[project.crm_id] = f"failed: {exc.__class__.__name__}"
                    continue
                outcome[project.crm_id] = "sent"
                log.info("registration digest of project %s sent", project.crm_id)
            project.digest_sent_until = end
    return outcome
