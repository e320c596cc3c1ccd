"""Moodle messages in at the receiver, the right SuiteCRM records out of the sandbox."""

from __future__ import annotations

import html
import json

from crm_connector.mapping import WORD_JOINER, record_id
from tests.connector.conftest import SITE, enrolment, user


def by_moodle_user(records: list[dict], uid: int, field: str = "moodle_user_id") -> dict:
    matches = [r for r in records if r.get(field) == str(uid)]
    assert len(matches) == 1, f"expected one record for user {uid}, found {len(matches)}"
    return matches[0]


def test_learner_with_enrolment_grade_completion_attendance(pipeline, sandbox):
    grade = {"userid": 3, "courseid": 2, "itemid": 1, "finalgrade": 85.5, "percentage": 85.5, "passed": True,
             "deleted": False, "timemodified": 1795351200,
             "item": {"itemtype": "course", "grademax": 100.0, "grademin": 0.0, "gradepass": 50.0}}
    pipeline.send(
        pipeline.message("user.created", "user:3", user(3, city="Hamburg", country="DE")),
        pipeline.message("enrolment.created", "enrolment:3:2", enrolment(3)),
        pipeline.message("course_access.updated", "course_access:3:2",
                         {"userid": 3, "courseid": 2, "lastaccess": 1795347600}),
        pipeline.message("grade.updated", "grade:3:1", grade),
        pipeline.message("course_completion.updated", "course_completion:3:2",
                         {"userid": 3, "courseid": 2, "completed": True, "timecompleted": 1795351300}),
        pipeline.message("attendance.recorded", "attendance:7", {
            "courseid": 2, "cmid": 4, "attendanceid": 1, "name": "Roll call",
            "session": {"id": 7, "sessdate": 1795251600, "duration": 5400},
            "statuses": [{"userid": 3, "statusid": 1, "acronym": "P", "description": "Present", "grade": 2,
                          "timetaken": 1795345022}]}),
    )
    pipeline.drain()

    contact = by_moodle_user(sandbox.records("Contacts"), 3, "moodle_user_id_c")
    assert (contact["first_name"], contact["primary_address_city"]) == ("Alice", "Hamburg")
    assert contact["moodle_last_access_c"] == "2026-11-22T11:40:00+00:00"  # 1795347600, seconds dropped
    assert contact["id"] == record_id(SITE["id"], "user:3")

    enrolled = by_moodle_user(sandbox.records("mdl_Enrolments"), 3)
    assert enrolled["status"] == "active" and enrolled["roles"] == "student"
    assert enrolled["mdl_enrolments_contactscontacts_ida"] == contact["id"]  # in the Contact's subpanel
    assert (enrolled["final_grade"], enrolled["pass_state"], enrolled["completed"]) == ("85.50", "passed", "1")
    assert enrolled["last_access"] == "2026-11-22T11:40:00+00:00"

    course = sandbox.records("mdl_Courses")[0]
    assert enrolled["mdl_enrolments_mdl_coursesmdl_courses_ida"] == course["id"]
    assert by_moodle_user(sandbox.records("mdl_Grades"), 3)["percentage"] == "85.50"
    assert by_moodle_user(sandbox.records("mdl_Attendance"), 3)["status_acronym"] == "P"
    assert {e.status for e in pipeline.events()} == {"applied"}


def test_duplicates_and_out_of_order_leave_the_newest_state(pipeline, sandbox):
    newest = pipeline.message("user.updated", "user:4", user(4, "Newest"), sequence=30)
    older = pipeline.message("user.updated", "user:4", user(4, "Older"), sequence=20)
    pipeline.send(newest)
    pipeline.drain()
    duplicate = pipeline.send(newest)
    pipeline.send(older)
    pipeline.drain()

    assert duplicate == {"accepted": 0, "duplicates": 1, "duplicate_ids": [newest["id"]]}
    assert by_moodle_user(sandbox.records("Contacts"), 4, "moodle_user_id_c")["first_name"] == "Newest"
    assert pipeline.status_of(newest) == "applied"
    assert pipeline.status_of(older) == "skipped"


