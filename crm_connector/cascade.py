"""What a course, activity or grade item deletion, or a course rename, takes with it in the CRM.

Moodle sends one message for the course (or activity, or grade item); the learners' records that
belonged to it are found in the id map, where every record notes its course, activity and grade
item. Each record's subject gets the message the plugin would have sent for it, with the parent's
sequence, and it goes through the normal ordered path of that subject: a stale update still queued
for one of them is then skipped instead of bringing the record (or the old course name) back.

A deletion's message is the record's deletion. A rename's, and an activity deletion's for the
course's activity summary, is the subject's newest state the inbox holds with the new course name
(or without the activity): a full state, so whatever a still-waiting older message said is not lost
when that message is coalesced into it. Only when the inbox holds no state of the subject any more
(past RETENTION_DAYS) is it a partial message, which then has nothing to coalesce.
"""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_connector.mapping import NAMESPACE, Write, activity_key
from crmsync.models import CrmRecord, EventStatus, EventTransition, InboxEvent, SubjectState

SCOPE_OF = {"course.deleted": CrmRecord.course_id, "activity.deleted": CrmRecord.cm_id,
            "grade_item.deleted": CrmRecord.item_id}
RENAMING = ("course.created", "course.updated")
SUMMARY = "course_summary.updated"
# Written by these cascades: not a whole state of their subject, so never the base of a derived one.
PARTIAL = ("course.renamed", "activity_summary.deleted")
# A re-created record lost the facets other subjects wrote to it: those subjects are written again.
FACET_SUBJECTS = {"enrolment": ("course_access", "course_completion")}
# The records that link to a learner's Contact: `<kind>:<user id>:…` in the id map (and attendance marks,
# `attendance:<session>:<user id>`).
CONTACT_CHILDREN = ("enrolment", "grade", "module_completion", "course_completion", "consent")


def subject_of(key: str) -> str:
    """The subject whose messages write the record `key` of the id map."""
    kind, *ids = key.split(":")
    if kind == "attendance":
        return f"attendance:{ids[0]}"  # one message per session, for every learner's mark
    if kind == "activity_summary":
        return f"course_summary:{ids[0]}"
    return key


def _deletion(key: str, courseid: int | None) -> tuple[str, dict] | None:
    """(type, data) of the deletion message for one learner's record of the id map."""
    kind, *ids = key.split(":")
    numbers = [int(i) for i in ids]
    if kind == "enrolment":
        return "enrolment.deleted", {"userid": numbers[0], "courseid": numbers[1], "status": "deleted",
                                     "enrolments": [], "roles": [], "groups": []}
    if kind == "grade":
        return "grade.deleted", {"userid": numbers[0], "courseid": courseid, "itemid": numbers[1], "deleted": True}
    if kind == "module_completion":
        return "module_completion.deleted", {"userid": numbers[0], "cmid": numbers[1], "courseid": courseid,
                                             "deleted": True}
    if kind == "course_completion":
        return "course_completion.deleted", {"userid": numbers[0], "courseid": numbers[1], "deleted": True}
    if kind == "attendance":
        return "attendance.deleted", {"sessionid": numbers[0], "courseid": courseid, "deleted": True}
    return None


def _events(session: Session, site_id: str, subject: str):
    """The subject's events that carry a state (a dead letter's was refused), newest first."""
    return (select(InboxEvent).where(InboxEvent.site_id == site_id, InboxEvent.subject == subject,
                                     InboxEvent.status != EventStatus.FAILED)
            .order_by(InboxEvent.sequence.desc()))


def _base(session: Session, site_id: str, subject: str, before: int) -> InboxEvent | None:
    """The newest whole state of a subject older than `before`, whether applied or still waiting."""
    return session.scalars(_events(session, site_id, subject)
                           .where(InboxEvent.sequence < before, InboxEvent.type.not_in(PARTIAL)).limit(1)).first()


def _newer_exists(session: Session, site_id: str, subject: str, sequence: int) -> bool:
    return session.scalars(_events(session, site_id, subject).where(InboxEvent.sequence > sequence)
                           .limit(1)).first() is not None


def _gone_activities(session: Session, site_id: str, courseid: int, before: int) -> set[int]:
    """Grade items of a course whose records are deleted, or whose activity, grade item or course
    Moodle deleted before `before` (that deletion's own cascade may not have run yet)."""
    prefix = activity_key(courseid, 0)[:-1]
    rows = session.execute(select(CrmRecord.item_id, CrmRecord.cm_id, CrmRecord.tombstone).where(
        CrmRecord.site_id == site_id, CrmRecord.entity_key.like(f"{prefix}%"),
        CrmRecord.entity_key.not_like("%#%"))).all()
    deleting = {f"course:{courseid}"} | {f"activity:{cm}" for _, cm, _ in rows if cm is not None} \
        | {f"grade_item:{item}" for item, _, _ in rows}
    deleted = set(session.scalars(select(InboxEvent.subject).where(
        InboxEvent.site_id == site_id, InboxEvent.subject.in_(deleting), InboxEvent.sequence < before,
        InboxEvent.type.in_(list(SCOPE_OF)), InboxEvent.status != EventStatus.FAILED)))
    return {item for item, cm, tombstone in rows
            if tombstone or {f"course:{courseid}", f"activity:{cm}", f"grade_item:{item}"} & deleted}


