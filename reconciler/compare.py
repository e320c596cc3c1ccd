"""What the CRM should hold for Moodle's current state, and how what it holds differs.

What it should hold is what the connector would write for Moodle's current messages: the mapping's own
`writes_for` and, for a learner's Contact, the field ownership's `from_moodle` (crm_connector/), so there is
one rule. Records are matched by the Moodle entity they stand for (`user:3`, `enrolment:3:2`, …), as the id
map (crm_records) and the records' Moodle id fields say, and values are compared as SuiteCRM gives them back
(times to the minute, numbers as numbers, text as the connector wrote it).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from crm_connector import ownership
from crm_connector.mapping import NEWEST_WINS, Owner, contact_mapping, moodle_text, moodle_value, writes_for
from crmsync.config import Config
from crmsync.models import CrmRecord, Tombstone
from reconciler import crm_state
from reconciler.kinds import (
    DUPLICATE_CONTACT,
    ENTITY_OF_PREFIX,
    EXTRA_IN_CRM,
    FIELD_DIFFERS,
    MISSING_IN_CRM,
    UNKNOWN_MOODLE_USER,
)

# Written by the writer to every record (the reader filters by it), or ordered by Moodle times across
# subjects (the newest of several wins: writer.py's high-water marks), so no one message says their value;
# or when a summary was computed (an export computes it anew: it always differs, and says nothing).
NOT_COMPARED = {"moodle_site_id", "moodle_site_id_c", "summary_updated",
                *(name for group in NEWEST_WINS.values() for name in group)}


@dataclass
class Difference:
    kind: str
    entity: str
    key: str
    crm_module: str | None = None
    crm_id: str | None = None
    field: str | None = None
    moodle_value: str | None = None
    crm_value: str | None = None
    owner: str | None = None  # whose state a repair re-applies: moodle | crm | None (a person decides)
    subject: str | None = None  # what a repair re-applies: the Moodle subject resent, or the CRM's contact:<id>

    def as_row(self) -> dict:
        return asdict(self)


def entity_of(key: str) -> str:
    return ENTITY_OF_PREFIX.get(key.split(":", 1)[0], key.split(":", 1)[0])


def subject_of(key: str) -> str:
    """The Moodle subject whose message writes the record `key` (a session's marks, a course's summary)."""
    prefix, _, rest = key.partition(":")
    if prefix == "attendance":
        return f"attendance:{rest.split(':')[0]}"
    if prefix == "activity_summary":
        return f"course_summary:{rest.split(':')[0]}"
    return key


# --- what the CRM should hold ----------------------------------------------------------------------
def expected_records(session, config: Config, site_id: str, message: dict) -> dict[str, dict]:
    """The records one Moodle message has the CRM hold: key → {module, must_exist, frozen, fields: {name:
    {"v": value as written, "s": subject}}, owned: [names], moodle: {name: [Moodle's value, owner]}}."""
    writes = writes_for(message, config)
    writes, _decision = ownership.from_moodle(session, config, site_id, message, writes)
    subject = message["subject"]
    records: dict[str, dict] = {}
    for write in writes:
        if write.delete:
            continue
        record = records.setdefault(write.key, {"module": write.module, "subject": subject_of(write.key),
                                                "must_exist": False, "frozen": False, "fields": {}, "owned": [],
                                                "moodle": {}})
        record["must_exist"] = record["must_exist"] or not write.only_if_exists
        for name, value in write.attributes.items():
            if name in NOT_COMPARED or not isinstance(value, str):
                continue
            if not write.facet:
                record["owned"].append(name)
            record["fields"][name] = {"v": value, "s": subject}
    if message["type"] in ("user.created", "user.updated") and f"user:{message['data']['id']}" in records:
        record = records[f"user:{message['data']['id']}"]
        record["moodle"] = {m.crm: [moodle_value(message["data"], m), m.owner] for m in contact_mapping(config)}
    for key, record in records.items():
        row = session.get(CrmRecord, (site_id, key))
        if row is not None and (row.linked or row.tombstone in (Tombstone.ANONYMISED, Tombstone.WITHDRAWN)):
            # Another site's learner's Contact (only it writes it), or one never to be written again.
            record.update(must_exist=False, frozen=True, fields={}, owned=[], moodle={})
    return records


def merge(stored: dict | None, new: dict) -> dict:
    """Two messages' view of one record: a record's own write wins over another message's facet of it."""
    if stored is None:
        return new
    owned = set(stored["owned"])
    for name, value in new["fields"].items():
        if name in new["owned"] or name not in owned:
            stored["fields"][name] = value
    stored["owned"] = sorted(owned | set(new["owned"]))
    stored["must_exist"] = stored["must_exist"] or new["must_exist"]
    stored["frozen"] = stored["frozen"] or new["frozen"]
    stored["moodle"] = new["moodle"] or stored["moodle"]
    return stored


# --- how the CRM differs ---------------------------------------------------------------------------
def _minute(value: str) -> str:
    """A time as UTC to the minute: the connector writes 'Y-m-d H:i:s' (UTC), V8 answers ISO 8601 with the
    API user's offset and the seconds dropped."""
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        with contextlib.suppress(ValueError):
            when = datetime.strptime(value, pattern)
            if when.tzinfo is not None:
                when = when.astimezone(UTC)
            return when.strftime("%Y-%m-%d %H:%M")
    return value


def normalised(module: str, name: str, value) -> str:
    """A value as comparable text: SuiteCRM shows times to the minute (its users' time format), numbers as
    it formats them, booleans as 1/0."""
    text = "" if value is None else str(value)
    kind = crm_state.field_type(module, name)
    if kind in ("datetime", "datetimecombo") and text:
        return _minute(text)
    if kind == "bool":
        return "1" if text.strip().lower() in ("1", "true", "on", "yes") else "0"
    if kind in ("int", "decimal", "float", "currency") and text.strip():
        with contextlib.suppress(ValueError):
            return f"{float(text):.6f}"
    return text


def field_differences(module: str, key: str, expected: dict, crm: dict) -> list[Difference]:
    """The fields of a CRM record that show otherwise than the connector would write them."""
    found = []
    entity = entity_of(key)
    for name, wanted in sorted(expected["fields"].items()):
        shown = crm.get(name)
        if normalised(module, name, wanted["v"]) == normalised(module, name, shown):
            continue
        found.append(Difference(FIELD_DIFFERS, entity, key, module, crm["id"], name, moodle_text(wanted["v"]),
                                moodle_text("" if shown is None else str(shown)), Owner.MOODLE, wanted["s"]))
    # A field the CRM owns (or shares, and changed last) shows the owner's value in the CRM: Moodle should
    # hold it too. Repaired the other way: the Contact's newest CRM message is written to Moodle again.
    for name, (moodle, owner) in sorted(expected.get("moodle", {}).items()):
        if owner == Owner.MOODLE or any(d.field == name for d in found):
            continue
        shown = moodle_text("" if crm.get(name) is None else str(crm.get(name)))
        if shown != moodle:
            found.append(Difference(FIELD_DIFFERS, entity, key, module, crm["id"], name, moodle, shown, Owner.CRM,
                                    f"contact:{crm['id']}"))
    return found


def unexpected(module: str, key: str, crm: dict, row: CrmRecord | None) -> Difference | None:
    """A CRM record for a Moodle entity Moodle does not have (any more)."""
    ended = crm_state.ENDED.get(module)
    if ended is not None and str(crm.get(ended[0]) or "") == ended[1]:
        return None  # ended as the connector ends it
    if row is not None and row.tombstone in (Tombstone.ANONYMISED, Tombstone.WITHDRAWN):
        return None  # kept, frozen, on purpose
    if module == "Contacts" and (row is None or row.crm_id != crm["id"]):
        return Difference(UNKNOWN_MOODLE_USER, "user", key, module, crm["id"], "moodle_user_id_c", None,
                          str(crm.get("moodle_user_id_c") or ""), None)
    return Difference(EXTRA_IN_CRM, entity_of(key), key, module, crm["id"], None, None, None, Owner.MOODLE,
                      subject_of(key))


def duplicate(module: str, key: str, crm: dict, kept_id: str) -> Difference:
    """A second record for one Moodle entity: `kept_id` is the one the sync writes."""
    if module == "Contacts":
        return Difference(DUPLICATE_CONTACT, "user", key, module, crm["id"], "id", kept_id, crm["id"], None)
    return Difference(EXTRA_IN_CRM, entity_of(key), key, module, crm["id"], "id", kept_id, crm["id"], None)


def missing(key: str, expected: dict, row: CrmRecord | None) -> Difference:
    return Difference(MISSING_IN_CRM, entity_of(key), key, expected["module"],
                      row.crm_id if row is not None else None, None, None, None, Owner.MOODLE, expected["subject"])
