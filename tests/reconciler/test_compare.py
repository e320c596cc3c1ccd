"""What the CRM should hold for Moodle's messages (the connector's own mapping), compared with records as
SuiteCRM's V8 API shows them: no false differences, and each real one with both values and its owner."""

from __future__ import annotations

from crm_connector.mapping import crm_text, record_id
from crmsync import config, db
from crmsync.models import CrmRecord
from reconciler import compare
from tests.connector.conftest import SITE, enrolment, user

SETTINGS = config.load(environ={}, env_file=None)


def message(message_type: str, subject: str, data: dict) -> dict:
    return {"id": "m-" + subject, "type": message_type, "occurred_at": "2026-11-22T10:00:00Z", "sequence": 1,
            "subject": subject, "site": SITE, "moodle_event": None, "data": data}


def expected(session, *messages: dict, settings=SETTINGS) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for built in messages:
        for key, record in compare.expected_records(session, settings, SITE["id"], built).items():
            merged[key] = compare.merge(merged.get(key), record)
    return merged


def test_records_as_suitecrm_shows_them_match_and_a_changed_field_shows_both_values(sqlite_url):
    course = {"id": 2, "shortname": "CRM101", "fullname": "Maths <advanced> & more", "idnumber": "",
              "startdate": 1795344033, "enddate": 0, "visible": True, "timemodified": 1795344000}
    with db.session_scope(sqlite_url) as session:
        wanted = expected(session, message("course.updated", "course:2", course),
                          message("enrolment.updated", "enrolment:4:2", enrolment(4)))
    # As V8 answers: times in ISO to the minute, a bool as "1", text as the connector wrote it (decoded).
    crm_course = {"id": "c", "name": crm_text("Maths <advanced> & more"), "moodle_course_id": "2",
                  "shortname": "CRM101", "idnumber": "", "start_date": "2026-11-22T10:40:00+00:00", "end_date": "",
                  "visible": "1", "course_url": "http://moodle.test/course/view.php?id=2"}
    assert compare.field_differences("mdl_Courses", "course:2", wanted["course:2"], crm_course) == []
    # The same time shown in an API user's own time zone is the same time.
    in_berlin = {**crm_course, "start_date": "2026-11-22T11:40:00+01:00"}
    assert compare.field_differences("mdl_Courses", "course:2", wanted["course:2"], in_berlin) == []
    # The course's own message names it, not an enrolment's view of the course (a facet of it).
    assert wanted["course:2"]["fields"]["name"]["s"] == "course:2"

    crm_course["start_date"] = "2026-11-23T10:00:00+00:00"
    [difference] = compare.field_differences("mdl_Courses", "course:2", wanted["course:2"], crm_course)
    assert (difference.kind, difference.field, difference.moodle_value, difference.crm_value, difference.owner,
            difference.subject) == ("field_differs", "start_date", "2026-11-22 10:40:33", "2026-11-23T10:00:00+00:00",
                                    "moodle", "course:2")
    assert wanted["enrolment:4:2"]["must_exist"] and wanted["enrolment:4:2"]["fields"]["groups_list"]["v"] == "Group A"


def test_a_crm_owned_field_moodle_does_not_show_is_repaired_from_the_crm(sqlite_url, tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("contact:\n  first_name: firstname\n  department: {moodle: department, owner: crm}\n")
    settings = SETTINGS.replace(field_mapping_file=str(mapping))
    contact_id = record_id(SITE["id"], "user:4")
    with db.session_scope(sqlite_url) as session:
        # The id map as the connector left it: the CRM's department ("Sales") is the one both should hold.
        session.add(CrmRecord(site_id=SITE["id"], entity_key="user:4", crm_module="Contacts", crm_id=contact_id,
                              fields={"crm_site_id": "crm:x", "fields": {
                                  "first_name": {"v": "Alice", "m": "Alice", "m_at": 1, "c": "Alice", "c_at": None},
                                  "department": {"v": "Sales", "m": "Sales", "m_at": 1, "c": "Sales", "c_at": 2}}}))
        session.flush()
        # Moodle's department was changed by a path that sent no event.
        wanted = expected(session, message("user.updated", "user:4", user(4, department="Support")),
                          settings=settings)
    crm_contact = {"id": contact_id, "first_name": "Alice", "last_name": "Anders", "department": "Sales",
                   "moodle_user_id_c": "4", "moodle_site_c": SITE["url"], "moodle_status_c": "active"}
    [difference] = compare.field_differences("Contacts", "user:4", wanted["user:4"], crm_contact)
    assert (difference.field, difference.moodle_value, difference.crm_value, difference.owner,
            difference.subject) == ("department", "Support", "Sales", "crm", f"contact:{contact_id}")


def test_a_summary_computed_again_for_the_export_is_no_difference_but_a_changed_count_is(sqlite_url):
    from tests.connector.test_course_content import summary
    with db.session_scope(sqlite_url) as session:
        wanted = expected(session, message("course_summary.updated", "course_summary:2", summary([])))
    fields = {name: field["v"] for name, field in wanted["course:2"]["fields"].items()}
    # The CRM holds the summary of last night's message: every count the same, computed at another time.
    crm_course = {"id": "c", **fields, "summary_updated": "2026-11-01T02:00:00+00:00"}
    assert compare.field_differences("mdl_Courses", "course:2", wanted["course:2"], crm_course) == []
    [difference] = compare.field_differences("mdl_Courses", "course:2", wanted["course:2"],
                                             {**crm_course, "learners": "2"})
    assert (difference.field, difference.moodle_value, difference.crm_value) == ("learners", "3", "2")
