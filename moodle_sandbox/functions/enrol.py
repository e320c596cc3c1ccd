"""enrol_manual_* and core_enrol_*: enrol/manual/externallib.php, enrol/externallib.php."""

from __future__ import annotations

import re

from moodle_sandbox import model
from moodle_sandbox.errors import CodingError, InvalidParameter, MoodleException, PhpCrash
from moodle_sandbox.functions import Call, function
from moodle_sandbox.functions.courses import course_summary
from moodle_sandbox.params import Multiple, Single, Value, default, optional


@function("enrol_manual_enrol_users", enrolments=Multiple(Single({
    "roleid": Value("int"), "userid": Value("int"), "courseid": Value("int"),
    "timestart": optional(Value("int")), "timeend": optional(Value("int")), "suspend": optional(Value("int"))})))
def enrol_users(call: Call, params: dict):
    for enrolment in params["enrolments"]:
        course_id, user_id, role_id = enrolment["courseid"], enrolment["userid"], enrolment["roleid"]
        if call.store.get("course", course_id) is None:
            raise InvalidParameter("Context does not exist")
        if role_id not in model.assignable_roles(call, course_id):
            raise MoodleException(
                "wsusercannotassign",
                f"You don't have the permission to assign this role ({role_id}) to this user ({user_id}) "
                f"in this course ({course_id}).")
        instance = model.manual_instance(call, course_id)
        if instance is None:
            raise PhpCrash(f"wsnoinstance for course {course_id}")
        if model.live_user(call, user_id) is None:
            raise CodingError("User ID does not exist or is deleted!")
        status = 1 if enrolment.get("suspend") else 0
        existing = call.store.first("user_enrolments", enrolid=instance["id"], userid=user_id)
        if existing:
            # enrol_user() on an existing enrolment updates what was given (user_enrolment_updated)
            for name in ("timestart", "timeend"):
                if name in enrolment:
                    existing[name] = enrolment[name]
            existing.update(status=status, timemodified=call.now)
            call.store.update("user_enrolments", existing)
        else:
            call.store.insert("user_enrolments", {
                "enrolid": instance["id"], "userid": user_id, "status": status,
                "timestart": enrolment.get("timestart", 0), "timeend": enrolment.get("timeend", 0),
                "timecreated": call.now, "timemodified": call.now})
        if not call.store.first("role_assignments", roleid=role_id, courseid=course_id, userid=user_id):
            call.store.insert("role_assignments", {"roleid": role_id, "courseid": course_id, "userid": user_id})
    return None


@function("enrol_manual_unenrol_users", enrolments=Multiple(Single({
    "userid": Value("int"), "courseid": Value("int"), "roleid": optional(Value("int"))})))
def unenrol_users(call: Call, params: dict):
    for enrolment in params["enrolments"]:
        course_id, user_id = enrolment["courseid"], enrolment["userid"]
        if call.store.get("course", course_id) is None:
            raise MoodleException("invalidcourseid", "You are trying to use an invalid course ID")
        instance = model.manual_instance(call, course_id, enabled_only=False)
        if instance is None:
            raise PhpCrash(f"wsnoinstance for course {course_id}")
        if call.store.get("user", user_id) is None:
            raise InvalidParameter(f"User id not exist: {user_id}")
        model.unenrol(call, instance, user_id)
    return None


@function("core_enrol_get_enrolled_users", courseid=Value("int"),
          options=default(Multiple(Single({"name": Value("alphanumext"), "value": Value("raw")})), []))
def get_enrolled_users(call: Call, params: dict):
    course = call.store.get("course", params["courseid"])
    if course is None:
        raise MoodleException("invalidrecord", "Can't find data record in database table course.")
    options = {o["name"]: o["value"] for o in params["options"]}
    fields = [f.strip() for f in options["userfields"].split(",")] if "userfields" in options else None
    sort_by = options.get("sortby", "id")
    if sort_by not in ("id", "firstname", "lastname", "siteorder"):
        raise InvalidParameter(f"Invalid value for sortby parameter (value: {sort_by}), allowed values are: "
                               "id,firstname,lastname,siteorder")
    direction = options.get("sortdirection", "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise InvalidParameter(f"Invalid value for sortdirection parameter\n                        (value: "
                               f"{direction}),allowed values are: ASC,DESC")
    only_active = options.get("onlyactive") in ("1", "true")
    ids = model.enrolled_user_ids(call, course["id"], only_active)
    if options.get("onlysuspended") in ("1", "true"):
        active = set(model.enrolled_user_ids(call, course["id"], True))
        ids = [i for i in ids if i not in active]
    group_id = _int(options.get("groupid", "0"))
    if group_id:
        members = {m["userid"] for m in call.store.find("groups_members", groupid=group_id)}
        ids = [i for i in ids if i in members]
    users = [call.store.get("user", i) for i in ids]
    key = {"siteorder": "id"}.get(sort_by, sort_by)
    users.sort(key=lambda u: (u[key], u["id"]), reverse=direction == "DESC")
    start, count = _int(options.get("limitfrom", "0")), _int(options.get("limitnumber", "0"))
    users = users[start:start + count] if count else users[start:]
    return [_enrolled_user(call, course, user, fields) for user in users]


def _int(text: str) -> int:
    """clean_param(PARAM_INT) of an option's text value: its leading integer, else 0."""
    match = re.match(r"\s*[+-]?\d+", text)
    return int(match.group()) if match else 0


def _enrolled_user(call: Call, course: dict, user: dict, fields: list[str] | None) -> dict:
    details = model.user_details(call, user, fields, displayvalue=False)
    wanted = set(fields) if fields else {"groups", "roles", "enrolledcourses"}
    if "groups" in wanted:
        groups = model.user_groups(call, course["id"], user["id"])
        if groups:
            details["groups"] = [{"id": g["id"], "name": g["name"], "description": g["description"],
                                  "descriptionformat": g["descriptionformat"]} for g in groups]
    if "roles" in wanted:
        details["roles"] = model.user_roles(call, course["id"], user["id"])
    if "enrolledcourses" in wanted:
        details["enrolledcourses"] = [{"id": c["id"], "fullname": c["fullname"], "shortname": c["shortname"]}
                                      for c in model.user_courses(call, user["id"])]
    return details


@function("core_enrol_get_users_courses", userid=Value("int"), returnusercount=default(Value("bool"), True))
def get_users_courses(call: Call, params: dict):
    user = call.store.get("user", params["userid"])
    if user is None:
        raise MoodleException("invaliduser", "Invalid user")
    return [course_summary(call, course, user, params["returnusercount"])
            for course in model.user_courses(call, user["id"])]