def _summary_without(session: Session, site_id: str, base: InboxEvent, before: int) -> dict:
    """The base summary without the activities gone by the time of `before`."""
    data = copy.deepcopy(base.payload["data"])
    gone = _gone_activities(session, site_id, data["courseid"], before)
    data["activities"] = [a for a in data["activities"] if a["itemid"] not in gone]
    return data


def _deletions(session: Session, parent: InboxEvent) -> dict[str, tuple[str, dict]]:
    column = SCOPE_OF[parent.type]
    rows = session.execute(
        select(CrmRecord.entity_key, CrmRecord.course_id)
        .where(CrmRecord.site_id == parent.site_id, column == parent.payload["data"]["id"],
               CrmRecord.tombstone.is_(None), CrmRecord.entity_key.not_like("%#%"))
    ).all()
    messages, courses = {}, set()
    for key, courseid in rows:
        if key.startswith("activity_summary:"):
            courses.add(courseid)
        elif (deletion := _deletion(key, courseid)) is not None:
            messages[subject_of(key)] = deletion
    for courseid in courses:
        # The parent is in the inbox: its activities count as gone (sequence + 1 includes it).
        subject, gone = f"course_summary:{courseid}", parent.sequence + 1
        base = _base(session, parent.site_id, subject, parent.sequence)
        if base is not None and base.type == SUMMARY:
            messages[subject] = SUMMARY, _summary_without(session, parent.site_id, base, gone)
        else:
            itemids = _gone_activities(session, parent.site_id, courseid, gone)
            messages[subject] = "activity_summary.deleted", {"courseid": courseid, "itemids": sorted(itemids)}
    return messages


def _renamed(session: Session, site_id: str, base: InboxEvent, course: dict, sequence: int) -> dict | None:
    """The base state with the course's new name; None when it is about a course that is gone."""
    if base.type == SUMMARY:
        data = _summary_without(session, site_id, base, sequence)
    else:
        data = copy.deepcopy(base.payload["data"])
    if base.type.startswith("enrolment.") and data.get("status") == "deleted" and not data.get("course"):
        return None  # the course was deleted: its enrolments ended, there is nothing to rename
    data["course"] = {**(data.get("course") or {}), **course}
    return data


def _renames(session: Session, parent: InboxEvent) -> dict[str, tuple[str, dict]]:
    data = parent.payload["data"]
    earlier = session.scalars(_events(session, parent.site_id, parent.subject)
                              .where(InboxEvent.sequence < parent.sequence, InboxEvent.type.in_(RENAMING))
                              .limit(1)).first()
    if earlier is not None and earlier.payload["data"]["fullname"] == data["fullname"]:
        return {}  # the course kept its name: its records show it already
    course = {"id": data["id"], "shortname": data["shortname"], "fullname": data["fullname"],
              "idnumber": data.get("idnumber") or ""}
    records = defaultdict(list)
    for key, module in session.execute(
            select(CrmRecord.entity_key, CrmRecord.crm_module)
            .where(CrmRecord.site_id == parent.site_id, CrmRecord.course_id == data["id"],
                   CrmRecord.tombstone.is_(None), CrmRecord.entity_key.not_like("%#%"))
            .order_by(CrmRecord.entity_key)).all():
        records[subject_of(key)].append([module, key])
    messages = {}
    for subject, keys in records.items():
        if _newer_exists(session, parent.site_id, subject, parent.sequence):
            continue  # sent after the rename, so with the new name
        base = _base(session, parent.site_id, subject, parent.sequence)
        if base is None:
            messages[subject] = "course.renamed", {"courseid": data["id"], "course": course, "records": keys}
        elif (renamed := _renamed(session, parent.site_id, base, course, parent.sequence)) is not None:
            messages[subject] = base.type, renamed
    return messages


def children(session: Session, parent: InboxEvent) -> list[str]:
    """Insert the events a parent deletion or rename cascades to (once, however often it is applied)."""
    if parent.type in SCOPE_OF:
        messages = _deletions(session, parent)
    elif parent.type in RENAMING:
        messages = _renames(session, parent)
    else:
        return []
    messages.pop(parent.subject, None)
    if not messages:
        return []
    ids = {subject: str(uuid.uuid5(NAMESPACE, f"{parent.id}|{subject}")) for subject in messages}
    existing = set(session.scalars(select(InboxEvent.id).where(InboxEvent.id.in_(ids.values()))).all())
    created = []
    for subject, (message_type, data) in sorted(messages.items()):
        event_id = ids[subject]
        if event_id in existing:
            continue
        payload = {"id": event_id, "type": message_type, "occurred_at": parent.payload["occurred_at"],
                   "sequence": parent.sequence, "subject": subject, "site": parent.payload["site"],
                   "moodle_event": None, "data": data}
        session.add(InboxEvent(id=event_id, site_id=parent.site_id, type=message_type, subject=subject,
                               sequence=parent.sequence, occurred_at=parent.occurred_at,
                               status=EventStatus.PENDING, attempts=0, payload=payload))
        session.add(EventTransition(event_id=event_id, status=EventStatus.PENDING,
                                    detail=f"cascade of {parent.type} {parent.id}"))
        created.append(event_id)
    return created


