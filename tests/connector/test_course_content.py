"""What CRM users see of a course: its name on every learner record, renames, access, and its summary."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import requests

from crm_connector.mapping import writes_for
from crmsync import config, db
from crmsync.models import EventStatus, EventTransition, InboxEvent
from tests.connector.conftest import enrolment, user
from tests.connector.test_guarantees import attendance, course_completion, grade, module_completion

COURSE = {"id": 2, "shortname": "CRM101", "fullname": "CRM Sync Test Course", "idnumber": ""}
RENAMED = {**COURSE, "shortname": "CRM102", "fullname": "Kill & Restart Course 7"}
TIMEGENERATED = 1795399980  # a whole minute: SuiteCRM drops the seconds of datetimes an update does not set


def course_state(course: dict = COURSE) -> dict:
    return {**course, "category": 1, "startdate": 1795344000, "enddate": 0, "visible": True, "summary": "",
            "timemodified": 1795344000}


def with_course(data: dict, course: dict = COURSE) -> dict:
    return {**data, "course": course}


def learner_records(pipeline, uid: int, course: dict = COURSE) -> list:
    """A learner with an enrolment, a grade, an activity and a course completion, and an attendance mark."""
    return [pipeline.message("user.created", f"user:{uid}", user(uid)),
            pipeline.message("enrolment.created", f"enrolment:{uid}:2", enrolment(uid)),
            pipeline.message("grade.updated", f"grade:{uid}:40", with_course(grade(uid, 40, 61.0), course)),
            pipeline.message("module_completion.updated", f"module_completion:{uid}:4",
                             with_course(module_completion(uid, 4), course)),
            pipeline.message("course_completion.updated", f"course_completion:{uid}:2",
                             with_course(course_completion(uid), course)),
            pipeline.message("attendance.recorded", f"attendance:{uid + 100}",
                             with_course(attendance(uid + 100, [uid]), course))]


def course_names(sandbox, uid: int) -> dict[str, list[str]]:
    return {module: sorted(html.unescape(r["course_name"]) for r in sandbox.records(module) if r["moodle_user_id"] == str(uid))
            for module in ("mdl_Enrolments", "mdl_Grades", "mdl_Completions", "mdl_Attendance")}


def crm_token(sandbox) -> str:
    return requests.post(f"{sandbox.url}/Api/access_token", timeout=5, json={
        "grant_type": "client_credentials", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret}).json()["access_token"]


def store(pipeline, *messages: dict) -> None:
    """Put messages in the inbox as the receiver does, for a type this receiver's contract does not know yet."""
    with db.session_scope(pipeline.database_url) as session:
        for m in messages:
            session.add(InboxEvent(id=m["id"], site_id=m["site"]["id"], type=m["type"], subject=m["subject"],
                                   sequence=m["sequence"], occurred_at=datetime.now(UTC), status=EventStatus.PENDING,
                                   attempts=0, payload=m))
            session.add(EventTransition(event_id=m["id"], status=EventStatus.PENDING, detail="received"))
        session.commit()


def activity(itemid: int, cmid: int | None, name: str, graded: int, passed: int, average: float | None) -> dict:
    return {"itemid": itemid, "cmid": cmid, "name": name, "module": "assign" if cmid else "manual",
            "grademax": 100.0, "gradepass": 50.0, "graded": graded, "average": average,
            "average_percentage": average, "passed": passed}


def summary(activities: list[dict], course: dict = COURSE, **attendance_counts) -> dict:
    counts = {"sessions": 4, "marks": 12, "present": 9, "late": 1, "excused": 0, "absent": 2, **attendance_counts}
    return {"courseid": course["id"], "course": {k: course[k] for k in ("id", "shortname", "fullname")},
            "learners": 3, "attendance": counts, "activities": activities, "timegenerated": TIMEGENERATED}


def activities(sandbox) -> dict[str, dict]:
    """As a CRM user reads them (the V8 API's stored values are HTML-encoded)."""
    return {r["moodle_item_id"]: {k: html.unescape(v) if isinstance(v, str) else v for k, v in r.items()}
            for r in sandbox.records("mdl_Activities")}


