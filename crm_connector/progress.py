"""How far the inbox is: what waits, what is done, the rate and the time left (`crmsync backfill-progress`).

Read from the database alone, so it shows every worker's progress, on any machine, and a backfill that
was stopped and started again goes on counting where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmsync.models import EventStatus, EventTransition, InboxEvent, utcnow

WAITING = (EventStatus.PENDING, EventStatus.QUEUED, EventStatus.WAITING)
DONE = (EventStatus.APPLIED, EventStatus.SKIPPED)


@dataclass
class Progress:
    counts: dict[str, int]
    rate: float  # events finished per second over the window

    @property
    def waiting(self) -> int:
        return sum(self.counts.get(s, 0) for s in WAITING)

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in DONE)

    @property
    def failed(self) -> int:
        return self.counts.get(EventStatus.FAILED, 0)

    @property
    def seconds_left(self) -> float | None:
        if not self.waiting:
            return 0.0
        return self.waiting / self.rate if self.rate > 0 else None

    def line(self) -> str:
        left = self.seconds_left
        shown = "unknown (nothing finished lately)" if left is None else _duration(left)
        return (f"waiting {self.waiting:,} (queued {self.counts.get(EventStatus.QUEUED, 0):,}, for a parent "
                f"{self.counts.get(EventStatus.WAITING, 0):,}) · applied {self.counts.get(EventStatus.APPLIED, 0):,}"
                f" · skipped {self.counts.get(EventStatus.SKIPPED, 0):,} · failed {self.failed:,} · "
                f"{self.rate:.3g} events/s · left {shown}")


def snapshot(session: Session, window_seconds: float = 60) -> Progress:
    counts = dict(session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
    since = utcnow() - timedelta(seconds=window_seconds)
    finished = session.scalar(select(func.count()).select_from(EventTransition)
                              .where(EventTransition.at >= since, EventTransition.status.in_(DONE))) or 0
    return Progress(counts, finished / window_seconds)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"
