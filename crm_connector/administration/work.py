"""What one administration message's handler works with, and what it reports to the job."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_connector.moodle import MoodleClient
from crm_connector.suitecrm import SuiteCrmClient
from crmsync.config import Config


@dataclass
class Work:
    session: object
    config: Config
    moodle: MoodleClient
    crm: SuiteCrmClient
    site_id: str  # the Moodle site written to
    crm_site_id: str
    before_write: object  # the job's fence: raises when the claim on the subject is lost
    again: bool = False  # applied before (a replay or a rewrite): the same state is written again
    moodle_writes: int = 0
    crm_writes: int = 0

    def write_moodle(self, call, *args):
        self.before_write()
        self.moodle_writes += 1
        return call(*args)

    def write_crm(self, call, *args):
        self.before_write()
        self.crm_writes += 1
        return call(*args)


@dataclass
class Outcome:
    skipped: str | None = None  # why nothing was done (the event is recorded as skipped)
    summary: str = ""
    moodle_writes: int = 0
    crm_writes: int = 0
    rewrite: list[tuple[str, str]] = field(default_factory=list)

    @property
    def detail(self) -> str:
        counts = f"{self.moodle_writes} Moodle writes, {self.crm_writes} CRM writes"
        if self.skipped:
            return f"{self.skipped} ({counts})" if self.moodle_writes or self.crm_writes else self.skipped
        return f"{self.summary}; {counts}" if self.summary else counts

    @classmethod
    def of(cls, work: Work, summary: str = "", skipped: str | None = None) -> Outcome:
        return cls(skipped=skipped, summary=summary, moodle_writes=work.moodle_writes, crm_writes=work.crm_writes)