def no_longer_listed(session: Session, site_id: str, message: dict) -> list[Write]:
    """Deletions of the activities a course summary no longer lists (removed from the gradebook)."""
    if message["type"] != SUMMARY:
        return []
    courseid = message["data"]["courseid"]
    listed = {activity_key(courseid, a["itemid"]) for a in message["data"]["activities"]}
    prefix = activity_key(courseid, 0)[:-1]
    keys = session.scalars(select(CrmRecord.entity_key).where(
        CrmRecord.site_id == site_id, CrmRecord.entity_key.like(f"{prefix}%"),
        CrmRecord.entity_key.not_like("%#%"), CrmRecord.tombstone.is_(None))).all()
    return [Write("mdl_Activities", key, delete=True) for key in sorted(keys) if key not in listed]


def incarnations(session: Session, site_id: str, keys: list[str]) -> dict[str, tuple[int, bool]]:
    """(incarnation, live) of the records these keys name, before a write: see `facets_to_rewrite`."""
    rows = session.execute(select(CrmRecord.entity_key, CrmRecord.incarnation, CrmRecord.tombstone).where(
        CrmRecord.site_id == site_id, CrmRecord.entity_key.in_(set(keys)))).all()
    return {key: (incarnation, tombstone is None) for key, incarnation, tombstone in rows}


def facets_to_rewrite(session: Session, site_id: str, before: dict[str, tuple[int, bool]]) -> list[str]:
    """Subjects to write again because a record they add facets to was just re-created.

    A record deleted in the CRM comes back with its owner's fields only (the writer forgets the
    facets of its former self): an enrolment would say "never accessed" and "not completed" until
    the learner's next course access or completion. Those subjects' newest states are written again.
    """
    subjects = []
    for key, (incarnation, live) in before.items():
        kinds = FACET_SUBJECTS.get(key.split(":")[0])
        row = session.get(CrmRecord, (site_id, key))
        if not kinds or row is None or row.tombstone or (live and row.incarnation == incarnation):
            continue
        ids = key.split(":", 1)[1]
        subjects += [f"{kind}:{ids}" for kind in kinds]
    if not subjects:
        return []
    return list(session.scalars(select(SubjectState.subject).where(
        SubjectState.site_id == site_id, SubjectState.subject.in_(subjects),
        SubjectState.last_event_id.is_not(None))).all())


def to_relink(session: Session, site_id: str, subject: str, parents_used: dict[str, str],
              recreated: list[str]) -> list[str]:
    """Subjects to write again because a record and its parent were written at the same moment by two jobs
    (two loops or workers: different subjects are not ordered against each other), after both committed.

    A job that linked its record to a parent (a learner's Contact, a course) which another job was just
    re-creating in the CRM may have written the parent's old id. Whichever of the two committed last
    sees it, so both look, after their commits: this job's parents now have another id (then this subject
    is written again), or this job re-created a parent (then every subject whose record links to it is).
    """
    subjects = []
    if parents_used:
        now = dict(session.execute(select(CrmRecord.entity_key, CrmRecord.crm_id).where(
            CrmRecord.site_id == site_id, CrmRecord.entity_key.in_(list(parents_used)))).all())
        if any(key in now and now[key] != crm_id for key, crm_id in parents_used.items()):
            subjects.append(subject)
    linking = []
    for key in recreated:
        kind, _, ids = key.partition(":")
        if kind == "user":
            linking += [CrmRecord.entity_key.like(f"{child}:{ids}:%") for child in CONTACT_CHILDREN]
            linking.append(CrmRecord.entity_key.like(f"attendance:%:{ids}"))
        elif kind == "course" and ids.isdigit():
            linking += [CrmRecord.course_id == int(ids), CrmRecord.entity_key.like(f"enrolment:%:{ids}")]
    if linking:
        keys = session.scalars(select(CrmRecord.entity_key).where(CrmRecord.site_id == site_id, or_(*linking))).all()
        children = {subject_of(key.split("#")[0]) for key in keys} - {subject}
        subjects += session.scalars(select(SubjectState.subject).where(
            SubjectState.site_id == site_id, SubjectState.subject.in_(children),
            SubjectState.last_event_id.is_not(None))).all()
    session.rollback()
    return subjects