# --- the Course column ---------------------------------------------------------------------------
def test_every_learner_record_shows_its_course_and_an_older_message_keeps_it(pipeline, sandbox):
    pipeline.send(pipeline.message("course.created", "course:2", course_state()), *learner_records(pipeline, 60))
    pipeline.drain()
    every = {m: ["CRM Sync Test Course"] for m in ("mdl_Enrolments", "mdl_Grades", "mdl_Attendance")}
    assert course_names(sandbox, 60) == {**every, "mdl_Completions": ["CRM Sync Test Course"] * 2}

    # An older plugin sends no course object: the name the CRM shows stays.
    pipeline.send(pipeline.message("grade.updated", "grade:60:40", grade(60, 40, 75.0)))
    pipeline.drain()
    graded = next(r for r in sandbox.records("mdl_Grades") if r["moodle_user_id"] == "60")
    assert (graded["grade"], graded["course_name"]) == ("75.00", "CRM Sync Test Course")


# --- a course rename -----------------------------------------------------------------------------
def test_a_course_rename_reaches_every_record_of_the_course_once(pipeline, sandbox):
    pipeline.send(pipeline.message("course.created", "course:2", course_state()), *learner_records(pipeline, 61),
                  *learner_records(pipeline, 62),
                  pipeline.message("enrolment.created", "enrolment:61:3", {**enrolment(61, 3), "course": {
                      "id": 3, "shortname": "OTHER", "fullname": "Another course"}}))
    pipeline.drain()
    # The rename arrives together with an enrolment change sent just before it, still carrying the old name.
    change = pipeline.message("enrolment.updated", "enrolment:62:2", enrolment(62, roles=("student", "teacher")))
    rename = pipeline.message("course.updated", "course:2", course_state(RENAMED))
    pipeline.send(change, rename)
    pipeline.drain()

    renamed = {m: ["Kill & Restart Course 7"] for m in ("mdl_Enrolments", "mdl_Grades", "mdl_Attendance")}
    renamed["mdl_Completions"] = ["Kill & Restart Course 7"] * 2
    assert course_names(sandbox, 61) == {**renamed, "mdl_Enrolments": ["Another course", "Kill & Restart Course 7"]}
    assert course_names(sandbox, 62) == renamed
    enrolments = {r["moodle_user_id"]: r for r in sandbox.records("mdl_Enrolments") if r["moodle_course_id"] == "2"}
    assert enrolments["62"]["roles"] == "student, teacher"  # the change sent before the rename is not lost
    assert enrolments["61"]["name"] == "CRM102 / user 61"
    assert {e.status for e in pipeline.events()} <= {"applied", "skipped"}

    # A stale enrolment update read before the rename cannot bring the old name back ...
    stale = pipeline.message("enrolment.updated", "enrolment:61:2", enrolment(61), sequence=rename["sequence"] - 1)
    pipeline.send(stale)
    pipeline.drain()
    assert pipeline.status_of(stale) == "skipped"
    assert course_names(sandbox, 61)["mdl_Enrolments"] == ["Another course", "Kill & Restart Course 7"]

    # ... and a course.updated that leaves the name as it is writes nothing.
    sandbox.clear_calls()
    events_before = len(pipeline.events())
    pipeline.send(pipeline.message("course.updated", "course:2", course_state(RENAMED)))
    pipeline.drain()
    # (The course record itself is left out: a write of it that timed out earlier on a loaded machine is
    # written again CRM_LATE_WRITE_SECONDS later, whatever comes after it.)
    assert [c for c in sandbox.calls() if c["method"] in ("POST", "PATCH", "DELETE")
            and c.get("module") != "mdl_Courses"] == []
    assert len(pipeline.events()) == events_before + 1  # no cascade either


