"""core_role_assign_roles / core_role_unassign_roles: enrol/externallib.php (core_role_external), course contexts.

Recorded (tests/moodle_sandbox/recorded/roles): both answer null; assigning a role held already or taking away
one not held changes nothing; a role the caller may not assign there (model.assignable_roles) and an unknown
course are `invalidparameter`; assigning to an unknown user is role_assign()'s coding error, while taking a
role from one answers null. Only course contexts are reproduced: another context level is refused as an
invalid one.
"""

from __future__ import annotations

from moodle_sandbox import model
from moodle_sandbox.errors import CodingError, InvalidParameter
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Multiple, Single, Value, optional


def _assignments() -> Multiple:
    return Multiple(Single({"roleid": Value("int"), "userid": Value("int"), "contextid": optional(Value("int")),
                            "contextlevel": optional(Value("alpha")), "instanceid": optional(Value("int"))}))


def _course(call: Call, assignment: dict, verb: str) -> dict:
    """get_context_from_params() + validate_context() + the get_assignable_roles() check."""
    if assignment.get("contextid"):
        course = call.store.first("course", contextid=assignment["contextid"])
    elif assignment.get("contextlevel") and "instanceid" in assignment:
        if assignment["contextlevel"] != "course":  # PARAM_ALPHA: a level's number is cleaned away
            raise InvalidParameter(f"Invalid context level = {assignment['contextlevel']}")
        course = call.store.get("course", assignment["instanceid"])
    else:
        raise InvalidParameter("Missing parameters, please provide either context level with instance id or "
                               "contextid")
    if course is None:
        raise InvalidParameter("Context does not exist")
    if assignment["roleid"] not in model.assignable_roles(call, course["id"]):
        # Moodle names the contextid it was given, "" when the assignment named level and instance instead.
        raise InvalidParameter(f"Can not {verb} roleid={assignment['roleid']} in "
                               f"contextid={assignment.get('contextid', '')}")
    return course


@function("core_role_assign_roles", assignments=_assignments())
def assign_roles(call: Call, params: dict):
    for assignment in params["assignments"]:  # one transaction: a refusal leaves the earlier ones undone too
        course = _course(call, assignment, "assign")
        if model.live_user(call, assignment["userid"]) is None:
            raise CodingError("User ID does not exist or is deleted!")
        wanted = {"roleid": assignment["roleid"], "courseid": course["id"], "userid": assignment["userid"]}
        if not call.store.first("role_assignments", **wanted):
            call.store.insert("role_assignments", wanted)
    return None


@function("core_role_unassign_roles", unassignments=_assignments())
def unassign_roles(call: Call, params: dict):
    for unassignment in params["unassignments"]:
        course = _course(call, unassignment, "unassign")
        for ra in call.store.find("role_assignments", roleid=unassignment["roleid"], courseid=course["id"],
                                  userid=unassignment["userid"]):
            call.store.delete("role_assignments", ra["id"])
    return None
