"""registration.updated: staff accept, reject or waitlist a registration in the CRM (docs/crm-user-guide.md).

The status is the registration service's too (registration.catalogue.set_status: it takes or frees the
person's place and opens or fills the programme). Then:

- **accepted**: the person (the registration's Contact) is enrolled as a student in every Moodle course of the
  programme, through the CRM → Moodle path of the administration (enrolments.py): one mdl_Enrolments record
  per course, related to the Contact, the course and nothing else, made or brought to active / student and
  carried out in Moodle, the Moodle account found by e-mail or made as for any enrolment. Each record shows
  its own result; the registration becomes `enrolled`, its status_message naming the courses. When a course
  refuses, the registration goes back to `submitted` with the reason in status_message (and is a dead
  letter): accepted again after the cause is fixed, or replayed, it enrols in the rest and changes nothing for
  the courses done, since every record's id is derived from the registration and the course;
- **rejected / waitlisted**: the person gets an e-mail saying so (registration/notify.py), and
  status_message says it was sent, or why it could not be.

The connector writes the registration as its API user, which the package never records: status `enrolled` and
status_message do not come back as CRM changes.
"""

from __future__ import annotations

import logging
import uuid

from crm_connector import crm_schema
from crm_connector.administration import enrolments, intakes, results
from crm_connector.administration.results import Refused
from crm_connector.administration.work import Outcome
from crm_connector.mapping import crm_text
from crm_connector.suitecrm import AlreadyExists
from crmsync.models import RegistrationStatus, RegRegistration
from registration import catalogue, crm, notify

log = logging.getLogger(__name__)

MODULE = "mdl_Registrations"
NAMESPACE = uuid.UUID("8c3f2b71-4e0a-4d69-b5a8-2f7e6c1d9a04")
SUBMITTED, ACCEPTED, REJECTED, WAITLISTED, ENROLLED = "submitted", "accepted", "rejected", "waitlisted", "enrolled"
NOTIFIED = (REJECTED, WAITLISTED)


def apply_updated(work, message: dict) -> Outcome:
    data = message["data"]
    status = data["fields"].get("status") or ""
    record = work.crm.get(MODULE, data["id"])
    if record is None:
        return Outcome.of(work, skipped="the registration was deleted in the CRM before it was handled")
    local = _local(work, record)
    if local is not None and status in RegistrationStatus.CRM and local.status != status:
        catalogue.set_status(work.session, local.id, status)
        # The place is taken or freed whatever Moodle answers next (a refused enrolment is the CRM's to fix).
        work.session.commit()
        _show_programme_status(work, local.programme_id)
    if status == ACCEPTED:
        return _accept(work, data, record, local)
    if status in NOTIFIED:
        return _notify(work, data, record, local, status)
    return Outcome.of(work, skipped=f"status {status or '(none)'}: nothing for Moodle to do")


def apply_deleted(work, message: dict) -> Outcome:
    return Outcome.of(work, skipped="deleting a registration changes nothing in Moodle: enrolments it made stay")


def _local(work, record: dict):
    """The service's row of the registration (None for one made in the CRM by hand)."""
    uid = str(record.get("registration_uid") or "").strip()
    return work.session.get(RegRegistration, uid) if uid else None


def _show_programme_status(work, programme_id: int) -> None:
    work.before_write()
    if crm.push_programme_status(work.session, work.crm, programme_id) is not None:
        work.crm_writes += 1


def _accept(work, data: dict, record: dict, local) -> Outcome:
    try:
        courses = _plan(work, data)
        done = []
        for course in courses:
            _enrol(work, data, course)
            done.append(course)
    except Refused as exc:
        # Back to Submitted, so that setting it to Accepted again, once the cause is put right, is a change.
        message = (f"Not enrolled: {exc.reason}. The status is back to Submitted: once that is put right, set it "
                   "to Accepted again.")
        if local is not None:
            catalogue.set_status(work.session, local.id, SUBMITTED, message)
            work.session.commit()  # the job rolls back what a refusal leaves uncommitted
        work.write_crm(work.crm.update, MODULE, data["id"], {"status": SUBMITTED, "status_message": crm_text(message)})
        raise
    names = ", ".join(c.fullname for c in done)
    message = f"Enrolled in Moodle as a student in {names}."
    work.write_crm(work.crm.update, MODULE, data["id"], {"status": ENROLLED, "status_message": crm_text(message)})
    if local is not None:
        catalogue.set_status(work.session, local.id, ENROLLED, message)
        _show_programme_status(work, local.programme_id)
    _mail(work, record, local, ENROLLED, programme=_programme_name(work, data), courses=[c.fullname for c in done])
    return Outcome.of(work, f"registration enrolled in {len(done)} {'course' if len(done) == 1 else 'courses'}")


