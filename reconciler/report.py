"""The stored report of reconciliations: runs and the differences each found (crmsync/models.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from crmsync.config import Config
from crmsync.models import ReconcileDifference, ReconcileRun, ReconcileStatus, utcnow

if TYPE_CHECKING:
    from reconciler.compare import Difference

TRIGGERS = ("cli", "api", "schedule")


def start_run(session: Session, config: Config, trigger: str, dry_run: bool = False,
              site_id: str | None = None) -> ReconcileRun:
    """A new run (status running, empty counts and requests); the caller commits."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    run = ReconcileRun(site_id=site_id or config.moodle_site_id or "", trigger=trigger, dry_run=dry_run,
                       status=ReconcileStatus.RUNNING, counts={}, requests={"moodle": 0, "crm": 0}, checkpoint=None)
    session.add(run)
    session.flush()
    return run


def latest(session: Session) -> ReconcileRun | None:
    return session.scalar(select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(1))


def runs(session: Session, limit: int = 50) -> list[ReconcileRun]:
    return list(session.scalars(select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(limit)).all())


def differences(session: Session, run_id: int, kinds: Sequence[str] | None = None,
                ids: Sequence[int] | None = None) -> list[ReconcileDifference]:
    query = select(ReconcileDifference).where(ReconcileDifference.run_id == run_id)
    if kinds:
        query = query.where(ReconcileDifference.kind.in_(list(kinds)))
    if ids:
        query = query.where(ReconcileDifference.id.in_(list(ids)))
    return list(session.scalars(query.order_by(ReconcileDifference.id)).all())


def record(session: Session, run: ReconcileRun, found: Iterable[Difference]) -> int:
    """Store differences and count them per kind and entity; the caller commits (with the checkpoint)."""
    counts = {kind: dict(entities) for kind, entities in (run.counts or {}).items()}
    number = 0
    for difference in found:
        session.add(ReconcileDifference(run_id=run.id, **difference.as_row()))
        per_entity = counts.setdefault(difference.kind, {})
        per_entity[difference.entity] = per_entity.get(difference.entity, 0) + 1
        number += 1
    run.counts = counts
    flag_modified(run, "counts")
    return number


def add_requests(run: ReconcileRun, moodle: int, crm: int) -> None:
    requests = dict(run.requests or {})
    requests["moodle"] = requests.get("moodle", 0) + moodle
    requests["crm"] = requests.get("crm", 0) + crm
    run.requests = requests
    flag_modified(run, "requests")


def finish(run: ReconcileRun, status: str, error: str | None = None) -> None:
    run.status, run.error = status, error
    if status in (ReconcileStatus.DONE, ReconcileStatus.FAILED):
        run.finished_at = utcnow()


def total(run: ReconcileRun) -> int:
    return sum(n for entities in (run.counts or {}).values() for n in entities.values())


def as_dict(run: ReconcileRun) -> dict:
    """A run as the CLI's JSON and the admin API show it."""
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return {"id": run.id, "site_id": run.site_id, "status": run.status, "trigger": run.trigger,
            "dry_run": run.dry_run, "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None, "duration_seconds": duration,
            "counts": run.counts or {}, "differences": total(run), "requests": run.requests or {},
            "error": run.error}


DIFFERENCE_COLUMNS = ("id", "kind", "entity", "key", "crm_module", "crm_id", "field", "moodle_value", "crm_value",
                      "owner", "subject", "repaired_at", "repair_note")


def difference_dict(difference: ReconcileDifference) -> dict:
    row = {name: getattr(difference, name) for name in DIFFERENCE_COLUMNS}
    row["repaired_at"] = difference.repaired_at.isoformat() if difference.repaired_at else None
    return row
