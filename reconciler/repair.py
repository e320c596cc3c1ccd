"""Repair: re-apply the owning side's state for chosen differences, through the normal ordered path.

- Moodle's state (a record missing in the CRM, a field the CRM shows otherwise): the subject is marked for
  rewrite (its next state is written whole: the content hashes say the CRM shows what it no longer does) and
  the plugin's `resend` records fresh state messages for it in its outbox; they are delivered, ordered and
  applied like any event, so a repair never races a live change or overwrites a newer one.
- The CRM's state (a field the CRM owns, or changed last, that Moodle does not show): the Contact's subject
  `contact:<id>` is marked for rewrite (crm_connector/ordering.py) and a job writes its newest stored CRM
  message to Moodle again, all fields.
- A CRM record whose Moodle entity is gone: RECONCILE_EXTRA_RECORDS — `report` changes nothing; `mark` has
  the plugin send the entity's deletion (applied as the connector's deletion policies say).
- Identity problems (a duplicate Contact, a Contact of a user Moodle does not have) need a person: listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis import Redis
from sqlalchemy.orm import Session

from crm_connector import ordering, to_moodle
from crmsync import queue
from crmsync.config import Config
from crmsync.models import CrmRecord, ReconcileRun, utcnow
from reconciler import kinds, report
from reconciler.pacing import RequestPacer

RESEND_BATCH = 1000  # the most subjects local_crmsync_resend takes at once


@dataclass
class Action:
    difference_id: int
    action: str  # resend | rewrite_crm | none
    subject: str | None
    note: str

    def as_dict(self) -> dict:
        return {"difference": self.difference_id, "action": self.action, "subject": self.subject, "note": self.note}


def _plan(session: Session, config: Config, run: ReconcileRun, difference) -> Action:
    if difference.owner is None:
        what = {kinds.DUPLICATE_CONTACT: f"merge the Contact {difference.crm_value} into "
                                           f"{difference.moodle_value}, the one the sync writes",
                kinds.UNKNOWN_MOODLE_USER: "link the Contact to the right Moodle user, or clear its Moodle ids",
                }.get(difference.kind, f"delete the record {difference.crm_value} of {difference.crm_module}: "
                                       f"the sync writes {difference.moodle_value}")
        return Action(difference.id, "none", None, f"needs a person's decision: {what}")
    if difference.kind == kinds.EXTRA_IN_CRM and config.reconcile_extra_records == "report":
        return Action(difference.id, "none", None, "kept: RECONCILE_EXTRA_RECORDS is report (nothing is deleted)")
    if difference.owner == "crm":
        row = session.get(CrmRecord, (run.site_id, difference.key))
        crm_site = ((row.fields or {}).get("crm_site_id") if row is not None else None)
        state = ordering.current(session, crm_site, difference.subject) if crm_site else None
        if state is None or not state.last_event_id:
            return Action(difference.id, "none", difference.subject,
                          "no change of this Contact has come from the CRM yet, so there is none to write to "
                          "Moodle again: save the Contact in SuiteCRM to send it")
        return Action(difference.id, "rewrite_crm", difference.subject,
                      f"the CRM's newest state of {difference.subject} is written to Moodle again")
    verb = "its deletion" if difference.kind == kinds.EXTRA_IN_CRM else "its current state"
    return Action(difference.id, "resend", difference.subject,
                  f"Moodle sends {verb} again ({difference.subject}), applied by the normal ordered path")


def repair(session: Session, config: Config, run_id: int, difference_ids: Sequence[int] | None = None,
           kinds: Sequence[str] | None = None, dry_run: bool = False, moodle=None) -> list[dict]:
    """What was done (or, dry run, would be done) for each chosen difference not repaired yet; commits."""
    run = session.get(ReconcileRun, run_id)
    if run is None:
        raise LookupError(f"no reconciliation run {run_id}")
    chosen = [d for d in report.differences(session, run_id, kinds, difference_ids) if d.repaired_at is None]
    actions = [_plan(session, config, run, difference) for difference in chosen]
    if dry_run:
        session.rollback()
        return [action.as_dict() for action in actions]
    by_id = {difference.id: difference for difference in chosen}
    subjects = sorted({a.subject for a in actions if a.action == "resend"})
    unknown: set[str] = set()
    if subjects:
        # The CRM no longer shows what the id map's content hashes say it was last written: the subject's next
        # state (the resent one, or a live event arriving first) is written whole, hashes ignored.
        for subject in subjects:
            ordering.mark_rewrite(session, run.site_id, subject)
        moodle = moodle or to_moodle.client(config)
        pacer = RequestPacer(config.reconcile_moodle_rps)
        for start in range(0, len(subjects), RESEND_BATCH):
            pacer.wait()
            unknown |= set(moodle.resend(subjects[start:start + RESEND_BATCH]).get("unknown") or [])
    redis = Redis.from_url(config.redis_url)
    rewritten: set[str] = set()
    for action in actions:
        difference = by_id[action.difference_id]
        if action.action == "rewrite_crm" and action.subject not in rewritten:
            row = session.get(CrmRecord, (run.site_id, difference.key))
            crm_site = row.fields["crm_site_id"]
            ordering.mark_rewrite(session, crm_site, action.subject)
            queue.schedule_rewrite(redis, config, crm_site, action.subject, 0)
            rewritten.add(action.subject)
        if action.action == "resend" and action.subject in unknown:
            action.action, action.note = "none", f"Moodle does not know {action.subject}: nothing was resent"
        difference.repair_note = action.note
        if action.action != "none":
            difference.repaired_at = utcnow()
    session.commit()
    return [action.as_dict() for action in actions]
