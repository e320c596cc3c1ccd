"""What a course, activity or grade item deletion takes with it in the CRM.

Moodle sends one message for the course (or activity, or grade item); the learners' records that
belonged to it are found in the id map, where every record notes its course, activity and grade
item. Each gets the deletion message the plugin would have sent for it, with the parent deletion's
sequence, and goes through the normal ordered path of its own subject: a stale update still queued
for one of them is then skipped instead of bringing the record back.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_connector.mapping import NAMESPACE
from crmsync.models import CrmRecord, EventStatus, EventTransition, InboxEvent

SCOPE_OF = {"course.deleted": CrmRecord.course_id, "activity.deleted": CrmRecord.cm_id,
            "grade_item.deleted": CrmRecord.item_id}


def _deletion(key: str, courseid: int | None) -> tuple[str, str, dict] | None:
    """(type, subject, data) of the deletion message for one record of the id map."""
    kind, *ids = key.split(":")
    numbers = [int(i) for i in ids]
    if kind == "enrolment":
        return "enrolment.deleted", key, {"userid": numbers[0], "courseid": numbers[1], "status": "deleted",
                                          "enrolments": [], "roles": [], "groups": []}
    if kind == "grade":
        return "grade.deleted", key, {"userid": numbers[0], "courseid": courseid, "itemid": numbers[1],
                                      "deleted": True}
    if kind == "module_completion":
        return "module_completion.deleted", key, {"userid": numbers[0], "cmid": numbers[1], "courseid": courseid,
                                                  "deleted": True}
    if kind == "course_completion":
        return "course_completion.deleted", key, {"userid": numbers[0], "courseid": numbers[1], "deleted": True}
    if kind == "attendance":
        return "attendance.deleted", f"attendance:{numbers[0]}", {"sessionid": numbers[0], "courseid": courseid,
                                                                  "deleted": True}
    return None


def children(session: Session, parent: InboxEvent) -> list[str]:
    """Insert the deletion events a parent deletion cascades to (once, however often it is applied)."""
    column = SCOPE_OF.get(parent.type)
    if column is None:
        return []
    entity_id = parent.payload["data"]["id"]
    rows = session.execute(
        select(CrmRecord.entity_key, CrmRecord.course_id)
        .where(CrmRecord.site_id == parent.site_id, column == entity_id, CrmRecord.tombstone.is_(None),
               CrmRecord.entity_key.not_like("%#%"))
    ).all()
    messages = {}
    for key, courseid in rows:
        deletion = _deletion(key, courseid)
        if deletion is not None and deletion[1] != parent.subject:
            messages[deletion[1]] = deletion
    if not messages:
        return []
    ids = {subject: str(uuid.uuid5(NAMESPACE, f"{parent.id}|{subject}")) for subject in messages}
    existing = set(session.scalars(select(InboxEvent.id).where(InboxEvent.id.in_(ids.values()))).all())
    created = []
    for subject, (message_type, _, data) in sorted(messages.items()):
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
