"""core_course_*, core_completion_*, gradereport_user_*: course/externallib.php, completion/, grade/report/user/."""

from __future__ import annotations

from moodle_sandbox import model
from moodle_sandbox.errors import InvalidParameter, MoodleException
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Value, default


def _course(course: dict) -> dict:
    return model.complete("course", course)


def _image(call: Call, course: dict) -> str:
    return call.url(f"/pluginfile.php/{course['contextid']}/course/generated/course.svg")


def _progress(call: Call, course: dict, user_id: int):
    tracked = [cm for cm in call.store.find("course_modules", course=course["id"]) if cm.get("completion")]
    if not tracked:
        return None
    done = sum(1 for cm in tracked if any(c["completionstate"] > 0 for c in call.store.find(
        "course_modules_completion", coursemoduleid=cm["id"], userid=user_id)))
    return done * 100 / len(tracked)


def course_summary(call: Call, course: dict, user: dict, with_count: bool) -> dict:
    """One course of core_enrol_get_users_courses."""
    course = _course(course)
    summary = {"id": course["id"], "shortname": course["shortname"], "fullname": course["fullname"],
               "displayname": course["fullname"]}
    if with_count:
        summary["enrolledusercount"] = len(model.enrolled_user_ids(call, course["id"], only_active=True))
    completion = call.store.first("course_completions", course=course["id"], userid=user["id"])
    access = call.store.first("user_lastaccess", userid=user["id"], courseid=course["id"])
    summary.update({
        "idnumber": course["idnumber"], "visible": course["visible"], "summary": course["summary"],
        "summaryformat": course["summaryformat"], "format": course["format"], "courseimage": _image(call, course),
        "showgrades": bool(course["showgrades"]), "lang": course["lang"],
        "enablecompletion": bool(course["enablecompletion"]),
        "completionhascriteria": bool(call.store.find("course_completion_criteria", course=course["id"])),
        "completionusertracked": bool(course["enablecompletion"]) and model.is_enrolled(call, course["id"], user["id"]),
        "category": course["category"], "progress": _progress(call, course, user["id"]),
        "completed": bool(completion and completion["timecompleted"]), "startdate": course["startdate"],
        "enddate": course["enddate"], "marker": course["marker"], "lastaccess": access["timeaccess"] if access else None,
        "isfavourite": False, "hidden": False, "overviewfiles": [],
        "showactivitydates": course["showactivitydates"], "showcompletionconditions": course["showcompletionconditions"],
        "timemodified": course["timemodified"]})
    return summary


def course_details(call: Call, course: dict) -> dict:
    """One course of core_course_get_courses_by_field."""
    course = _course(course)
    category = call.store.get("course_categories", course["category"]) or {"name": ""}
    methods = [i["enrol"] for i in call.store.find("enrol", courseid=course["id"]) if i["status"] == 0]
    details = {"id": course["id"], "fullname": course["fullname"], "displayname": course["fullname"],
               "shortname": course["shortname"], "courseimage": _image(call, course), "categoryid": course["category"],
               "categoryname": category["name"], "sortorder": course["sortorder"], "summary": course["summary"],
               "summaryformat": course["summaryformat"], "summaryfiles": [], "overviewfiles": [],
               "showactivitydates": course["showactivitydates"],
               "showcompletionconditions": course["showcompletionconditions"], "contacts": [],
               "enrollmentmethods": methods}
    for name in ("idnumber", "format", "showgrades", "newsitems", "startdate", "enddate", "maxbytes", "showreports",
                 "visible", "groupmode", "groupmodeforce", "defaultgroupingid", "enablecompletion",
                 "completionnotify", "lang", "theme", "marker", "legacyfiles", "calendartype", "timecreated",
                 "timemodified", "requested", "cacherev", "filters", "courseformatoptions"):
        details[name] = course[name]
    return details


@function("core_course_get_courses_by_field", field=default(Value("alpha"), ""), value=default(Value("raw"), ""))
def get_courses_by_field(call: Call, params: dict):
    field, value = params["field"], params["value"]
    courses = [c for c in call.store.all("course") if c["id"] != 1]
    if field in ("id", "shortname", "idnumber"):
        courses = [c for c in call.store.all("course") if str(c.get(field)) == value]
    elif field == "ids":
        wanted = {v.strip() for v in value.split(",")}
        courses = [c for c in call.store.all("course") if str(c["id"]) in wanted]
    elif field == "category":
        courses = [c for c in courses if str(c["category"]) == value]
    elif field:
        raise InvalidParameter("Invalid field name")
    return {"courses": [course_details(call, c) for c in courses], "warnings": []}


