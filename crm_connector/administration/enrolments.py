"""enrolment.updated / enrolment.deleted: a CRM user's enrolment record, carried out in Moodle.

An updated record is the whole wanted state: the Contact (found or given a Moodle account, accounts.py)
enrolled in the course through its manual enrolment with the role, start, end and status (active or
suspended) it names, in exactly the groups it lists (status `unenrolled` unenrols), holding of the roles the
CRM manages (ROLE_IDS) exactly the one it names: Moodle's enrolment adds a role and keeps the others, so the
others of ROLE_IDS the person holds are taken away (roles outside ROLE_IDS are a Moodle administrator's and
stay). A new account's
password e-mail comes from Moodle (accounts.py); the joining instructions are the CRM's to send
(docs/crm-user-guide.md on main).

After it, the record shows the Moodle ids and the fields Moodle → CRM writes for the same enrolment, and
the id map row `(site, enrolment:<user>:<course>)` points at it with the content hash of that write: Moodle's
enrolment.created/updated for this change then updates this record (never a second one) and costs no CRM
write when it says what the record shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from crm_connector import crm_schema
from crm_connector.administration import accounts, membership, results
from crm_connector.administration.results import Refused
from crm_connector.administration.work import Outcome
from crm_connector.mapping import writes_for
from crm_connector.moodle import (
    InvalidParameter,
    NoManualEnrolment,
    NotFound,
    PermanentError,
    RoleNotAssignable,
)
from crm_connector.writer import content_hash
from crmsync.models import CrmRecord

MODULE = "mdl_Enrolments"
STATUSES = ("active", "suspended", "unenrolled")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class Course:
    crm_id: str
    moodle_id: int
    shortname: str
    fullname: str
    idnumber: str

    def ref(self) -> dict:
        return {"id": self.moodle_id, "shortname": self.shortname, "fullname": self.fullname,
                "idnumber": self.idnumber}


def apply_updated(work, message: dict) -> Outcome:
    data = message["data"]
    try:
        return apply_record(work, data)
    except Refused as exc:
        results.failed(work, MODULE, data["id"], exc.reason)
        raise


def apply_record(work, data: dict) -> Outcome:
    """Carry out one enrolment record ({id, fields, related} as its message carries them); Refused (the
    caller writes the reason on the record) for what Moodle cannot or will not do."""
    try:
        return _apply(work, data)
    except Refused:
        raise
    except PermanentError as exc:  # a refusal not foreseen here: Moodle's words, on the record too
        raise Refused(f"Moodle refused the change: {getattr(exc, 'message', exc.detail)}", exc.detail) from None


def checked_role(work, role: str) -> int:
    role_id = work.config.role_ids.get(role)
    if role_id is None:
        raise Refused(f"Role {role!r} has no Moodle role id: an administrator adds it to ROLE_IDS "
                      f"(now {', '.join(work.config.role_ids) or 'empty'})")
    return role_id


def checked_dates(fields: dict) -> tuple[int | None, int | None]:
    start, end = _time(fields.get("time_start"), "Enrolment starts"), _time(fields.get("time_end"), "Enrolment ends")
    if start and end and end <= start:
        raise Refused(f"The enrolment ends ({fields['time_end']} UTC) before it starts ({fields['time_start']} UTC): "
                      "correct the dates")
    return start, end


def _apply(work, data: dict) -> Outcome:
    fields, related = data["fields"], data["related"]
    # --- everything checked before the first Moodle write ---------------------------------------
    contact = _related(work, "Contacts", related.get("contact"), "a Contact (the person to enrol)")
    course = linked_course(work, related.get("course"))
    role = fields.get("role") or "student"
    role_id = checked_role(work, role)
    status = fields.get("status") or "active"
    if status not in STATUSES:
        raise Refused(f"Status {status!r} is not one of {', '.join(STATUSES)}")
    start, end = checked_dates(fields)
    account = accounts.find(work, contact)
    if status == "unenrolled":
        if account.user_id is None:
            return Outcome.of(work, skipped="unenrolled, and the Contact has no Moodle account: nothing to do")
        _check_course(work, course)
        row = _claim_row(work, account.user_id, course, data["id"])
        _unenrol(work, account.user_id, course)
        attributes = _moodle_view(work, account.user_id, course, None)
        results.done(work, MODULE, data["id"], _shown(attributes))
        _remember(work, row, data["id"], contact["id"], course, attributes)
        return Outcome.of(work, f"unenrolled Moodle user {account.user_id} from course {course.moodle_id}")
    _check_course(work, course)
    chosen, others = membership.resolve(work, course.moodle_id, course.fullname,
                                        membership.wanted_names(fields.get("groups_list", "")))
    # The roles of ROLE_IDS the person holds besides the record's: Moodle's enrolment adds a role, never replaces one.
    surplus = _managed_roles_held(work, account.user_id, course) - {role_id} if account.user_id is not None else set()
    row = _claim_row(work, account.user_id, course, data["id"]) if account.user_id is not None else None
    # --- Moodle --------------------------------------------------------------------------------
    created = account.user_id is None
    user_id = accounts.create(work, account)
    if row is None:
        row = _claim_row(work, user_id, course, data["id"])
    enrolment = {"roleid": role_id, "userid": user_id, "courseid": course.moodle_id, "timestart": start or 0,
                 "timeend": end or 0, "suspend": 1 if status == "suspended" else 0}
    try:
        work.write_moodle(work.moodle.enrol_users, [enrolment])
    except RoleNotAssignable as exc:
        raise Refused(f"Moodle does not let the sync give the role {role!r} (role id {role_id}) in "
                      f"{course.fullname}: an administrator corrects ROLE_IDS or the role's settings",
                      exc.detail) from None
    except NoManualEnrolment as exc:
        raise Refused(_no_manual(course), exc.detail) from None
    except InvalidParameter as exc:
        raise Refused(f"Moodle refused the enrolment in {course.fullname}: {exc.message}", exc.detail) from None
    _take_away_roles(work, user_id, course, surplus)
    membership.set_groups(work, user_id, chosen, others)
    attributes = _moodle_view(work, user_id, course, {"role": role, "suspended": status == "suspended",
                                                      "start": start, "end": end,
                                                      "groups": [g["name"] for g in chosen]})
    results.done(work, MODULE, data["id"], _shown(attributes))
    _remember(work, row, data["id"], contact["id"], course, attributes)
    earlier = _let_go_of_earlier(work, data["id"], row.entity_key)
    who = f"new Moodle user {user_id}" if created else f"Moodle user {user_id}"
    return Outcome.of(work, f"{who} enrolled in course {course.moodle_id} as {role} ({status}), "
                            f"groups: {', '.join(g['name'] for g in chosen) or 'none'}" + "".join(
                                f"; Moodle user {u} unenrolled from course {c} (the record now names another)"
                                for u, c in earlier))


def _enrolment_rows(work, record_id: str) -> list[CrmRecord]:
    """The id map rows of the enrolments this record stands for (its facets' rows left out)."""
    return list(work.session.scalars(select(CrmRecord).where(
        CrmRecord.site_id == work.site_id, CrmRecord.crm_module == MODULE, CrmRecord.crm_id == record_id,
        CrmRecord.entity_key.like("enrolment:%"), CrmRecord.entity_key.not_like("%#%"))).all())


def _let_go_of_earlier(work, record_id: str, key: str) -> list[tuple[int, int]]:
    """A record a CRM user re-pointed to another person or course stands no more for the enrolment it stood
    for: that one is ended in Moodle, as deleting the record would end it, and the id map forgets it (a later
    enrolment of that person there is a record of its own). Done once the new one is in Moodle."""
    ended = []
    for row in _enrolment_rows(work, record_id):
        if row.entity_key == key:
            continue
        _, user_id, course_id = row.entity_key.split(":")
        found = work.moodle.get_courses_by_field("id", int(course_id))
        if found:
            _unenrol(work, int(user_id), Course(record_id, int(course_id), found[0]["shortname"],
                                                 found[0]["fullname"], found[0].get("idnumber") or ""))
        work.session.delete(row)
        work.session.flush()
        ended.append((int(user_id), int(course_id)))
    return ended


def apply_deleted(work, message: dict) -> Outcome:
    """A deleted enrolment record unenrols the learner (its manual enrolment) from the course."""
    record_id = message["data"]["id"]
    row = next(iter(_enrolment_rows(work, record_id)), None)
    if row is None:
        return Outcome.of(work, skipped="the record stands for no Moodle enrolment the connector knows: nothing "
                                        "to unenrol")
    _, user_id, course_id = row.entity_key.split(":")
    found = work.moodle.get_courses_by_field("id", int(course_id))
    if not found:
        return Outcome.of(work, skipped=f"Moodle has no course {course_id} any more: nothing to unenrol")
    course = Course(row.crm_id, int(course_id), found[0]["shortname"], found[0]["fullname"],
                    found[0].get("idnumber") or "")
    _unenrol(work, int(user_id), course)
    contact_row = work.session.get(CrmRecord, (work.site_id, f"user:{user_id}"))
    course_row = work.session.get(CrmRecord, (work.site_id, f"course:{course_id}"))
    if contact_row is not None and course_row is not None:
        # Moodle's enrolment.deleted for this then finds the CRM showing it (no record is made again for it).
        row.content_hash = _hash(work, _moodle_view(work, int(user_id), course, None), contact_row.crm_id,
                                 course_row.crm_id)
    return Outcome.of(work, f"unenrolled Moodle user {user_id} from course {course_id}")


# --- reading and checking ---------------------------------------------------------------------------
def _related(work, module: str, record_id: str | None, what: str) -> dict:
    if not record_id:
        raise Refused(f"Relate the enrolment to {what}")
    record = work.crm.get(module, record_id)
    if record is None:
        raise Refused(f"The {module.removeprefix('mdl_').rstrip('s')} this enrolment is related to is deleted: "
                      f"relate it to {what}")
    return record


def linked_course(work, course_crm_id: str | None) -> Course:
    """The Moodle course a CRM course record stands for on this site; Refused when it stands for none."""
    record = _related(work, "mdl_Courses", course_crm_id, "a Moodle Course")
    name = record.get("name") or "The course"
    site, moodle_id = record.get("moodle_site_id") or "", str(record.get("moodle_course_id") or "")
    if site != work.site_id or not moodle_id.isdigit() or int(moodle_id) <= 1:
        raise Refused(f"{name} is not a course of Moodle site {work.site_id} (its Moodle site id or course id is "
                      "missing or another site's): choose a course synced from that Moodle")
    return Course(record["id"], int(moodle_id), record.get("shortname") or "", name, record.get("idnumber") or "")


def _check_course(work, course: Course) -> None:
    """The course exists in Moodle and has the manual enrolment the sync enrols through (else Moodle answers
    an empty HTTP 500); its names are Moodle's."""
    found = work.moodle.get_courses_by_field("id", course.moodle_id)
    if not found:
        raise Refused(f"Moodle has no course {course.moodle_id} ({course.fullname}) any more: it was deleted there")
    if "manual" not in found[0].get("enrollmentmethods", []):
        raise Refused(_no_manual(course))
    course.shortname, course.fullname = found[0]["shortname"], found[0]["fullname"]
    course.idnumber = found[0].get("idnumber") or ""


def _no_manual(course: Course) -> str:
    return (f"{course.fullname} has no enabled manual enrolment method in Moodle: a Moodle administrator adds one "
            "(the course's Participants → Enrolment methods)")


def _time(text: str | None, label: str) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise Refused(f"{label} is not a date and time ({text!r})") from None


def _claim_row(work, user_id: int, course: Course, record_id: str) -> CrmRecord | None:
    """The id map row of this learner's enrolment in the course, pointed at this record before Moodle is
    written (Moodle's message about the enrolment may come at once); Refused when another record has it."""
    key = f"enrolment:{user_id}:{course.moodle_id}"
    row = work.session.get(CrmRecord, (work.site_id, key), populate_existing=True)
    if row is not None and row.crm_id != record_id and row.tombstone is None:
        raise Refused(f"This person already has an enrolment record for {course.fullname} ({row.crm_id}): "
                      "change that one, and delete this one")
    if row is None:
        row = CrmRecord(site_id=work.site_id, entity_key=key, crm_module=MODULE, crm_id=record_id, content_hash=None,
                        incarnation=0, course_id=course.moodle_id)
        work.session.add(row)
    else:
        row.crm_id, row.tombstone = record_id, None
    work.session.commit()
    return row


def _managed_roles_held(work, user_id: int, course: Course) -> set[int]:
    """The roles of ROLE_IDS (the roles the CRM manages) the user holds in the course; roles a Moodle administrator
    gave outside ROLE_IDS are not the CRM's to take away."""
    return work.moodle.course_roles(course.moodle_id).get(user_id, set()) & set(work.config.role_ids.values())


def _take_away_roles(work, user_id: int, course: Course, role_ids: set[int]) -> None:
    """Only roles the user holds are taken away, so a repeat of the same record makes no role write at all."""
    if not role_ids:
        return
    try:
        work.write_moodle(work.moodle.unassign_roles, [
            {"roleid": role_id, "userid": user_id, "contextlevel": "course", "instanceid": course.moodle_id}
            for role_id in sorted(role_ids)])
    except InvalidParameter as exc:
        names = ", ".join(name for name, role_id in work.config.role_ids.items() if role_id in role_ids)
        raise Refused(f"Moodle does not let the sync take the role {names} away in {course.fullname}: an "
                      "administrator lets the sync's role assign it (Allow role assignments) or corrects ROLE_IDS",
                      exc.detail) from None


def _unenrol(work, user_id: int, course: Course) -> None:
    try:
        work.write_moodle(work.moodle.unenrol_users, [{"userid": user_id, "courseid": course.moodle_id}])
    except NoManualEnrolment as exc:
        raise Refused(_no_manual(course), exc.detail) from None
    except (InvalidParameter, NotFound):
        pass  # the user is gone from Moodle: no enrolment is left to end


# --- what Moodle → CRM will write --------------------------------------------------------------------
def _moodle_view(work, user_id: int, course: Course, enrolled: dict | None) -> dict:
    """The enrolment record's fields as Moodle → CRM writes them for Moodle's message about this state
    (mapping.py, the one rule), with the site id the writer adds."""
    if enrolled is None:
        state = {"status": "deleted", "enrolments": [], "roles": [], "groups": []}
    else:
        flag = "suspended" if enrolled["suspended"] else "active"
        state = {"status": flag, "roles": [enrolled["role"]],
                 "enrolments": [{"id": 0, "enrolid": 0, "method": "manual", "status": flag,
                                 "timestart": enrolled["start"] or 0, "timeend": enrolled["end"] or 0}],
                 "groups": [{"id": 0, "name": name} for name in enrolled["groups"]]}
    message = {"type": "enrolment.updated", "site": {"id": work.site_id, "url": work.config.moodle_url},
               "data": {"userid": user_id, "courseid": course.moodle_id, "course": course.ref(), **state}}
    [write] = [w for w in writes_for(message, work.config) if w.module == MODULE]
    return {**write.attributes, "moodle_site_id": work.site_id}


def _shown(attributes: dict) -> dict:
    """What of Moodle's view is written on the CRM user's record: all but the name, which stays the one they
    gave (until Moodle → CRM writes a change of the enrolment: its name then says course and user id)."""
    return {name: value for name, value in attributes.items() if name != "name"}


def _hash(work, attributes: dict, contact_id: str, course_id: str) -> str:
    schema = crm_schema.load()
    parents = {schema.relationship("Contacts", MODULE).relate_id_field: contact_id,
               schema.relationship("mdl_Courses", MODULE).relate_id_field: course_id}
    return content_hash(MODULE, attributes, parents)


def _remember(work, row: CrmRecord, record_id: str, contact_id: str, course: Course, attributes: dict) -> None:
    """The id map knows the record, what it shows of Moodle's view, and the course it is related to."""
    course_row = work.session.get(CrmRecord, (work.site_id, f"course:{course.moodle_id}"))
    if course_row is None:
        work.session.add(CrmRecord(site_id=work.site_id, entity_key=f"course:{course.moodle_id}",
                                   crm_module="mdl_Courses", crm_id=course.crm_id, content_hash=None,
                                   incarnation=0))
    elif course_row.crm_id != course.crm_id:
        # Two CRM records for one Moodle course: Moodle → CRM relates the enrolment to the id map's one.
        course.crm_id = course_row.crm_id
    row = work.session.merge(row)
    row.crm_id, row.tombstone, row.course_id = record_id, None, course.moodle_id
    row.content_hash = _hash(work, attributes, contact_id, course.crm_id)
    work.session.flush()
