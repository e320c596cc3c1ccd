"""Lookups over the stored tables that several functions share (what Moodle's lib functions do)."""

from __future__ import annotations

import copy

from moodle_sandbox.functions import Call

# What a row holds when whoever made it (a create function, or a test's seed) gave less.
DEFAULTS = {
    "user": {"auth": "manual", "confirmed": 1, "deleted": 0, "suspended": 0, "idnumber": "", "institution": "",
             "department": "", "phone1": "", "phone2": "", "address": "", "city": "", "country": "", "lang": "en",
             "theme": "", "timezone": "99", "mailformat": 1, "maildisplay": 2, "description": None,
             "descriptionformat": 1, "firstaccess": 0, "lastaccess": 0, "password": "", "customfields": {},
             "firstname": "", "lastname": "", "email": ""},
    "course": {"idnumber": "", "summary": "", "summaryformat": 1, "format": "topics", "showgrades": 1,
               "newsitems": 5, "startdate": 0, "enddate": 0, "maxbytes": 0, "showreports": 0, "visible": 1,
               "groupmode": 0, "groupmodeforce": 0, "defaultgroupingid": 0, "enablecompletion": 1,
               "completionnotify": 0, "lang": "", "theme": "", "marker": 0, "legacyfiles": 0, "calendartype": "",
               "timecreated": 0, "timemodified": 0, "requested": 0, "cacherev": 0, "sortorder": 10000,
               "showactivitydates": False, "showcompletionconditions": True, "filters": [],
               "courseformatoptions": [], "contextid": 0, "category": 1},
    "enrol": {"enrol": "manual", "status": 0, "roleid": 5},
    "user_enrolments": {"status": 0, "timestart": 0, "timeend": 0, "timecreated": 0, "timemodified": 0},
    "groups": {"description": "", "descriptionformat": 1, "enrolmentkey": "", "idnumber": "", "visibility": 0,
               "participation": True},
}
REQUIRED = {"user": ("username",), "course": ("fullname", "shortname"), "enrol": ("courseid",),
            "user_enrolments": ("enrolid", "userid"), "groups": ("courseid", "name"),
            "groups_members": ("groupid", "userid"), "role_assignments": ("roleid", "courseid", "userid")}


def complete(table: str, row: dict) -> dict:
    """The row with the table's defaults filled in; ValueError when a field nothing can default is missing."""
    missing = [name for name in REQUIRED.get(table, ()) if name not in row]
    if missing:
        raise ValueError(f"{table} rows need {', '.join(missing)}")
    return copy.deepcopy(DEFAULTS.get(table, {})) | row

USER_FIELDS = ["id", "username", "firstname", "lastname", "fullname", "email", "address", "phone1", "phone2",
               "department", "institution", "idnumber", "interests", "firstaccess", "lastaccess", "auth",
               "suspended", "confirmed", "lang", "calendartype", "theme", "timezone", "mailformat", "description",
               "descriptionformat", "city", "country", "profileimageurlsmall", "profileimageurl", "customfields"]


def fullname(user: dict) -> str:
    return f"{user['firstname']} {user['lastname']}"


def picture_urls(call: Call) -> dict:
    base = call.url(f"/theme/image.php/{call.config['theme']}/core/{call.config['themerev']}/u/")
    return {"profileimageurlsmall": base + "f2", "profileimageurl": base + "f1"}


def custom_fields(call: Call, user: dict, displayvalue: bool) -> list[dict]:
    """Visible, non-empty profile fields, in the order the fields are defined."""
    shown = []
    for definition in call.store.all("user_info_field"):
        value = user.get("customfields", {}).get(definition["shortname"])
        if value in (None, "") or not definition.get("visible", 2):
            continue
        item = {"type": definition["datatype"], "value": value}
        if displayvalue:
            item["displayvalue"] = value
        item.update(name=definition["name"], shortname=definition["shortname"])
        shown.append(item)
    return shown


def user_details(call: Call, user: dict, fields: list[str] | None = None, displayvalue: bool = True) -> dict:
    """user_get_user_details() as seen by a site admin: empty optional fields are left out."""
    wanted = set(fields or USER_FIELDS) | {"id", "fullname"}
    details: dict = {}
    for name in USER_FIELDS:
        value = user.get(name)
        if name == "fullname":
            details[name] = fullname(user)
        elif name in ("address", "phone1", "phone2"):  # an admin sees them whether asked for or not
            if value:
                details[name] = value
        elif name not in wanted:
            continue
        elif name in ("profileimageurlsmall", "profileimageurl"):
            details[name] = picture_urls(call)[name]
        elif name == "customfields":
            shown = custom_fields(call, user, displayvalue)
            if shown:
                details[name] = shown
        elif name in ("suspended", "confirmed"):
            details[name] = bool(value)
        elif name in ("department", "theme", "lang", "auth"):
            if value is not None:
                details[name] = value
        elif name in ("description", "descriptionformat"):
            if user.get("description") is not None:
                details[name] = value
        elif name in ("id", "firstaccess", "lastaccess", "mailformat"):
            details[name] = value or 0
        elif value:
            details[name] = value
    return details