def test_a_rename_reaches_a_record_whose_messages_are_past_their_retention(pipeline, sandbox):
    pipeline.send(pipeline.message("course.created", "course:2", course_state()), *learner_records(pipeline, 63))
    pipeline.drain()
    with db.session_scope(pipeline.database_url) as session:  # what `crmsync purge` does after RETENTION_DAYS
        session.query(InboxEvent).filter(InboxEvent.subject != "course:2").delete()
        session.commit()
    pipeline.send(pipeline.message("course.updated", "course:2", course_state(RENAMED)))
    pipeline.drain()

    assert set(sum(course_names(sandbox, 63).values(), [])) == {"Kill & Restart Course 7"}
    enrolled = next(r for r in sandbox.records("mdl_Enrolments") if r["moodle_user_id"] == "63")
    assert (enrolled["status"], enrolled["roles"]) == ("active", "student")  # only the name was written


# --- never accessed ------------------------------------------------------------------------------
def test_an_enrolment_says_whether_its_course_was_accessed_also_after_it_is_recreated(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:64", user(64)),
                  pipeline.message("enrolment.created", "enrolment:64:2", enrolment(64)),
                  pipeline.message("enrolment.created", "enrolment:64:3", enrolment(64, 3)))
    pipeline.drain()
    assert {r["accessed"] for r in sandbox.records("mdl_Enrolments")} == {"never"}

    pipeline.send(pipeline.message("course_access.updated", "course_access:64:2",
                                   {"userid": 64, "courseid": 2, "lastaccess": 1795350000}))
    pipeline.drain()
    by_course = {r["moodle_course_id"]: r for r in sandbox.records("mdl_Enrolments")}
    assert (by_course["2"]["accessed"], by_course["3"]["accessed"]) == ("accessed", "never")

    # A CRM user deletes the enrolment; the next enrolment update creates it again, access still known.
    deleted = by_course["2"]["id"]
    assert requests.delete(f"{sandbox.url}/Api/V8/module/mdl_Enrolments/{deleted}", timeout=5,
                           headers={"Authorization": f"Bearer {crm_token(sandbox)}"}).status_code == 200
    pipeline.send(pipeline.message("enrolment.updated", "enrolment:64:2", enrolment(64, roles=("teacher",))))
    pipeline.drain()
    back = next(r for r in sandbox.records("mdl_Enrolments") if r["moodle_course_id"] == "2")
    assert back["id"] != deleted and back["roles"] == "teacher"
    assert (back["accessed"], back["last_access"]) == ("accessed", "2026-11-22T12:20:00+00:00")


