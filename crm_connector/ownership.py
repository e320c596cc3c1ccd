"""Who wins a learner's field when both systems change it, and what each side is known to hold.

A learner's Contact and their Moodle user are written by two directions, each by its own job: Moodle →
CRM (subject `user:<id>` of the Moodle site) and CRM → Moodle (subject `contact:<id>` of the CRM). Both
keep one state per mapped field on the learner's id-map row (crm_records, `fields`):

- `v`: the value both systems should hold (the winner so far), None while it is unknown;
- `m`, `m_at`: Moodle's value as last seen or written, and the Moodle time (user `timemodified`) of
  Moodle's last change of it;
- `c`, `c_at`: the CRM's value as last seen or written, and the CRM time (`date_modified`) of the
  CRM's last change of it.

A side changed a field when its value differs from the one last seen from it (Moodle's messages carry
the whole state; the CRM's name the fields a CRM user changed). The owner (field_mapping.yaml) decides:
Moodle-owned fields take Moodle's change only, CRM-owned ones the CRM's only (Moodle's value is written
to the CRM when the Contact is created), and for shared ones the change recorded later wins; a change
that made an older one lose is never one that comes *before* it in time, so a Moodle state built before
a CRM edit (delivered after it) loses to it, and the reverse. The loser is recorded (FieldConflict,
field names and times only) and logged.

Each direction decides on the state it read and records its new state with a compare-and-set on the
row's `version`: when the other direction recorded first, the write it made may carry a value that
lost meanwhile, so the subject is written again on the newest state (StateMoved).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace

from sqlalchemy import update

from crm_connector.mapping import (
    Mapped,
    Owner,
    Write,
    contact_mapping,
    crm_text,
    moodle_form,
    moodle_text,
    moodle_value,
)
from crmsync.models import CrmRecord, FieldConflict, Tombstone

log = logging.getLogger(__name__)
CRM, MOODLE = "crm", "moodle"


class StateMoved(Exception):
    """The other direction recorded a newer state of the learner while this one wrote: write again."""


@dataclass
class Loss:
    field: Mapped
    loser: str
    lost_at: int | None
    won_at: int | None
    reason: str


@dataclass
class Decision:
    """What one direction decided for one learner, to be recorded once its write has landed."""

    row_key: tuple[str, str]  # (Moodle site id, "user:<id>")
    version: int | None  # the row's version read; None: no row yet (the write creates it)
    state: dict
    losses: list[Loss] = field(default_factory=list)
    event_id: str | None = None
    crm_id: str | None = None
    rewrite_other: bool = False  # the other system holds a value that lost: write it there again

    @property
    def user_id(self) -> int:
        return int(self.row_key[1].split(":")[1])


def empty_state() -> dict:
    return {"crm_site_id": None, "fields": {}}


def _field_state(state: dict, name: str) -> dict | None:
    return state["fields"].get(name)


def _blank() -> dict:
    return {"v": None, "m": None, "m_at": None, "c": None, "c_at": None}


# --- Moodle → CRM ------------------------------------------------------------------------------------
def from_moodle(session, config, site_id: str, message: dict, writes: list[Write],
                again: bool = False) -> tuple[list[Write], Decision | None]:
    """The writes with the learner's Contact write holding, per mapped field, the winning value; and the
    decision to record after the write. Messages other than a learner's state are left as they are.
    `again`: the message was applied before and is written again: it holds no change any more."""
    if message["type"] not in ("user.created", "user.updated"):
        return writes, None
    data = message["data"]
    key = f"user:{data['id']}"
    index = next((i for i, w in enumerate(writes) if w.module == "Contacts" and w.key == key and not w.facet), None)
    if index is None:
        return writes, None
    row = session.get(CrmRecord, (site_id, key), populate_existing=True)
    if row is not None and (row.linked or row.tombstone in (Tombstone.ANONYMISED, Tombstone.WITHDRAWN)):
        return writes, None  # a Contact this site never writes
    creating = row is None or row.tombstone is not None
    state = copy.deepcopy(row.fields) if row is not None and row.fields and not creating else empty_state()
    decision = Decision((site_id, key), None if row is None else row.version, state, event_id=message["id"],
                        crm_id=None if row is None else row.crm_id)
    when = data.get("timemodified")
    attributes, keep = dict(writes[index].attributes), set()
    for mapped in contact_mapping(config):
        value = moodle_value(data, mapped)
        known = _field_state(state, mapped.crm)
        if creating or known is None:
            known = state["fields"][mapped.crm] = _blank()
            known["m"], known["m_at"] = value, when
            if creating or mapped.owner != Owner.CRM:
                known["v"] = value
        elif value != known["m"] and not again:
            _moodle_changed(decision, mapped, known, value, when)
        if known["v"] is None:
            attributes.pop(mapped.crm, None)  # the CRM's own value, unknown here: left as the CRM has it
            continue
        attributes[mapped.crm] = crm_text(known["v"])
        if known["c"] == known["v"]:
            keep.add(mapped.crm)
    writes = list(writes)
    writes[index] = replace(writes[index], attributes=attributes, keep=frozenset(keep))
    return writes, decision


def _moodle_changed(decision: Decision, mapped: Mapped, known: dict, value: str, when: int | None) -> None:
    if mapped.owner == Owner.CRM:
        known["m"] = value  # Moodle holds it, and the CRM's value goes back to Moodle
        decision.losses.append(Loss(mapped, MOODLE, when, known["c_at"], "the field is CRM-owned"))
        decision.rewrite_other = decision.rewrite_other or known["v"] is not None
        return
    if mapped.owner == Owner.SHARED and known["c_at"] is not None and when is not None and known["c_at"] > when:
        # A CRM edit recorded after this Moodle state: it is written to Moodle (or was), so Moodle's value
        # seen here is either older than it or about to be replaced by it.
        decision.losses.append(Loss(mapped, MOODLE, when, known["c_at"], "the CRM changed it later"))
        return
    known["v"] = known["m"] = value
    known["m_at"] = when


def settle_from_moodle(session, decision: Decision) -> None:
    """After the CRM write (or its content hash said the CRM shows it all): the CRM holds every value the
    Contact write carried. A Contact that turned out to be another site's (an e-mail match) keeps no state."""
    row = session.get(CrmRecord, decision.row_key)
    if row is None or row.linked:
        return
    for known in decision.state["fields"].values():
        if known["v"] is not None:
            known["c"] = known["v"]
    _record(session, decision, {})