def _plan(work, data: dict) -> list[enrolments.Course]:
    """The programme's Moodle courses, each checked to be one of this site's, before any Moodle write."""
    related = data["related"]
    if not related.get("contact"):
        raise Refused("the registration is related to no Contact (the person to enrol): relate it to one")
    programme_id = related.get("programme")
    if not programme_id:
        raise Refused("the registration is related to no Programme: relate it to one")
    programme = work.crm.get(crm.PROGRAMMES, programme_id)
    if programme is None:
        raise Refused("its programme was deleted: relate the registration to a programme")
    records = list(work.crm.related(crm.PROGRAMMES, programme_id, crm.PROGRAMME_COURSES.link))
    if not records:
        raise Refused(f"the programme {programme.get('name') or ''} has no Moodle courses: add its courses to it "
                      "(Programme → Moodle Courses)")
    return [enrolments.linked_course(work, course["id"]) for course in records]


def _enrol(work, data: dict, course: enrolments.Course) -> None:
    """The person's enrolment record for the course, made (or, when they have one, brought to active) and
    carried out in Moodle; Refused with the course's name when Moodle cannot."""
    schema = crm_schema.load()
    contact_link = schema.relationship("Contacts", enrolments.MODULE).relate_id_field
    course_link = schema.relationship("mdl_Courses", enrolments.MODULE).relate_id_field
    contact_id = data["related"]["contact"]
    existing = next((r for r in work.crm.related("Contacts", contact_id, "mdl_enrolments_contacts")
                     if r.get(course_link) == course.crm_id), None)
    wanted = {"role": "student", "status": "active"}
    if existing is None:
        record_id = str(uuid.uuid5(NAMESPACE, f"{data['id']}|{course.crm_id}"))
        contact = work.crm.get("Contacts", contact_id) or {}
        person = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
        attributes = {**wanted, "name": crm_text(f"{person} in {course.shortname}"), contact_link: contact_id,
                      course_link: course.crm_id}
        try:
            work.write_crm(work.crm.create, enrolments.MODULE, attributes, record_id)
        except AlreadyExists:  # made by an earlier run of this acceptance
            work.write_crm(work.crm.update, enrolments.MODULE, record_id, wanted)
        fields = {**wanted, "time_start": "", "time_end": "", "groups_list": ""}
    else:
        record_id = existing["id"]
        # An enrolment they have already keeps its dates and groups; it is made an active student's.
        fields = {**wanted, "time_start": intakes._stored(existing.get("time_start")),
                  "time_end": intakes._stored(existing.get("time_end")), "groups_list": existing.get("groups_list") or ""}
        if existing.get("status") != "active" or (existing.get("role") or "student") != "student":
            work.write_crm(work.crm.update, enrolments.MODULE, record_id, wanted)
    record = {"id": record_id, "fields": fields, "related": {"contact": contact_id, "course": course.crm_id}}
    try:
        enrolments.apply_record(work, record)
    except Refused as exc:
        results.failed(work, enrolments.MODULE, record_id, exc.reason)
        # Moodle's reasons mostly name the course already; the person's other courses may be fine.
        reason = exc.reason if course.fullname in exc.reason else f"{course.fullname}: {exc.reason}"
        raise Refused(reason) from None


def _programme_name(work, data: dict) -> str:
    programme_id = data["related"].get("programme")
    programme = work.crm.get(crm.PROGRAMMES, programme_id) if programme_id else None
    return (programme or {}).get("name") or ""


def _notify(work, data: dict, record: dict, local, status: str) -> Outcome:
    sent = _mail(work, record, local, status, programme=_programme_name(work, data))
    word = "on the waiting list" if status == WAITLISTED else "not accepted"
    message = (f"E-mail sent telling the person they are {word}." if sent is None
               else f"The e-mail telling the person they are {word} could not be sent: {sent}.")
    work.write_crm(work.crm.update, MODULE, data["id"], {"status_message": crm_text(message)})
    if local is not None:
        catalogue.set_status(work.session, local.id, status, message)
    return Outcome.of(work, f"registration {status}; " + ("e-mail sent" if sent is None else "e-mail not sent"))


def _mail(work, record: dict, local, status: str, programme: str, courses: list[str] | None = None) -> str | None:
    """The person's e-mail about the decision; None when sent, else why not (in a CRM user's words)."""
    address = (local.email if local is not None else "") or str(record.get("email") or "").strip()
    if not address:
        return "the registration has no e-mail address"
    person = ((local.answers or {}).get("first_name") if local is not None else "") or ""
    language = getattr(local, "language", None) or "en"
    return notify.send_decision(work.config, address, status, programme, person=str(person), language=language,
                                courses=courses or [])
