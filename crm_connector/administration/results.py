"""How a record tells the CRM user what became of their change: sync_state, sync_message, sync_time.

The before_save hook of the package set sync_state = pending ("Waiting for Moodle") when they saved; the
connector, writing as the API user (never recorded in the CRM's outbox, so no echo), sets done or failed.
A failure's sync_message says what is wrong in the CRM user's words and what to do; Moodle's own answer
goes to the dead letter (GET /api/v1/events), where an operator replays it once the cause is fixed.
"""

from __future__ import annotations

import time

from crm_connector.mapping import crm_datetime, crm_text
from crm_connector.moodle import PermanentError
from crm_connector.suitecrm import NotFound

DONE, FAILED = "done", "failed"
TIMED = {"mdl_Enrolments"}  # the modules with a sync_time field (crm_schema.yaml)


class Refused(PermanentError):
    """The record asks for something Moodle cannot or will not do: permanent for this state of the record."""

    def __init__(self, reason: str, moodle_answer: str | None = None):
        super().__init__(reason if moodle_answer is None else f"{reason} (Moodle: {moodle_answer})")
        self.reason = reason


def _stamp(module: str) -> dict:
    return {"sync_time": crm_datetime(int(time.time()))} if module in TIMED else {}


def done(work, module: str, record_id: str, attributes: dict | None = None) -> None:
    work.write_crm(work.crm.update, module, record_id,
                   {**(attributes or {}), "sync_state": DONE, "sync_message": "", **_stamp(module)})


def failed(work, module: str, record_id: str, reason: str) -> None:
    """The refusal on the record; a record deleted meanwhile has nobody left to tell."""
    try:
        work.write_crm(work.crm.update, module, record_id,
                       {"sync_state": FAILED, "sync_message": crm_text(reason), **_stamp(module)})
    except NotFound:
        pass
