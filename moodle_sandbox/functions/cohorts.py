"""core_cohort_create_cohorts and core_cohort_add_cohort_members: cohort/externallib.php (not recorded)."""

from __future__ import annotations

from moodle_sandbox.errors import InvalidParameter
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Multiple, Single, Value, default, optional

TYPED = Single({"type": Value("alpha"), "value": Value("raw")})


@function("core_cohort_create_cohorts", cohorts=Multiple(Single({
    "categorytype": Single({"type": Value("text"), "value": Value("raw")}), "name": Value("raw"),
    "idnumber": Value("raw"), "description": optional(Value("raw")), "descriptionformat": default(Value("int"), 1),
    "visible": optional(Value("bool")), "theme": optional(Value("theme"))})))
def create_cohorts(call: Call, params: dict):
    created = []
    for cohort in params["cohorts"]:
        kind = cohort["categorytype"]
        if kind["type"] != "system":  # category cohorts are not held by the sandbox
            raise InvalidParameter("category type " + kind["type"] + " is not supported by the sandbox")
        if cohort["idnumber"] and call.store.first("cohort", idnumber=cohort["idnumber"]):
            raise InvalidParameter("record with the same idnumber already exists")
        row = call.store.insert("cohort", {
            "contextid": 1, "name": cohort["name"], "idnumber": cohort["idnumber"],
            "description": cohort.get("description", ""), "descriptionformat": cohort["descriptionformat"],
            "visible": cohort.get("visible", True), "theme": cohort.get("theme", ""),
            "timecreated": call.now, "timemodified": call.now})
        created.append({k: row[k] for k in ("id", "name", "idnumber", "description", "descriptionformat",
                                            "visible", "theme")})
    return created


def _find(call: Call, table: str, typed: dict, fields: tuple[str, ...]) -> dict | None:
    if typed["type"] not in fields:
        raise InvalidParameter(f"Invalid parameter {typed['type']}")
    for row in call.store.all(table):
        if str(row.get(typed["type"])) == typed["value"] and not row.get("deleted"):
            return row
    return None


@function("core_cohort_add_cohort_members", members=Multiple(Single({"cohorttype": TYPED, "usertype": TYPED})))
def add_cohort_members(call: Call, params: dict):
    warnings = []
    for member in params["members"]:
        cohort = _find(call, "cohort", member["cohorttype"], ("id", "idnumber"))
        user = _find(call, "user", member["usertype"], ("id", "idnumber", "username", "email"))
        if cohort is None or user is None:
            warnings.append({"item": "cohort" if cohort is None else "user",
                             "itemid": member["cohorttype" if cohort is None else "usertype"]["value"],
                             "warningcode": "2", "message": "Invalid parameters"})
            continue
        if not call.store.first("cohort_members", cohortid=cohort["id"], userid=user["id"]):
            call.store.insert("cohort_members", {"cohortid": cohort["id"], "userid": user["id"], "timeadded": call.now})
    return {"warnings": warnings}