# --- CRM → Moodle ------------------------------------------------------------------------------------
def from_crm(row: CrmRecord | None, config, crm_site_id: str, data: dict, event_id: str, site_id: str, key: str,
             again: bool = False, write_all: bool = False) -> tuple[dict[Mapped, str], Decision]:
    """The fields to write to Moodle (mapped field → plain value) for a Contact's change, and the decision.
    `again`: the message was applied before, so it holds no change any more; `write_all`: Moodle may show an
    older state than recorded (a write that lost its claim or timed out), so every known value is written."""
    state = copy.deepcopy(row.fields) if row is not None and row.fields else empty_state()
    state["crm_site_id"] = crm_site_id
    decision = Decision((site_id, key), None if row is None else row.version, state, event_id=event_id,
                        crm_id=data["id"])
    when, changed, values = data["date_modified"], set(data["changed"]), data["fields"]
    to_write: dict[Mapped, str] = {}
    for mapped in contact_mapping(config):
        known = _field_state(state, mapped.crm)
        if known is None:
            known = state["fields"][mapped.crm] = _blank()
        if mapped.crm in values and not again:
            _crm_value(decision, mapped, known, values[mapped.crm], mapped.crm in changed, when)
        if mapped.owner != Owner.MOODLE and known["v"] is not None and (write_all or known["v"] != known["m"]):
            to_write[mapped] = known["v"]
    # Written again because the other direction moved while this one wrote: the CRM may show a value it
    # wrote on the state before, so the CRM is written again too.
    decision.rewrite_other = decision.rewrite_other or (write_all and not again)
    return to_write, decision


