"""core_group_*: group/externallib.php."""

from __future__ import annotations

from moodle_sandbox import model
from moodle_sandbox.errors import InvalidParameter, MoodleException
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Multiple, Single, Value, default, optional

MEMBERS = Multiple(Single({"groupid": Value("int"), "userid": Value("int")}))
GROUP_FIELDS = ("id", "courseid", "name", "description", "descriptionformat", "enrolmentkey", "idnumber",
                "visibility", "participation")


def _shown(group: dict) -> dict:
    return {name: group[name] for name in GROUP_FIELDS}


def _group(call: Call, group_id: int) -> dict:
    group = call.store.get("groups", group_id)
    if group is None:
        raise MoodleException("invalidrecord", "Can't find data record in database table groups.")
    return group


@function("core_group_get_course_groups", courseid=Value("int"))
def get_course_groups(call: Call, params: dict):
    if call.store.get("course", params["courseid"]) is None:
        raise MoodleException("invalidrecord", "Can't find data record in database table course.")
    groups = sorted(call.store.find("groups", courseid=params["courseid"]), key=lambda g: (g["name"], g["id"]))
    return [_shown(g) for g in groups]


@function("core_group_create_groups", groups=Multiple(Single({
    "courseid": Value("int"), "name": Value("text"), "description": Value("raw"),
    "descriptionformat": default(Value("int"), 1), "enrolmentkey": optional(Value("raw")),
    "idnumber": optional(Value("raw")), "visibility": optional(Value("int")),
    "participation": optional(Value("bool"))})))
def create_groups(call: Call, params: dict):
    created = []
    for group in params["groups"]:
        if group["name"].strip() == "":
            raise InvalidParameter("Invalid group name")
        if call.store.first("groups", courseid=group["courseid"], name=group["name"]):
            raise InvalidParameter("Group with the same name already exists in the course")
        if call.store.get("course", group["courseid"]) is None:
            raise InvalidParameter("Context does not exist")
        if group.get("idnumber") and call.store.first("groups", courseid=group["courseid"], idnumber=group["idnumber"]):
            raise MoodleException("groupidnumberexists", f"A group with the ID number {group['idnumber']} already "
                                  "exists in this course")
        row = call.store.insert("groups", {
            "courseid": group["courseid"], "name": group["name"], "description": group["description"],
            "descriptionformat": group["descriptionformat"], "enrolmentkey": group.get("enrolmentkey", ""),
            "idnumber": group.get("idnumber", ""), "visibility": group.get("visibility", 0),
            "participation": group.get("participation", True), "timecreated": call.now, "timemodified": call.now})
        created.append(_shown(row))
    return created


@function("core_group_add_group_members", members=MEMBERS)
def add_group_members(call: Call, params: dict):
    for member in params["members"]:
        group = _group(call, member["groupid"])
        if model.live_user(call, member["userid"]) is None:
            raise MoodleException("invaliduser", "Invalid user")
        if not model.is_enrolled(call, group["courseid"], member["userid"]):
            raise InvalidParameter("Only enrolled users may be members of groups")
        if not call.store.first("groups_members", groupid=group["id"], userid=member["userid"]):
            call.store.insert("groups_members", {"groupid": group["id"], "userid": member["userid"],
                                                 "timeadded": call.now})
    return None


@function("core_group_delete_group_members", members=MEMBERS)
def delete_group_members(call: Call, params: dict):
    for member in params["members"]:
        group = _group(call, member["groupid"])
        if model.live_user(call, member["userid"]) is None:
            raise MoodleException("invaliduser", "Invalid user")
        for row in call.store.find("groups_members", groupid=group["id"], userid=member["userid"]):
            call.store.delete("groups_members", row["id"])
    return None


@function("core_group_get_group_members", groupids=Multiple(Value("int")))
def get_group_members(call: Call, params: dict):
    return [{"groupid": group_id,
             "userids": [m["userid"] for m in call.store.find("groups_members", groupid=_group(call, group_id)["id"])]}
            for group_id in params["groupids"]]
