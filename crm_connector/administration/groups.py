"""group.updated / group.deleted: a Moodle Group record a CRM user made, created in its course in Moodle.

A record with no Moodle group id yet is created in the related course (core_group_create_groups) and
given the Moodle ids; Moodle refuses a name the course has already (a group is never linked by its name:
two groups of one name would be one person's guess). A record that stands for a Moodle group already is
Moodle's: its changes are not written to Moodle. Deleting the record never deletes the Moodle group.
"""

from __future__ import annotations

from crm_connector.administration import results
from crm_connector.administration.enrolments import linked_course
from crm_connector.administration.results import Refused
from crm_connector.administration.work import Outcome
from crm_connector.mapping import crm_text
from crm_connector.moodle import InvalidParameter, MoodleException, PermanentError
from crmsync.models import CrmRecord

MODULE = "mdl_Groups"
FORMAT_PLAIN = 2  # Moodle's FORMAT_PLAIN: the CRM's description is plain text


def apply_updated(work, message: dict) -> Outcome:
    data = message["data"]
    record = work.crm.get(MODULE, data["id"])
    if record is None:
        return Outcome.of(work, skipped="the group record is deleted in the CRM")
    if str(record.get("moodle_group_id") or "").strip() not in ("", "0"):
        group_id = record["moodle_group_id"]
        mine = work.session.get(CrmRecord, (work.site_id, f"group:{group_id}"))
        if mine is not None and mine.crm_id == data["id"] and record.get("sync_state") == results.DONE:
            return Outcome.of(work, skipped=f"created in Moodle already (group {group_id})")
        results.failed(work, MODULE, data["id"], "This group is Moodle's: change its name, ID number and "
                       "description in Moodle (the CRM shows Moodle's)")
        return Outcome.of(work, skipped=f"Moodle group {group_id}'s changes are Moodle's to make")
    try:
        return _create(work, data)
    except Refused as exc:
        results.failed(work, MODULE, data["id"], exc.reason)
        raise
    except PermanentError as exc:
        reason = f"Moodle refused to create the group: {getattr(exc, 'message', exc.detail)}"
        results.failed(work, MODULE, data["id"], reason)
        raise Refused(reason, exc.detail) from None


def _create(work, data: dict) -> Outcome:
    fields = data["fields"]
    name = (fields.get("name") or "").strip()
    if not name:
        raise Refused("The group needs a name")
    course = linked_course(work, data["related"].get("course"))
    existing = work.moodle.get_course_groups(course.moodle_id)
    same = next((g for g in existing if g["name"] == name), None)
    if same is not None:
        mine = work.session.get(CrmRecord, (work.site_id, f"group:{same['id']}"))
        if mine is None or mine.crm_id != data["id"]:
            raise Refused(f"{course.fullname} has a group named {name!r} already: Moodle refuses a second one; "
                          "choose another name (that group is listed under the course's Moodle Groups)")
        group = same  # made by an earlier try of this record whose write-back did not land
    else:
        idnumber = (fields.get("idnumber") or "").strip()
        if idnumber and any(g.get("idnumber") == idnumber for g in existing):
            raise Refused(f"{course.fullname} has a group with the ID number {idnumber!r} already: choose another")
        wanted = {"courseid": course.moodle_id, "name": name, "description": fields.get("description") or "",
                  "descriptionformat": FORMAT_PLAIN, "idnumber": idnumber}
        try:
            [group] = work.write_moodle(work.moodle.create_groups, [wanted])
        except (InvalidParameter, MoodleException) as exc:
            raise Refused(f"Moodle refused to create the group: {exc.message}", exc.detail) from None
        row = work.session.get(CrmRecord, (work.site_id, f"group:{group['id']}"))
        if row is None:
            work.session.add(CrmRecord(site_id=work.site_id, entity_key=f"group:{group['id']}", crm_module=MODULE,
                                       crm_id=data["id"], content_hash=None, incarnation=0,
                                       course_id=course.moodle_id))
        work.session.commit()  # a retry finds the group it made by this row
    results.done(work, MODULE, data["id"], {
        "moodle_site_id": work.site_id, "moodle_course_id": str(course.moodle_id),
        "moodle_group_id": str(group["id"]), "course_name": crm_text(course.fullname)})
    return Outcome.of(work, f"created group {group['id']} in course {course.moodle_id}")


def apply_deleted(work, message: dict) -> Outcome:
    return Outcome.of(work, skipped="deleting a Moodle Group record in the CRM never deletes the group in Moodle: "
                                    "that stays a Moodle teacher's or admin's act")