def test_a_burst_for_one_learner_costs_one_write(pipeline, sandbox):
    burst = [pipeline.message("user.updated", "user:5", user(5, f"Name{n}")) for n in range(10)]
    pipeline.send(*burst)
    pipeline.drain()

    assert by_moodle_user(sandbox.records("Contacts"), 5, "moodle_user_id_c")["first_name"] == "Name9"
    assert pipeline.writes("Contacts") == 1
    statuses = [pipeline.status_of(m) for m in burst]
    assert statuses.count("applied") == 1 and statuses.count("skipped") == 9


def test_an_unchanged_state_costs_no_write(pipeline, sandbox):
    pipeline.send(pipeline.message("user.updated", "user:6", user(6)))
    pipeline.drain()
    sandbox.clear_calls()
    repeat = pipeline.message("user.updated", "user:6", user(6))
    pipeline.send(repeat)
    pipeline.drain()
    assert pipeline.writes("Contacts") == 0
    assert pipeline.status_of(repeat) == "applied"


def test_unenrolment_marks_the_enrolment(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:7", user(7)),
                  pipeline.message("enrolment.created", "enrolment:7:2", enrolment(7)),
                  pipeline.message("enrolment.deleted", "enrolment:7:2", enrolment(7, status="deleted")))
    pipeline.drain()
    assert by_moodle_user(sandbox.records("mdl_Enrolments"), 7)["status"] == "unenrolled"


def test_html_special_characters_survive_the_round_trip(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:8", user(8, "O'Brien <Ann>")))
    pipeline.drain()
    contact = by_moodle_user(sandbox.records("Contacts"), 8, "moodle_user_id_c")
    # The API returns quotes HTML-encoded, exactly like SuiteCRM; the tag-like part is kept readable.
    assert contact["first_name"] == "O&#039;Brien &lt;\u2060Ann&gt;"
    assert json.dumps(contact)  # and the record is readable


def test_text_that_suitecrm_would_strip_stays_readable(pipeline, sandbox):
    """SuiteCRM drops tag-like text on save (`Kill & Restart <Course> 7` became `Kill & Restart  7`)."""
    course = {"id": 5, "shortname": "KR7", "fullname": "Kill & Restart <Course> 7", "idnumber": "",
              "startdate": 0, "enddate": 0, "visible": True, "timemodified": 1795344000}
    pipeline.send(
        pipeline.message("user.created", "user:9", user(9)),
        pipeline.message("course.created", "course:5", course),
        pipeline.message("attendance.recorded", "attendance:8", {
            "courseid": 5, "cmid": 4, "attendanceid": 1, "name": "Roll call",
            "session": {"id": 8, "sessdate": 1795251600, "duration": 5400},
            "statuses": [{"userid": 9, "statusid": 1, "acronym": "L", "description": "Late", "grade": 1,
                          "timetaken": 1795345022, "remarks": "arrived <early>, left x<y &lt;3"}]}))
    pipeline.drain()
    # What a CRM user reads: the API's answer as a browser shows it, the word joiners being invisible.
    def shown(value: str) -> str:
        return html.unescape(value).replace(WORD_JOINER, "")

    assert shown(sandbox.records("mdl_Courses")[0]["name"]) == "Kill & Restart <Course> 7"
    assert shown(by_moodle_user(sandbox.records("mdl_Attendance"), 9)["remarks"]) == (
        "arrived <early>, left x<y &lt;3")


def test_first_sync_links_to_an_existing_contact_by_email_when_asked(pipeline, sandbox):
    import requests

    token = requests.post(f"{sandbox.url}/Api/access_token", json={
        "grant_type": "client_credentials", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret}, timeout=5).json()["access_token"]
    existing = requests.post(f"{sandbox.url}/Api/V8/module", timeout=5, headers={"Authorization": f"Bearer {token}"},
                             json={"data": {"type": "Contacts", "attributes": {
                                 "first_name": "Known", "last_name": "Customer",
                                 "email1": "student30@example.invalid"}}}).json()["data"]["id"]
    pipeline.send(pipeline.message("user.created", "user:30", user(30, "Alice")))
    pipeline.drain(env={"CONTACT_MATCH_BY_EMAIL": "true"})
    contacts = sandbox.records("Contacts")
    assert len(contacts) == 1
    assert (contacts[0]["id"], contacts[0]["moodle_user_id_c"], contacts[0]["first_name"]) == (existing, "30", "Alice")