def live_user(call: Call, user_id) -> dict | None:
    user = call.store.get("user", user_id)
    return user if user and not user["deleted"] else None


def manual_instance(call: Call, course_id: int, enabled_only: bool = True) -> dict | None:
    for instance in call.store.find("enrol", courseid=course_id, enrol="manual"):
        if instance["status"] == 0 or not enabled_only:
            return instance
    return None


def enrolments(call: Call, course_id: int, user_id: int | None = None) -> list[dict]:
    instances = {i["id"]: i for i in call.store.find("enrol", courseid=course_id)}
    return [ue | {"instance": instances[ue["enrolid"]]} for ue in call.store.all("user_enrolments")
            if ue["enrolid"] in instances and (user_id is None or ue["userid"] == user_id)]


def is_active(call: Call, enrolment: dict) -> bool:
    return (enrolment["status"] == 0 and enrolment["instance"]["status"] == 0
            and enrolment["timestart"] <= call.now and (not enrolment["timeend"] or enrolment["timeend"] > call.now))


def enrolled_user_ids(call: Call, course_id: int, only_active: bool = False) -> list[int]:
    ids = {e["userid"] for e in enrolments(call, course_id) if not only_active or is_active(call, e)}
    return sorted(i for i in ids if live_user(call, i))


def is_enrolled(call: Call, course_id: int, user_id: int, only_active: bool = False) -> bool:
    return user_id in enrolled_user_ids(call, course_id, only_active)


def user_roles(call: Call, course_id: int, user_id: int) -> list[dict]:
    """get_user_roles() in the course: ordered by the roles' sortorder (recorded: teacher before student)."""
    roles = {r["id"]: r for r in call.store.all("role")}
    return [{"roleid": ra["roleid"], "name": roles[ra["roleid"]]["name"], "shortname": roles[ra["roleid"]]["shortname"],
             # get_user_roles() selects ra.* after r.*: the assignment's sortorder (0) wins the column clash
             "sortorder": 0}
            for ra in sorted(call.store.find("role_assignments", courseid=course_id, userid=user_id),
                             key=lambda ra: roles[ra["roleid"]]["sortorder"])]


SYSTEM = 0  # role_assignments.courseid of a system-level assignment (the system context's instance id is 0)


def assignable_roles(call: Call, course_id: int) -> set[int]:
    """get_assignable_roles() in a course context for the token's user: the roles allowed at course level that a
    site admin may give, or that the roles the user holds at system level or in the course may give (a role row's
    `allowassign`, Moodle's role_allow_assign)."""
    roles = {r["id"]: r for r in call.store.all("role") if "course" in r["contextlevels"]}
    if call.user.get("siteadmin"):
        return set(roles)
    held = [ra["roleid"] for ra in call.store.find("role_assignments", userid=call.user["id"])
            if ra["courseid"] in (SYSTEM, course_id)]
    allowed = {a for r in call.store.all("role") if r["id"] in held for a in r.get("allowassign", [])}
    return allowed & set(roles)


def user_groups(call: Call, course_id: int, user_id: int) -> list[dict]:
    member_of = {m["groupid"] for m in call.store.find("groups_members", userid=user_id)}
    return [g for g in call.store.find("groups", courseid=course_id) if g["id"] in member_of]


def user_courses(call: Call, user_id: int) -> list[dict]:
    """Courses the user is enrolled in (any enrolment state), by course id."""
    course_ids = set()
    for ue in call.store.find("user_enrolments", userid=user_id):
        instance = call.store.get("enrol", ue["enrolid"])
        if instance:
            course_ids.add(instance["courseid"])
    return [c for c in call.store.all("course") if c["id"] in course_ids]


def unenrol(call: Call, instance: dict, user_id: int) -> None:
    """enrol_plugin::unenrol_user(): the enrolment, its roles and, with the last enrolment, group memberships."""
    for ue in call.store.find("user_enrolments", enrolid=instance["id"], userid=user_id):
        call.store.delete("user_enrolments", ue["id"])
    course_id = instance["courseid"]
    if enrolments(call, course_id, user_id):
        return
    for ra in call.store.find("role_assignments", courseid=course_id, userid=user_id):
        call.store.delete("role_assignments", ra["id"])
    group_ids = {g["id"] for g in call.store.find("groups", courseid=course_id)}
    for member in call.store.find("groups_members", userid=user_id):
        if member["groupid"] in group_ids:
            call.store.delete("groups_members", member["id"])
    for completion in call.store.find("course_completions", course=course_id, userid=user_id):
        call.store.delete("course_completions", completion["id"])
