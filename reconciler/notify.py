"""Telling the admins what a reconciliation found: an e-mail, a Moodle notification, Prometheus gauges.

A notice carries counts only, never a learner's name, e-mail address, record key or field value: an
e-mail and a Moodle notification leave both systems' access control. The differences themselves are
behind the admin API's token and `crmsync reconcile report`; the notice says where.

Each channel is tried on its own and a failing one is logged, not raised: the run's report is stored
already, and a mail server's outage must not turn a finished run into a failed job.

The gauges are read from the database when Prometheus scrapes (`ReconcileCollector`), so every process
that serves metrics (the receiver's gunicorn workers, each connector worker) shows the latest run, not
the one it happened to run itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync import db, mail
from crmsync.config import Config
from crmsync.models import ReconcileRun, ReconcileStatus
from reconciler import kinds, report

log = logging.getLogger(__name__)

# The kinds of difference in words an admin reads in a notice.
KIND_WORDS = {
    kinds.MISSING_IN_CRM: "missing in the CRM",
    kinds.EXTRA_IN_CRM: "in the CRM only (gone from Moodle)",
    kinds.FIELD_DIFFERS: "a field differs",
    kinds.DUPLICATE_CONTACT: "two Contacts for one Moodle user",
    kinds.UNKNOWN_MOODLE_USER: "Contact linked to a Moodle user that does not exist",
}
TRIGGER_WORDS = {"cli": "by `crmsync reconcile`", "api": "through the admin API", "schedule": "by RECONCILE_SCHEDULE"}


def _duration(run: ReconcileRun) -> str:
    if run.finished_at is None:
        return "still running"
    seconds = int((run.finished_at - run.started_at).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def notice(run: ReconcileRun) -> tuple[str, str]:
    """The subject and plain-text body of the notice of a run: counts, timing and where to look."""
    found = report.total(run)
    subject = (f"Moodle ⇄ SuiteCRM reconciliation: {found} difference{'s' if found != 1 else ''} found "
               f"(site {run.site_id}, run {run.id})")
    requests = run.requests or {}
    lines = [
        f"Reconciliation run {run.id} compared Moodle site {run.site_id} with SuiteCRM and found {found} "
        f"difference{'s' if found != 1 else ''}" + (" (a dry run)." if run.dry_run else "."),
        "",
        f"Started:  {run.started_at:%Y-%m-%d %H:%M} UTC, {TRIGGER_WORDS.get(run.trigger, run.trigger)}",
        f"Took:     {_duration(run)}",
        f"Requests: {requests.get('moodle', 0)} to Moodle, {requests.get('crm', 0)} to SuiteCRM",
        "",
        "Differences by kind and record type:",
    ]
    for kind, per_entity in sorted((run.counts or {}).items()):
        for entity, n in sorted(per_entity.items()):
            if n:
                lines.append(f"  {n:>7}  {entity:<11} {KIND_WORDS.get(kind, kind)} ({kind})")
    lines += [
        "",
        "The records and both systems' values are not in this notice (they are personal data). See them with",
        f"  crmsync reconcile report {run.id}",
        f"  or GET /api/v1/reconciliations/{run.id}/differences?format=csv on the sync's admin API;",
        f"repair them with `crmsync reconcile --repair` or POST /api/v1/reconciliations/{run.id}/repair.",
    ]
    return subject, "\n".join(lines) + "\n"


def send_email(config: Config, subject: str, body: str) -> None:
    """Send one e-mail to RECONCILE_EMAIL_TO (crmsync/mail.py). Raises smtplib/OSError errors (the caller logs them)."""
    mail.send(config, config.reconcile_email_to, subject, body)


def notify_moodle(config: Config, subject: str, body: str) -> int:
    """A Moodle notification to every site administrator, through the plugin. Returns how many got it."""
    from crm_connector import to_moodle

    return int(to_moodle.client(config).notify_admins(subject, body).get("sent", 0))


def notify_run(config: Config, run_id: int) -> dict[str, str]:
    """Send the notices of a finished run that found differences; what each channel did, for the log
    and the tests: "sent", "off" (not configured), "nothing to report" or "failed: <why>"."""
    with db.session_scope(config.database_url) as session:
        run = session.get(ReconcileRun, run_id)
        if run is None or run.status != ReconcileStatus.DONE or report.total(run) == 0:
            return {"email": "nothing to report", "moodle": "nothing to report"}
        subject, body = notice(run)
    outcome = {"email": "off", "moodle": "off"}
    if config.reconcile_email_to:
        outcome["email"] = _attempt("e-mail", run_id, lambda: send_email(config, subject, body))
    if config.reconcile_notify_moodle and config.moodle_url:
        outcome["moodle"] = _attempt("Moodle notification", run_id, lambda: notify_moodle(config, subject, body))
    return outcome


def _attempt(channel: str, run_id: int, send: Callable[[], object]) -> str:
    try:
        send()
    except Exception as exc:  # noqa: BLE001 - a notice that fails is logged; the report is stored either way
        log.warning("reconciliation run %s: the %s was not sent: %s: %s", run_id, channel,
                    exc.__class__.__name__, exc)
        return f"failed: {exc.__class__.__name__}"
    log.info("reconciliation run %s: %s sent", run_id, channel)
    return "sent"


class ReconcileCollector:
    """Prometheus collector of the latest finished run, read from the database at each scrape.

    `crmsync_reconcile_differences{kind,entity}` has a series for every kind and entity (0 where the run
    found none, so an alert on `> 0` clears once a repair and a new run find nothing);
    `crmsync_reconcile_last_run_timestamp_seconds` is when that run finished (alert when it grows old).
    Nothing is reported while the database does not answer: /metrics itself still does.
    """

    def __init__(self, sessions: Callable[[], Session]):
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            session = self._sessions()
            try:
                run = session.scalars(select(ReconcileRun).where(ReconcileRun.status == ReconcileStatus.DONE)
                                      .order_by(ReconcileRun.finished_at.desc(), ReconcileRun.id.desc())
                                      .limit(1)).first()
                counts = dict(run.counts or {}) if run else None
                finished = run.finished_at.timestamp() if run and run.finished_at else None
            finally:
                session.close()
        except Exception as exc:  # noqa: BLE001 - metrics must answer while the database is down
            log.warning("reconciliation gauges not read: %s", exc.__class__.__name__)
            return
        if counts is None:
            return
        differences = GaugeMetricFamily(
            "crmsync_reconcile_differences", "Differences the latest finished reconciliation found",
            labels=["kind", "entity"])
        for kind in sorted(set(kinds.KINDS) | set(counts)):
            found = counts.get(kind, {})
            for entity in sorted(set(kinds.ENTITIES) | set(found)):
                differences.add_metric([kind, entity], found.get(entity, 0))
        yield differences
        last = GaugeMetricFamily("crmsync_reconcile_last_run_timestamp_seconds",
                                 "When the latest finished reconciliation ended (Unix time)")
        last.add_metric([], finished or 0)
        yield last

    def describe(self) -> list:
        # No description: the registry must not collect (query the database) when this is registered.
        return []
