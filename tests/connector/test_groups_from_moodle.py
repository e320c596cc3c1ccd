"""What CRM users see of Moodle's course groups and of a course's tutors, from the plugin's messages.

A CRM user picks real Moodle groups (an enrolment's groups, an intake's) from the Moodle Groups records under
each Moodle Course, and sees on the course who teaches it.
"""

from __future__ import annotations

import html

from crm_connector.mapping import moodle_text
from tests.connector.test_course_content import COURSE, RENAMED, course_state, summary

GROUP = {"id": 5, "courseid": 2, "course": COURSE, "name": "Mondays & <Thursdays>", "idnumber": "G-MON",
         "description": "Room 4\nBring a laptop", "members": 2, "timemodified": 1795344023}


def groups(sandbox) -> dict[str, dict]:
    """Moodle Groups by Moodle group id, as Moodle would read them back (moodle_text: the V8 API's stored values
    are HTML-encoded, and a `<` keeps the word joiner that stops SuiteCRM taking it for a tag)."""
    return {r["moodle_group_id"]: {k: moodle_text(html.unescape(v)) if isinstance(v, str) else v for k, v in r.items()}
            for r in sandbox.records("mdl_Groups")}


def course_record(sandbox) -> dict:
    return next(r for r in sandbox.records("mdl_Courses") if r["moodle_course_id"] == "2")


def test_a_moodle_group_is_listed_under_its_course_follows_it_and_goes_when_deleted(pipeline, sandbox):
    # A group of a course the CRM has not heard of yet (older than the plugin): the course comes with it.
    pipeline.send(pipeline.message("group.updated", "group:5", GROUP))
    pipeline.drain()
    group, course = groups(sandbox)["5"], course_record(sandbox)
    assert (group["name"], group["idnumber"], group["description"], group["members"]) == (
        "Mondays & <Thursdays>", "G-MON", "Room 4\nBring a laptop", "2")
    assert (group["course_name"], group["moodle_course_id"], group["moodle_site_id"]) == (
        "CRM Sync Test Course", "2", "test-site")
    assert group["mdl_groups_mdl_coursesmdl_courses_ida"] == course["id"]  # in the course's Groups subpanel
    assert html.unescape(course["name"]) == "CRM Sync Test Course"

    # A member joins (the same record, a new count); the course is renamed: its groups show the new name.
    joined = pipeline.message("group.updated", "group:5", {**GROUP, "members": 3})
    pipeline.send(joined, pipeline.message("course.updated", "course:2", course_state(RENAMED)))
    pipeline.drain()
    assert [(g["members"], g["course_name"]) for g in groups(sandbox).values()] == [("3", "Kill & Restart Course 7")]

    # Deleted in Moodle: the record goes, and a member change read before the deletion cannot bring it back.
    stale = pipeline.message("group.updated", "group:5", {**GROUP, "members": 1})
    pipeline.send(pipeline.message("group.deleted", "group:5", {"id": 5, "courseid": 2, "name": "Mondays & <Thursdays>",
                                                                "idnumber": "G-MON", "deleted": True}))
    pipeline.drain()
    assert groups(sandbox) == {}
    pipeline.send(stale)
    pipeline.drain()
    assert groups(sandbox) == {} and pipeline.status_of(stale) == "skipped"
    assert {e.status for e in pipeline.events()} <= {"applied", "skipped"}, [
        (e.type, e.status, e.last_error) for e in pipeline.events() if e.status not in ("applied", "skipped")]


def test_a_course_shows_its_tutors_and_an_older_plugins_summary_keeps_them(pipeline, sandbox):
    tutors = [{"id": 8, "firstname": "Ann", "lastname": "Adams", "roles": ["teacher"]},
              {"id": 7, "firstname": "Zoë", "lastname": "Brown & Co", "roles": ["editingteacher", "teacher"]}]
    pipeline.send(pipeline.message("course.created", "course:2", course_state()),
                  pipeline.message("course_summary.updated", "course_summary:2", {**summary([]), "tutors": tutors}))
    pipeline.drain()
    assert html.unescape(course_record(sandbox)["tutors"]) == "Ann Adams (non-editing teacher)\nZoë Brown & Co"

    # A summary from an older plugin says nothing of tutors: the CRM keeps them; the last tutor leaving empties it.
    pipeline.send(pipeline.message("course_summary.updated", "course_summary:2", summary([], present=10)))
    pipeline.drain()
    assert html.unescape(course_record(sandbox)["tutors"]) == "Ann Adams (non-editing teacher)\nZoë Brown & Co"
    pipeline.send(pipeline.message("course_summary.updated", "course_summary:2", {**summary([]), "tutors": []}))
    pipeline.drain()
    assert course_record(sandbox)["tutors"] == ""
