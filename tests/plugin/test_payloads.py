"""Messages the plugin builds from the real Moodle 4.3 event dumps satisfy the event contract."""

import json
import subprocess
from collections import Counter

from crmsync import contract
from tests.support import FIXTURES, REPO


def built_messages() -> list[dict]:
    result = subprocess.run(["php", "tests/php/tools/build_fixture_messages.php", str(FIXTURES)],
                            capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(result.stdout)


def test_every_built_message_validates_against_its_schema():
    messages = built_messages()
    types = Counter(m["type"] for m in messages)
    assert {"user.created", "user.updated", "user.deleted", "course.created", "enrolment.updated",
            "enrolment.deleted", "grade.updated", "module_completion.updated", "course_completion.updated",
            "attendance.recorded", "consent.updated", "course_summary.updated"} <= set(types)
    for message in messages:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in contract.validator_for(message["type"]).iter_errors(message)]
        assert not errors, f"{message['type']} {message['subject']}: {errors}"


def test_ids_arrive_as_integers_whatever_moodle_handed_over():
    graded = next(m for m in built_messages() if m["type"] == "grade.updated")
    assert isinstance(graded["moodle_event"]["objectid"], int)
    assert isinstance(graded["moodle_event"]["other"]["itemid"], int)
    assert isinstance(graded["data"]["finalgrade"], float)


def test_attendance_carries_every_learner_of_the_session():
    attendance = [m for m in built_messages() if m["type"] == "attendance.recorded"]
    assert attendance and all(m["data"]["statuses"] for m in attendance)
    late = [s for m in attendance for s in m["data"]["statuses"] if s["remarks"] == "Late confirmed by teacher"]
    assert late


def test_consents_tell_a_decline_from_a_withdrawal_as_the_recorded_flow_happened():
    """00298 declines the optional policy (acceptance_created, status 0); 00300 withdraws an acceptance
    (decline_policies), 00301 revokes one on the learner's behalf (revoke_acceptance)."""
    consents = [(m["subject"], m["data"]["status"]) for m in built_messages() if m["type"] == "consent.updated"]
    assert consents == [("consent:3:1", "accepted"), ("consent:3:2", "accepted"), ("consent:6:1", "accepted"),
                        ("consent:4:1", "accepted"), ("consent:4:2", "declined"), ("consent:3:2", "withdrawn"),
                        ("consent:4:1", "withdrawn")]


def test_a_consent_says_whether_its_policy_is_optional():
    optional = {m["data"]["policyname"]: m["data"]["optional"] for m in built_messages() if m["type"] == "consent.updated"}
    assert optional == {"Privacy policy": False, "Marketing communications consent": True}


def test_every_learner_record_names_its_course():
    course = {"id": 2, "shortname": "CRM101", "fullname": "CRM Sync Test Course", "idnumber": "CRM-101"}
    records = [m for m in built_messages() if m["type"] in {"grade.updated", "module_completion.updated",
                                                            "course_completion.updated", "attendance.recorded"}]
    assert {m["type"] for m in records} == {"grade.updated", "module_completion.updated", "course_completion.updated",
                                            "attendance.recorded"}
    assert all(m["data"]["course"] == course for m in records)


def test_the_course_summary_counts_the_recorded_attendance_and_grades():
    """_attendance_tables.json: two sessions taken, one mark each of P, L, E, A; the attendance grade item
    graded 75 and 25, no pass grade."""
    summary = next(m for m in built_messages() if m["type"] == "course_summary.updated")
    assert summary["subject"] == "course_summary:2"
    assert summary["data"]["attendance"] == {"sessions": 2, "marks": 4, "present": 1, "late": 1, "excused": 1,
                                             "absent": 1}
    roll_call = next(a for a in summary["data"]["activities"] if a["module"] == "attendance")
    assert roll_call == {"itemid": 4, "cmid": 4, "name": "Roll call (CRM)", "module": "attendance", "grademax": 100,
                         "gradepass": 0, "graded": 2, "average": 50, "average_percentage": 50, "passed": 0}
