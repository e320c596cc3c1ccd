"""intake.updated: one action on a whole Target List, carried out person by person and course by course.

For each Contact of the intake's Target List and each course it names, the connector creates (or, when the
person has one for the course already, updates) the mdl_Enrolments record, related to the Contact, the
course and the intake, and applies it as a CRM user's own enrolment record (enrolments.py): each shows its
own sync state, so the intake's Enrolments subpanel is its per-person result. `enrol` gives everyone the
intake's role, dates and groups; `move` takes everyone enrolled already out of the `move_from` groups (where
the course has them) into the intake's groups, leaving role, dates and status as they are.

The intake shows people, done_count, failed_count and, in sync_state / sync_message, the summary. When any
person failed, the intake is also a dead letter: replaying it after the cause is fixed redoes everyone, and
changes nothing for those done (every record's id is derived from the intake, person and course).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from crm_connector import crm_schema
from crm_connector.administration import enrolments, membership, results
from crm_connector.administration.results import Refused
from crm_connector.administration.work import Outcome
from crm_connector.mapping import crm_text
from crm_connector.suitecrm import AlreadyExists
from crmsync.models import CrmRecord

MODULE = "mdl_Intakes"
NAMESPACE = uuid.UUID("0f6f1d4e-2b1a-4c8e-9a55-3c1d2e7b8a90")
ACTIONS = ("enrol", "move")


def apply_updated(work, message: dict) -> Outcome:
    data = message["data"]
    try:
        plan = _plan(work, data)
    except Refused as exc:
        results.failed(work, MODULE, data["id"], exc.reason)
        raise
    done, failed = 0, []
    for contact in plan["contacts"]:
        for course in plan["courses"]:
            try:
                _one(work, data, plan, contact, course)
                done += 1
            except Refused as exc:
                failed.append(exc)
    people = len(plan["contacts"])
    courses = len(plan["courses"])
    summary = (f"{done} done, {len(failed)} failed, for {people} {'person' if people == 1 else 'people'} in "
               f"{courses} {'course' if courses == 1 else 'courses'}")
    counts = {"people": str(people), "done_count": str(done), "failed_count": str(len(failed))}
    if failed:
        work.write_crm(work.crm.update, MODULE, data["id"], {
            **counts, "sync_state": results.FAILED,
            "sync_message": crm_text(f"{summary}: the failed ones say why in the Enrolments below")})
        raise Refused(f"intake {data['id']}: {summary}; first: {failed[0]}")
    results.done(work, MODULE, data["id"], counts)
    return Outcome.of(work, summary)


def apply_deleted(work, message: dict) -> Outcome:
    return Outcome.of(work, skipped="deleting an intake changes nothing in Moodle: its people stay enrolled; "
                                    "delete their enrolment records to unenrol them")


def _plan(work, data: dict) -> dict:
    fields, list_id = data["fields"], data["related"].get("prospect_list")
    action = fields.get("action") or "enrol"
    if action not in ACTIONS:
        raise Refused(f"Action {action!r} is not one of {', '.join(ACTIONS)}")
    if not list_id:
        raise Refused("Relate the intake to a Target List (the people it is for)")
    if action == "enrol":
        enrolments.checked_role(work, fields.get("role") or "student")
        enrolments.checked_dates(fields)
    names = membership.wanted_names(fields.get("courses", ""))
    if not names:
        raise Refused("Name the courses (their short names, one per line)")
    courses = [_course(work, name) for name in names]
    targets = membership.wanted_names(fields.get("groups_list", ""))
    leaving = membership.wanted_names(fields.get("move_from", ""))
    if action == "move" and not targets and not leaving:
        raise Refused("A move needs the groups to move to (Groups) or to leave (Move from groups)")
    for course in courses:
        membership.resolve(work, course.moodle_id, course.fullname, targets)  # every target group exists
    contacts = list(work.crm.related("ProspectLists", list_id, "contacts"))
    if not contacts:
        raise Refused("The Target List has no Contacts")
    return {"action": action, "courses": courses, "contacts": contacts, "groups": targets, "leaving": leaving}


def _course(work, shortname: str) -> enrolments.Course:
    found = work.moodle.get_courses_by_field("shortname", shortname)
    if not found:
        raise Refused(f"Moodle has no course with the short name {shortname!r}")
    moodle_id = int(found[0]["id"])
    row = work.session.get(CrmRecord, (work.site_id, f"course:{moodle_id}"))
    crm_id = row.crm_id if row is not None and row.tombstone is None else next(
        (c["id"] for c in work.crm.find("mdl_Courses", {"moodle_site_id": work.site_id,
                                                        "moodle_course_id": str(moodle_id)}, fields=["name"])),
        None)
    if crm_id is None:
        raise Refused(f"Course {shortname} is not in the CRM yet: it appears once Moodle has sent it")
    return enrolments.Course(crm_id, moodle_id, found[0]["shortname"], found[0]["fullname"],
                             found[0].get("idnumber") or "")


def _one(work, data: dict, plan: dict, contact: dict, course: enrolments.Course) -> None:
    """One person's enrolment record for one course, made or brought to the intake's wanted state, applied."""
    schema = crm_schema.load()
    contact_link = schema.relationship("Contacts", enrolments.MODULE).relate_id_field
    course_link = schema.relationship("mdl_Courses", enrolments.MODULE).relate_id_field
    intake_link = schema.relationship("mdl_Intakes", enrolments.MODULE).relate_id_field
    existing = _existing(work, contact, course, contact_link, course_link)
    fields = data["fields"]
    if plan["action"] == "move":
        if existing is None:
            raise Refused(f"{contact.get('first_name', '')} {contact.get('last_name', '')} is not enrolled in "
                          f"{course.fullname}: nothing to move")
        now = set(membership.wanted_names(existing.get("groups_list", "")))
        wanted = {"role": existing.get("role") or "student", "status": existing.get("status") or "active",
                  "time_start": _stored(existing.get("time_start")), "time_end": _stored(existing.get("time_end")),
                  "groups_list": "\n".join(sorted((now - set(plan["leaving"])) | set(plan["groups"])))}
    else:
        wanted = {"role": fields.get("role") or "student", "status": "active",
                  "time_start": fields.get("time_start") or "", "time_end": fields.get("time_end") or "",
                  "groups_list": "\n".join(plan["groups"])}
    attributes = {**wanted, intake_link: data["id"]}
    if existing is None:
        record_id = str(uuid.uuid5(NAMESPACE, f"{data['id']}|{contact['id']}|{course.crm_id}"))
        name = f"{' '.join(p for p in (contact.get('first_name'), contact.get('last_name')) if p)} in {course.shortname}"
        attributes.update(name=crm_text(name), **{contact_link: contact["id"], course_link: course.crm_id})
        try:
            work.write_crm(work.crm.create, enrolments.MODULE, attributes, record_id)
        except AlreadyExists:  # made by an earlier run of this intake
            work.write_crm(work.crm.update, enrolments.MODULE, record_id, attributes)
    else:
        record_id = existing["id"]
        work.write_crm(work.crm.update, enrolments.MODULE, record_id, attributes)
    record = {"id": record_id, "fields": wanted,
              "related": {"contact": contact["id"], "course": course.crm_id, "intake": data["id"]}}
    try:
        enrolments.apply_record(work, record)
    except Refused as exc:
        results.failed(work, enrolments.MODULE, record_id, exc.reason)
        raise


def _existing(work, contact: dict, course: enrolments.Course, contact_link: str, course_link: str) -> dict | None:
    """The person's enrolment record for the course, if the CRM has one."""
    user_id = str(contact.get("moodle_user_id_c") or "")
    if user_id.isdigit() and (contact.get("moodle_site_id_c") or "") in ("", work.site_id):
        row = work.session.get(CrmRecord, (work.site_id, f"enrolment:{user_id}:{course.moodle_id}"))
        if row is not None and row.tombstone is None:
            record = work.crm.get(enrolments.MODULE, row.crm_id)
            if record is not None:
                return record
    for record in work.crm.related("Contacts", contact["id"], "mdl_enrolments_contacts"):
        if record.get(course_link) == course.crm_id:
            return record
    return None


def _stored(value) -> str:
    """A datetime as the V8 API shows it (ISO 8601), as SuiteCRM stores it and enrolment fields carry it."""
    text = str(value or "")
    if "T" not in text:
        return text
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
