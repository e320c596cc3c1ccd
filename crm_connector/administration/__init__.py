"""CRM → Moodle administration: what CRM users do to enrolments, groups and intakes in SuiteCRM's own
screens, carried out in Moodle (docs/crm-user-guide.md).

Called by the job (jobs.py) for a CRM message other than a Contact's, under the claim on its subject
(`enrolment:<CRM id>`, `group:<id>`, `intake:<id>`, `registration:<id>`), with the same ordering, retries, pauses and dead
letters as every other message. Each message type has its handler here; the rules they share:

- everything that can be checked is checked before the first Moodle write, so a refused record leaves
  nothing half-done in Moodle (results.Refused);
- the record itself says how it went: sync_state done or failed and, on failure, sync_message in the
  CRM user's words (results.py); a refusal is also a dead letter with Moodle's answer, replayable;
- every Moodle write sets a state (enrol again = the same enrolment, groups are set, not toggled), so a
  repeated or replayed message changes nothing.
"""

from __future__ import annotations

from crm_connector import to_moodle
from crm_connector.administration import enrolments, groups, intakes, registrations
from crm_connector.administration.work import Outcome, Work

HANDLERS = {
    "enrolment.updated": enrolments.apply_updated,
    "enrolment.deleted": enrolments.apply_deleted,
    "group.updated": groups.apply_updated,
    "group.deleted": groups.apply_deleted,
    "intake.updated": intakes.apply_updated,
    "intake.deleted": intakes.apply_deleted,
    "registration.updated": registrations.apply_updated,
    "registration.deleted": registrations.apply_deleted,
}


def handles(message_type: str) -> bool:
    return message_type in HANDLERS


def apply(session, config, client_factory, crm_site_id: str, message: dict, before_write, again: bool = False,
          write_all: bool = False) -> Outcome:
    """Apply one CRM administration message; the caller commits. Raises the clients' errors (results.Refused
    for a record Moodle cannot or will not carry out)."""
    from crm_connector import runtime

    site_id = to_moodle.target_site(session, config)
    work = Work(session=session, config=config, moodle=client_factory(), crm=runtime.crm_client(), site_id=site_id,
                crm_site_id=crm_site_id, before_write=before_write, again=again or write_all)
    return HANDLERS[message["type"]](work, message)
