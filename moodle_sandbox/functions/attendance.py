"""mod_attendance_*: mod/attendance/classes/external (MOODLE_403_STABLE).

Recorded: update_user_status writes attendance_log directly (no attendance_taken event, no
grade update); log ids and status ids come back as strings, student ids as numbers.
"""

from __future__ import annotations

from moodle_sandbox import model
from moodle_sandbox.errors import MissingRecord
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Value

SESSION_FIELDS = ("id", "attendanceid", "groupid", "sessdate", "duration", "lasttaken", "lasttakenby",
                  "timemodified", "description", "descriptionformat", "studentscanmark", "absenteereport",
                  "autoassignstatus", "preventsharedip", "preventsharediptime", "statusset", "includeqrcode",
                  "studentsearlyopentime")


def _session(call: Call, session: dict) -> dict:
    attendance = call.store.get("attendance", session["attendanceid"])
    course_id = attendance["course"]
    statuses = sorted(call.store.find("attendance_statuses", attendanceid=attendance["id"], deleted=0,
                                      setnumber=session["statusset"]), key=lambda s: (-s["grade"], s["id"]))
    students = [call.store.get("user", i) for i in model.enrolled_user_ids(call, course_id, only_active=True)
                if any(r["shortname"] == "student" for r in model.user_roles(call, course_id, i))]
    return {name: session[name] for name in SESSION_FIELDS} | {
        "courseid": course_id,
        "statuses": statuses,
        "attendance_log": [{"studentid": log["studentid"], "statusid": str(log["statusid"]), "remarks": log["remarks"],
                            "id": str(log["id"])} for log in call.store.find("attendance_log", sessionid=session["id"])],
        "users": [{"id": u["id"], "firstname": u["firstname"], "lastname": u["lastname"]} for u in students],
    }


@function("mod_attendance_get_sessions", attendanceid=Value("int"))
def get_sessions(call: Call, params: dict):
    if call.store.get("attendance", params["attendanceid"]) is None:
        raise MissingRecord("attendance", "id", params["attendanceid"])
    return [_session(call, s) for s in call.store.find("attendance_sessions", attendanceid=params["attendanceid"])]


@function("mod_attendance_get_session", sessionid=Value("int"))
def get_session(call: Call, params: dict):
    session = call.store.get("attendance_sessions", params["sessionid"])
    if session is None:
        raise MissingRecord("attendance_sessions", "id", params["sessionid"])
    return _session(call, session)


@function("mod_attendance_update_user_status", sessionid=Value("int"), studentid=Value("int"),
          takenbyid=Value("int"), statusid=Value("int"), statusset=Value("raw"))
def update_user_status(call: Call, params: dict):
    session = call.store.get("attendance_sessions", params["sessionid"])
    if session is None:
        raise MissingRecord("attendance_sessions", "id", params["sessionid"])
    log = call.store.first("attendance_log", sessionid=session["id"], studentid=params["studentid"])
    if log:
        log.update(statusid=params["statusid"], statusset=params["statusset"], timetaken=call.now,
                   takenby=params["takenbyid"])
        call.store.update("attendance_log", log)
    else:
        call.store.insert("attendance_log", {"sessionid": session["id"], "studentid": params["studentid"],
                                             "statusid": params["statusid"], "statusset": params["statusset"],
                                             "remarks": "", "timetaken": call.now, "takenby": params["takenbyid"]})
    session.update(lasttaken=call.now, lasttakenby=params["takenbyid"], timemodified=call.now)
    call.store.update("attendance_sessions", session)
    return None