@function("core_completion_get_course_completion_status", courseid=Value("int"), userid=Value("int"))
def get_course_completion_status(call: Call, params: dict):
    course = call.store.get("course", params["courseid"])
    if course is None:
        raise MoodleException("invalidrecord", "Can't find data record in database table course.")
    user_id = params["userid"]
    if model.live_user(call, user_id) is None:
        raise MoodleException("invaliduser", "Invalid user")
    if not model.is_enrolled(call, course["id"], user_id):
        raise MoodleException("usernotenroled", "User is not enrolled in this course")
    criteria = call.store.find("course_completion_criteria", course=course["id"])
    if not criteria:
        raise MoodleException("nocriteriaset", "No completion criteria set for this course")
    completions = []
    for criterion in criteria:
        done = call.store.first("course_completion_crit_compl", criteriaid=criterion["id"], userid=user_id)
        module = call.store.get("course_modules", criterion.get("moduleinstance"))
        link = ""
        if module:
            href = call.url(f"/mod/{module['modname']}/view.php?id={module['id']}")
            link = f'<a href="{href}">{module["name"]}</a>'
        completions.append({
            "type": criterion["criteriatype"], "title": criterion["title"], "status": "Yes" if done else "No",
            "complete": bool(done), "timecompleted": done["timecompleted"] if done else None,
            "details": {"type": criterion["title"], "criteria": link, "requirement": criterion["requirement"],
                        "status": ""}})
    completion = call.store.first("course_completions", course=course["id"], userid=user_id)
    return {"completionstatus": {"completed": bool(completion and completion["timecompleted"]), "aggregation": 1,
                                 "completions": completions}, "warnings": []}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@function("gradereport_user_get_grade_items", courseid=Value("int"), userid=default(Value("int"), 0),
          groupid=default(Value("int"), 0))
def get_grade_items(call: Call, params: dict):
    course = call.store.get("course", params["courseid"])
    if course is None:
        raise MoodleException("invalidrecord", "Can't find data record in database table course.")
    course = _course(course)
    if params["userid"]:
        if not model.is_enrolled(call, course["id"], params["userid"]):
            raise MoodleException("notenrolled", "User is not enrolled in this course")
        user_ids = [params["userid"]]
    else:
        user_ids = model.enrolled_user_ids(call, course["id"])
    items = sorted(call.store.find("grade_items", courseid=course["id"]), key=lambda i: i.get("sortorder", i["id"]))
    usergrades = []
    for user_id in user_ids:
        user = call.store.get("user", user_id)
        usergrades.append({"courseid": course["id"], "courseidnumber": course["idnumber"], "userid": user_id,
                           "userfullname": model.fullname(user), "useridnumber": user["idnumber"], "maxdepth": 2,
                           "gradeitems": [_grade_item(call, item, user_id) for item in items]})
    return {"usergrades": usergrades, "warnings": []}


def _grade_item(call: Call, item: dict, user_id: int) -> dict:
    grade = call.store.first("grade_grades", itemid=item["id"], userid=user_id)
    value = grade["finalgrade"] if grade else None
    low, high = item["grademin"], item["grademax"]
    shown = {"id": item["id"], "itemname": item["itemname"], "itemtype": item["itemtype"],
             "itemmodule": item["itemmodule"], "iteminstance": item["iteminstance"], "itemnumber": item["itemnumber"],
             "idnumber": item["idnumber"], "categoryid": item["categoryid"], "outcomeid": None, "scaleid": None,
             "locked": False}
    if "cmid" in item:
        shown["cmid"] = item["cmid"]
    if item["itemtype"] != "course":
        # natural weights are stored with the item: the sandbox does not aggregate categories
        shown["weightraw"] = item.get("weightraw", 0)
        shown["weightformatted"] = f"{shown['weightraw'] * 100:.2f} %"
        if value is None:
            shown["status"] = "novalue"
    shown.update({
        "graderaw": value, "gradedatesubmitted": None, "gradedategraded": grade["timemodified"] if grade else None,
        "gradehiddenbydate": False, "gradeneedsupdate": False, "gradeishidden": False, "gradeislocked": False,
        "gradeisoverridden": False, "gradeformatted": f"{value:.2f}" if value is not None else "-",
        "grademin": low, "grademax": high, "rangeformatted": f"{_number(low)}&ndash;{_number(high)}",
        "percentageformatted": f"{(value - low) * 100 / (high - low):.2f} %" if value is not None and high > low else "-",
        "feedback": grade["feedback"] if grade else "", "feedbackformat": grade["feedbackformat"] if grade else 2})
    return shown