# --- course and activity drill-down --------------------------------------------------------------
def test_a_course_summary_shows_attendance_rates_and_one_record_per_activity(pipeline, sandbox):
    pipeline.send(pipeline.message("course.created", "course:2", course_state()))
    pipeline.drain()
    first = pipeline.message("course_summary.updated", "course_summary:2", summary([
        activity(40, 4, "Essay draft", graded=3, passed=2, average=61.5),
        activity(41, 5, "Quiz", graded=0, passed=0, average=None),
        activity(42, None, "Participation", graded=4, passed=4, average=90.0),
        activity(43, 6, "Lab report", graded=2, passed=1, average=48.25)]))
    store(pipeline, first)
    pipeline.drain()

    course = next(r for r in sandbox.records("mdl_Courses") if r["moodle_course_id"] == "2")
    assert (course["name"], course["learners"], course["attendance_sessions"]) == ("CRM Sync Test Course", "3", "4")
    assert [course[f"attendance_{s}_rate"] for s in ("present", "late", "excused", "absent")] == [
        "75.00", "8.33", "0.00", "16.67"]
    assert course["summary_updated"] == "2026-11-23T02:13:00+00:00"
    essay = activities(sandbox)["40"]
    assert (essay["name"], essay["course_name"], essay["item_module"], essay["moodle_cm_id"]) == (
        "Essay draft", "CRM Sync Test Course", "assign", "4")
    assert (essay["graded_count"], essay["passed_count"], essay["average_grade"], essay["pass_rate"]) == (
        "3", "2", "61.50", "66.67")
    assert essay["mdl_activities_mdl_coursesmdl_courses_ida"] == course["id"]  # in the course's subpanel

    # The next summary no longer lists the quiz (removed from the gradebook): its record goes.
    store(pipeline, pipeline.message("course_summary.updated", "course_summary:2", summary([
        activity(40, 4, "Essay draft", graded=3, passed=3, average=70.0),
        activity(42, None, "Participation", graded=4, passed=4, average=90.0),
        activity(43, 6, "Lab report", graded=2, passed=1, average=48.25)])))
    pipeline.drain()
    assert sorted(activities(sandbox)) == ["40", "42", "43"]
    assert activities(sandbox)["40"]["pass_rate"] == "100.00"

    # A rename reaches the activities; deleting an activity and a grade item removes theirs, and a
    # summary read before those deletions cannot bring them back.
    pipeline.send(pipeline.message("course.updated", "course:2", course_state(RENAMED)))
    pipeline.drain()
    assert {a["course_name"] for a in activities(sandbox).values()} == {"Kill & Restart Course 7"}
    assert activities(sandbox)["40"]["pass_rate"] == "100.00"
    stale = pipeline.message("course_summary.updated", "course_summary:2", summary([
        activity(40, 4, "Essay draft", graded=3, passed=3, average=70.0),
        activity(42, None, "Participation", graded=4, passed=4, average=90.0),
        activity(43, 6, "Lab report", graded=2, passed=1, average=48.25)]))
    pipeline.send(pipeline.message("activity.deleted", "activity:6", {"id": 6, "courseid": 2, "modname": "assign",
                                                                     "instance": 3, "deleted": True}),
                  pipeline.message("grade_item.deleted", "grade_item:42", {"id": 42, "courseid": 2,
                                                                          "itemtype": "manual", "deleted": True}))
    pipeline.drain()
    assert sorted(activities(sandbox)) == ["40"]
    assert activities(sandbox)["40"]["course_name"] == "Kill & Restart Course 7"
    store(pipeline, stale)
    pipeline.drain()
    assert sorted(activities(sandbox)) == ["40"] and pipeline.status_of(stale) == "skipped"

    pipeline.send(pipeline.message("course.deleted", "course:2", {"id": 2, "deleted": True}))
    pipeline.drain()
    assert sandbox.records("mdl_Activities") == []
    assert {e.status for e in pipeline.events()} <= {"applied", "skipped"}, [
        (e.type, e.status, e.last_error) for e in pipeline.events() if e.status not in ("applied", "skipped")]


def test_nothing_to_count_is_no_rate_rather_than_zero_percent():
    message = {"type": "course_summary.updated", "site": {"id": "s", "url": "http://moodle.test"},
               "data": summary([activity(41, 5, "Quiz", graded=0, passed=0, average=None)], marks=0, present=0,
                               late=0, absent=0, sessions=0)}
    course, quiz = writes_for(message, config.load(environ={}, env_file=None))
    assert [course.attributes[f"attendance_{s}_rate"] for s in ("present", "late", "excused", "absent")] == [""] * 4
    assert (quiz.attributes["pass_rate"], quiz.attributes["average_grade"], quiz.attributes["graded_count"]) == (
        "", "", "0")


def test_an_activity_with_no_pass_mark_has_no_pass_rate_and_its_grades_say_so(pipeline, sandbox):
    """Seen on a real run: an essay graded without a pass mark showed 0.00 % passed and "Not graded"."""
    pipeline.send(pipeline.message("course.created", "course:2", course_state()))
    pipeline.drain()
    store(pipeline, pipeline.message("course_summary.updated", "course_summary:2", summary([
        {**activity(40, 4, "Essay draft", graded=2, passed=0, average=60.0), "gradepass": 0.0}])))
    grade = {"userid": 3, "courseid": 2, "itemid": 40, "finalgrade": 70.0, "percentage": 70.0, "passed": None,
             "deleted": False, "timemodified": 1795351200, "course": COURSE,
             "item": {"itemtype": "mod", "itemmodule": "assign", "itemname": "Essay draft", "cmid": 4,
                      "grademax": 100.0, "grademin": 0.0, "gradepass": 0.0}}
    pipeline.send(pipeline.message("user.created", "user:3", user(3)),
                  pipeline.message("grade.updated", "grade:3:40", grade))
    pipeline.drain()
    assert activities(sandbox)["40"]["pass_rate"] == ""
    [written] = sandbox.records("mdl_Grades")
    assert written["pass_state"] == "no_pass_mark"