def _crm_value(decision: Decision, mapped: Mapped, known: dict, value: str, changed: bool, when: int | None) -> None:
    """A CRM value (plain text, as the receiver stores it) and whether a CRM user changed it."""
    known["c"] = moodle_text(value)  # what the CRM shows (changed by its user, or a value this sync wrote)
    if changed and mapped.owner != Owner.MOODLE:
        value = moodle_form(mapped, value)
    else:
        value = known["c"]
    if not changed:
        if known["v"] is None and mapped.owner == Owner.CRM:
            known["v"] = value  # a CRM-owned value learnt: Moodle follows it
        return
    if mapped.owner == Owner.MOODLE:
        if value != known["v"]:
            decision.losses.append(Loss(mapped, CRM, when, known["m_at"], "the field is Moodle-owned"))
            decision.rewrite_other = decision.rewrite_other or known["v"] is not None
    elif mapped.owner == Owner.SHARED and known["m_at"] is not None and when is not None and known["m_at"] > when:
        decision.losses.append(Loss(mapped, CRM, when, known["m_at"], "Moodle changed it later"))
        decision.rewrite_other = True
    else:
        known["v"], known["c_at"] = value, when


def settle_from_crm(session, decision: Decision, written: dict[Mapped, str], row: CrmRecord | None) -> None:
    """After the Moodle write: Moodle holds what was written, and the CRM what its message said; the Contact's
    content hash is brought to what Moodle's echo of this write will carry, so the echo writes nothing."""
    for mapped, value in written.items():
        decision.state["fields"][mapped.crm]["m"] = value
    changes: dict = {}
    if row is not None and row.attributes is not None:
        from crm_connector.writer import content_hash

        attributes = dict(row.attributes)
        for name, known in decision.state["fields"].items():
            if name in attributes and known["c"] is not None:
                attributes[name] = crm_text(known["c"])
        changes = {"attributes": attributes, "content_hash": content_hash("Contacts", attributes)}
    _record(session, decision, changes)


# --- both --------------------------------------------------------------------------------------------
def _record(session, decision: Decision, changes: dict) -> None:
    """Compare-and-set the row's state; the caller commits it with the event's outcome."""
    site_id, key = decision.row_key
    if decision.version is None:
        row = session.get(CrmRecord, decision.row_key)
        if row is None:  # CRM → Moodle for a learner this site never wrote: the Contact is theirs
            session.add(CrmRecord(site_id=site_id, entity_key=key, crm_module="Contacts", crm_id=decision.crm_id,
                                  content_hash=None, incarnation=0, fields=decision.state, version=1, **changes))
            session.flush()
            _losses(session, decision)
            return
        # Created by this job's own write (a Contact's first creation): nobody else has seen it yet.
        expected = row.version
    else:
        expected = decision.version
    moved = session.execute(
        update(CrmRecord).where(CrmRecord.site_id == site_id, CrmRecord.entity_key == key,
                                CrmRecord.version == expected)
        .values(fields=decision.state, version=expected + 1, **changes).execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise StateMoved(key)
    _losses(session, decision)


def _losses(session, decision: Decision) -> None:
    site_id, _key = decision.row_key
    for loss in decision.losses:
        log.warning("superseded: %s's change of %s (Moodle user %s of site %s, %s owner) lost: %s",
                    "the CRM" if loss.loser == CRM else "Moodle", loss.field.crm, decision.user_id, site_id,
                    loss.field.owner, loss.reason)
        session.add(FieldConflict(site_id=site_id, moodle_user_id=decision.user_id, crm_id=decision.crm_id,
                                  crm_field=loss.field.crm, moodle_field=loss.field.moodle, owner=loss.field.owner,
                                  loser=loss.loser, lost_at=loss.lost_at, won_at=loss.won_at, reason=loss.reason,
                                  event_id=decision.event_id))
