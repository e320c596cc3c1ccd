"""From one message's state to the CRM writes that make SuiteCRM show it.

Each message type maps to a list of `Write`s: upserts of one record (or of a *facet*: a few fields
of a record that another message type owns, such as the course grade on an enrolment) and deletes.
Records get deterministic ids, so the same Moodle entity always lands on the same CRM record.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import yaml

from crm_connector import crm_schema
from crmsync.config import Config
from crmsync.models import Tombstone

DEFAULT_MAPPING = Path(__file__).with_name("field_mapping.yaml")
NAMESPACE = uuid.UUID("6d0b6a4e-8f52-4f7e-9d1c-6f1f2c7a9b10")
ANONYMISED = {"first_name": "Deleted", "last_name": "learner", "email1": "", "phone_work": "", "phone_mobile": "",
              "primary_address_street": "", "primary_address_city": "", "moodle_username_c": "", "moodle_idnumber_c": ""}
# Contact fields that several subjects write, each from its own Moodle time (a user row's lastaccess and a
# course view; two versions of the marketing policy): keyed by the datetime field that orders each group, whose
# fields land only with a time not older than the newest already written (writer.py's high-water marks).
NEWEST_WINS = {"moodle_last_access_c": ("moodle_last_access_c",),
               "moodle_consent_date_c": ("moodle_consent_c", "moodle_consent_date_c")}


class MappingError(ValueError):
    """The field mapping or a message cannot be turned into CRM writes; permanent for that message."""


@dataclass(frozen=True)
class Write:
    module: str
    key: str  # the Moodle entity the record stands for, e.g. "enrolment:3:2"
    attributes: dict = field(default_factory=dict)
    facet: str = ""  # "" owns the record; a named facet sets only some fields of it
    delete: bool = False
    parents: tuple[tuple[str, str], ...] = ()  # (relate-id attribute, parent entity key)
    scope: tuple[tuple[str, int], ...] = ()  # ("course_id" | "cm_id" | "item_id", id): what deletes it with them
    only_if_exists: bool = False  # a change to a record the CRM holds; nothing to do when it holds none
    bury_if_absent: bool = False  # with only_if_exists: when the CRM holds none, remember the entity as gone
    tombstone: str | None = None  # after a delete (or an anonymising write): why the record is gone or frozen
    ends_link: bool = False  # the learner is gone from this site: a Contact another site owns is let go
    # Attributes the CRM holds already (ownership.py): part of the content hash, left out of an update, so a
    # CRM user's edit made while this write is on its way is not overwritten with the value before it.
    keep: frozenset[str] = frozenset()

    @property
    def hash_key(self) -> str:
        return f"{self.key}#{self.facet}" if self.facet else self.key


def record_id(site_id: str, key: str, incarnation: int = 0) -> str:
    """The deterministic CRM id of an entity; a re-created one (SuiteCRM never reuses ids) gets a new one."""
    name = f"{site_id}|{key}" if incarnation == 0 else f"{site_id}|{key}|{incarnation}"
    return str(uuid.uuid5(NAMESPACE, name))


def crm_datetime(epoch: int | None) -> str:
    """SuiteCRM stores what it is given only in 'Y-m-d H:i:s' (UTC); ISO-8601 is silently dropped."""
    if not epoch:
        return ""
    try:
        return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        raise MappingError(f"time {epoch} is outside the dates SuiteCRM can store") from None


# SuiteCRM runs every text field through HTMLPurifier on save, after decoding entities twice
# (SugarBean::cleanBean, purify_html): `<Course>` is removed, and from a `<` before a letter to the end
# of the text everything is lost (`x<y, …` keeps `x`); `&lt;` is decoded into markup first. A word joiner
# (U+2060, invisible and zero-width) after each `<`, and after an `&` that starts an entity, makes none of
# it markup any more: on a real SuiteCRM 7.14.6 the DetailView, ListView and edit form then show exactly
# what the Moodle user wrote (tests/sandbox/recorded/text-and-values/).
WORD_JOINER = "\u2060"
_CRM_UNSAFE = re.compile(r"<|&(?=#?[0-9A-Za-z]+;)")


def crm_text(value: str) -> str:
    """Text as SuiteCRM will keep it and show it: as the Moodle user wrote it."""
    return _CRM_UNSAFE.sub(lambda match: match.group() + WORD_JOINER, value)


def _number(value) -> str:
    return "" if value is None else f"{float(value):.2f}"


def moodle_text(value: str) -> str:
    """The reverse of crm_text: what a CRM value says, as Moodle (and a comparison) must see it."""
    return value.replace("<" + WORD_JOINER, "<").replace("&" + WORD_JOINER, "&")


class Owner:
    """Who may change a mapped field (docs/crm-mapping.md "Who owns a field")."""

    MOODLE = "moodle"  # Moodle's value always wins; CRM edits are not written to Moodle (superseded)
    CRM = "crm"  # written to Moodle; never written to the CRM again after the Contact was created
    SHARED = "shared"  # either side; the newer change wins, by the time each system recorded it
    ALL = (MOODLE, CRM, SHARED)


# The user fields core_user_update_users changes (user/externallib.php), and custom profile fields.
MOODLE_WRITABLE = {"firstname", "lastname", "email", "phone1", "phone2", "institution", "department", "address",
                   "city", "country", "idnumber", "username", "middlename", "alternatename", "firstnamephonetic",
                   "lastnamephonetic", "description", "interests"}
# Moodle refuses an account without these (core_user_create_users): a CRM user cannot blank them in Moodle.
MOODLE_REQUIRED = {"firstname", "lastname", "email", "username"}


COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")


@dataclass(frozen=True)
class Mapped:
    crm: str  # the Contact field
    moodle: str  # a user field, or profile.<shortname>
    owner: str

    @property
    def profile_field(self) -> str | None:
        return self.moodle.removeprefix("profile.") if self.moodle.startswith("profile.") else None


def moodle_form(mapped: Mapped, crm_value: str) -> str:
    """A CRM value (plain text) as Moodle keeps it; MappingError for one Moodle cannot keep."""
    value = moodle_text(crm_value)
    if mapped.moodle in MOODLE_REQUIRED and not value.strip():
        raise MappingError(f"{mapped.crm} is empty: Moodle requires a {mapped.moodle} (fix it in the CRM)")
    if mapped.moodle == "country" and value:
        if not COUNTRY_CODE.match(value):
            raise MappingError(f"{mapped.crm} must be a two-letter ISO 3166 country code, as Moodle keeps "
                               "countries (e.g. GB, DE), not a country name")
        value = value.upper()
    return value


def _entry(path: str, crm_field: str, entry) -> Mapped:
    """`crm_field: moodle_field` (Moodle-owned, as before ownership existed) or {moodle: …, owner: …}."""
    if isinstance(entry, str):
        return Mapped(crm_field, entry, Owner.MOODLE)
    if not isinstance(entry, dict) or not isinstance(entry.get("moodle"), str) or set(entry) - {"moodle", "owner"}:
        raise MappingError(f"field mapping {path}: {crm_field} must be a Moodle field name or "
                           "{moodle: <field>, owner: moodle|crm|shared}")
    owner = entry.get("owner", Owner.MOODLE)
    if owner not in Owner.ALL:
        raise MappingError(f"field mapping {path}: {crm_field} has owner {owner!r}; give moodle, crm or shared")
    moodle = entry["moodle"]
    if owner != Owner.MOODLE and not (moodle.startswith("profile.") or moodle in MOODLE_WRITABLE):
        raise MappingError(f"field mapping {path}: {crm_field} cannot be owned by {owner}: the CRM cannot "
                           f"write Moodle's {moodle} (writable: {', '.join(sorted(MOODLE_WRITABLE))}, profile.*)")
    return Mapped(crm_field, moodle, owner)


@cache
def _load_mapping(path: str) -> dict:
    try:
        mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read field mapping {path}: {exc}") from None
    if not isinstance(mapping, dict) or not isinstance(mapping.get("contact"), dict):
        raise MappingError(f"field mapping {path} needs a `contact:` section of crm_field: moodle_field")
    return mapping


@cache
def _contact_fields(path: str) -> tuple[Mapped, ...]:
    return tuple(_entry(path, crm_field, entry) for crm_field, entry in _load_mapping(path)["contact"].items())


def contact_mapping(config: Config) -> tuple[Mapped, ...]:
    """The Contact's mapped fields, read in both directions (Moodle → CRM and CRM → Moodle)."""
    return _contact_fields(config.field_mapping_file or str(DEFAULT_MAPPING))


def _contact_parent(user_id: int) -> tuple[str, str]:
    relationship = crm_schema.load().relationship("Contacts", "mdl_Enrolments")
    return relationship.relate_id_field, f"user:{user_id}"


def _parent(child: str, parent_module: str, parent_key: str) -> tuple[str, str]:
    return crm_schema.load().relationship(parent_module, child).relate_id_field, parent_key


def _user(message: dict, config: Config) -> list[Write]:
    data = message["data"]
    attributes = {}
    for mapped in contact_mapping(config):
        attributes[mapped.crm] = moodle_value(data, mapped)
    attributes.update(moodle_user_id_c=str(data["id"]), moodle_site_c=message["site"]["url"],
                      moodle_status_c="suspended" if data.get("suspended") else "active")
    if data.get("lastaccess"):
        attributes["moodle_last_access_c"] = crm_datetime(data["lastaccess"])
    return [Write("Contacts", f"user:{data['id']}", attributes)]


def moodle_value(data: dict, field: Mapped) -> str:
    """A mapped field's value in a user.* message's state, as text."""
    if field.profile_field is not None:
        value = (data.get("profile") or {}).get(field.profile_field, "")
    else:
        value = data.get(field.moodle, "")
    return "" if value is None else str(value)


def _user_gone(user_id: int, policy: str, tombstone: str = Tombstone.DELETED) -> list[Write]:
    key = f"user:{user_id}"
    if policy == "delete":
        return [Write("Contacts", key, delete=True, tombstone=tombstone, ends_link=True)]
    attributes = {"moodle_status_c": "deleted", "moodle_user_id_c": str(user_id)}
    if policy == "anonymise":
        attributes.update(ANONYMISED)
        return [Write("Contacts", key, attributes, facet="deletion", only_if_exists=True,
                      tombstone=Tombstone.ANONYMISED, ends_link=True)]
    # A learner the CRM never held gets no Contact for their deletion; their later records are skipped.
    return [Write("Contacts", key, attributes, facet="deletion", ends_link=True, only_if_exists=True,
                  bury_if_absent=True)]


def _course(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    if message["type"] == "course.deleted":
        # The course record stays (reports keep their history); its learners' records follow by cascade.
        return [Write("mdl_Courses", f"course:{data['id']}", {"visible": "0"}, facet="deletion", only_if_exists=True)]
    return [Write("mdl_Courses", f"course:{data['id']}", {
        "name": data["fullname"], "moodle_course_id": str(data["id"]), "shortname": data["shortname"],
        "idnumber": data.get("idnumber", ""), "start_date": crm_datetime(data.get("startdate")),
        "end_date": crm_datetime(data.get("enddate")), "visible": "1" if data.get("visible", True) else "0",
        "course_url": f"{message['site']['url']}/course/view.php?id={data['id']}"})]


def _enrolment(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    uid, cid = data["userid"], data["courseid"]
    if data["status"] == "deleted" and not data.get("course"):
        # The course itself is gone: the enrolment ends, whatever else it said stays as it was.
        return [Write("mdl_Enrolments", f"enrolment:{uid}:{cid}", {"status": "unenrolled", "roles": "",
                                                                     "groups_list": ""},
                      facet="ended", only_if_exists=True)]
    course = data.get("course")
    active = [e for e in data["enrolments"] if e["status"] == "active"]
    starts = [e["timestart"] for e in data["enrolments"] if e.get("timestart")]
    ends = [e["timeend"] for e in data["enrolments"] if e.get("timeend")]
    # Status is the enrolment's own flag, as a CRM user sets it (active / suspended); whether today lies between
    # its start and end is time_start and time_end's to say. Moodle's message calls an enrolment outside its
    # dates "suspended": shown as that, the CRM's next edit of the record would suspend the learner for real.
    status = "unenrolled" if data["status"] == "deleted" else "active" if active else "suspended"
    course_fields = {"moodle_course_id": str(cid),
                     "course_url": f"{message['site']['url']}/course/view.php?id={cid}"}
    if course:
        course_fields.update(name=course["fullname"], shortname=course["shortname"],
                             idnumber=course.get("idnumber") or "")
    writes = [Write("mdl_Courses", f"course:{cid}", course_fields, facet="from-enrolment")]
    writes.append(Write("mdl_Enrolments", f"enrolment:{uid}:{cid}", {
        **({"name": f"{course['shortname']} / user {uid}"} if course else {}), **_course_name(data),
        "moodle_user_id": str(uid), "moodle_course_id": str(cid), "status": status,
        "enrol_methods": ", ".join(sorted({e["method"] for e in (active or data["enrolments"])})),
        "roles": ", ".join(data["roles"]), "groups_list": group_lines(g["name"] for g in data["groups"]),
        "time_start": crm_datetime(min(starts) if starts else None),
        "time_end": crm_datetime(max(ends) if ends else None)},
        parents=(_contact_parent(uid), _parent("mdl_Enrolments", "mdl_Courses", f"course:{cid}")),
        scope=(("course_id", cid),)))
    return writes


def group_lines(names) -> str:
    """An enrolment's groups as the CRM shows them and CRM users write them: one name per line, sorted."""
    return "\n".join(sorted(names))


def _course_name(data: dict) -> dict:
    """The Course column of a learner's record; a message without the course (an older plugin) leaves
    the name the CRM shows as it is."""
    course = data.get("course")
    return {"course_name": course["fullname"]} if course else {}


def _grade(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    item = data.get("item")
    uid, cid = data["userid"], data["courseid"]
    key = f"grade:{uid}:{data['itemid']}"
    if data.get("deleted") or message["type"] == "grade.deleted":
        writes = [Write("mdl_Grades", key, delete=True)]
        if (item or {}).get("itemtype") == "course":
            writes.append(Write("mdl_Enrolments", f"enrolment:{uid}:{cid}", {"final_grade": "", "pass_state": ""},
                                facet="course-grade", only_if_exists=True))
        return writes
    pass_state = _pass_state(data.get("finalgrade"), data.get("passed"))
    name = item.get("itemname") or ("Course total" if item["itemtype"] == "course" else f"Grade item {data['itemid']}")
    writes = [Write("mdl_Grades", key, {
        "name": name, "moodle_user_id": str(uid), "moodle_course_id": str(cid), "moodle_item_id": str(data["itemid"]),
        **_course_name(data), "item_name": name, "item_type": item["itemtype"], "item_module": item.get("itemmodule") or "",
        "grade": _number(data.get("finalgrade")), "grade_max": _number(item["grademax"]),
        "grade_pass": _number(item["gradepass"]), "percentage": _number(data.get("percentage")),
        "pass_state": pass_state, "time_graded": crm_datetime(data.get("timemodified"))},
        parents=(_parent("mdl_Grades", "Contacts", f"user:{uid}"),),
        scope=_scope(course_id=cid, cm_id=item.get("cmid"), item_id=data["itemid"]))]
    if item["itemtype"] == "course":
        writes.append(Write("mdl_Enrolments", f"enrolment:{uid}:{cid}", {
            "final_grade": _number(data.get("finalgrade")), "pass_state": pass_state}, facet="course-grade",
            parents=(_contact_parent(uid),)))
    return writes


def _scope(**ids) -> tuple[tuple[str, int], ...]:
    return tuple((name, int(value)) for name, value in ids.items() if value is not None)


def _module_completion(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    if message["type"] == "module_completion.deleted":
        return [Write("mdl_Completions", f"module_completion:{data['userid']}:{data['cmid']}", delete=True)]
    done = data["state"] != "incomplete"
    return [Write("mdl_Completions", f"module_completion:{data['userid']}:{data['cmid']}", {
        "name": data.get("name") or f"Activity {data['cmid']}", "moodle_user_id": str(data["userid"]),
        "moodle_course_id": str(data["courseid"]), "moodle_cm_id": str(data["cmid"]), "kind": "activity",
        **_course_name(data),
        "activity_name": data.get("name", ""), "state": data["state"], "completed": "1" if done else "0",
        "time_completed": crm_datetime(data.get("timemodified")) if done else ""},
        parents=(_parent("mdl_Completions", "Contacts", f"user:{data['userid']}"),),
        scope=_scope(course_id=data["courseid"], cm_id=data["cmid"]))]


def _course_completion(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    uid, cid = data["userid"], data["courseid"]
    if message["type"] == "course_completion.deleted":
        return [Write("mdl_Completions", f"course_completion:{uid}:{cid}", delete=True),
                Write("mdl_Enrolments", f"enrolment:{uid}:{cid}", {"completed": "0", "time_completed": ""},
                      facet="completion", only_if_exists=True)]
    completed = bool(data["completed"])
    when = crm_datetime(data.get("timecompleted")) if completed else ""
    return [
        Write("mdl_Completions", f"course_completion:{uid}:{cid}", {
            "name": (data.get("course") or {}).get("fullname") or f"Course {cid}", "moodle_user_id": str(uid),
            "moodle_course_id": str(cid), "kind": "course", **_course_name(data),
            "state": "complete" if completed else "incomplete", "completed": "1" if completed else "0",
            "time_completed": when}, parents=(_parent("mdl_Completions", "Contacts", f"user:{uid}"),),
            scope=_scope(course_id=cid)),
        Write("mdl_Enrolments", f"enrolment:{uid}:{cid}", {"completed": "1" if completed else "0",
                                                             "time_completed": when},
              facet="completion", parents=(_contact_parent(uid),)),
    ]


def _course_access(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    when = crm_datetime(data["lastaccess"])
    return [
        Write("mdl_Enrolments", f"enrolment:{data['userid']}:{data['courseid']}",
              {"last_access": when, "accessed": "accessed" if when else "never"},
              facet="access", parents=(_contact_parent(data["userid"]),)),
        Write("Contacts", f"user:{data['userid']}", {"moodle_last_access_c": when}, facet="access"),
    ]


def _attendance(message: dict, _config: Config) -> list[Write]:
    data = message["data"]
    if message["type"] == "attendance.deleted":
        return [Write("mdl_Attendance", f"attendance:{data['sessionid']}:*", delete=True)]  # every learner's mark
    session = data["session"]
    writes = []
    for status in data["statuses"]:
        uid = status["userid"]
        writes.append(Write("mdl_Attendance", f"attendance:{session['id']}:{uid}", {
            "name": f"{data.get('name', 'Attendance')} {crm_datetime(session['sessdate'])[:10]}",
            "moodle_user_id": str(uid), "moodle_course_id": str(data["courseid"]), **_course_name(data),
            "moodle_session_id": str(session["id"]), "session_date": crm_datetime(session["sessdate"]),
            "duration_minutes": str(int(session.get("duration", 0)) // 60),
            "status_acronym": status["acronym"], "status_description": status.get("description", ""),
            "points": _number(status.get("grade")), "remarks": status.get("remarks", ""),
            "time_taken": crm_datetime(status.get("timetaken"))},
            parents=(_parent("mdl_Attendance", "Contacts", f"user:{uid}"),),
            scope=_scope(course_id=data["courseid"], cm_id=data.get("cmid"))))
    return writes


def _consent(message: dict, config: Config) -> list[Write]:
    """One mdl_Consents record per learner and policy version; the Contact's marketing consent follows only
    the policy MARKETING_CONSENT_POLICY names, and only a compulsory policy's withdrawal ends the learner."""
    data = message["data"]
    uid, version, status = data["userid"], data["policyversionid"], data["status"]
    optional = bool(data.get("optional", False))  # messages before the plugin sent it: compulsory
    policy_id = data.get("policyid")
    answered = crm_datetime(data["timemodified"])
    writes = [Write("mdl_Consents", f"consent:{uid}:{version}", {
        "name": data.get("policyname") or f"Policy version {version}",
        "moodle_user_id": str(uid), "moodle_policy_id": "" if policy_id is None else str(policy_id),
        "moodle_policy_version_id": str(version), "policy_version": data.get("version") or "",
        "optional": "1" if optional else "0", "status": status, "on_behalf": "1" if data.get("onbehalfof") else "0",
        "time_answered": answered}, parents=(_parent("mdl_Consents", "Contacts", f"user:{uid}"),))]
    marketing = config.marketing_consent_policy
    if marketing and marketing in (str(policy_id), data.get("policyname")):
        writes.append(Write("Contacts", f"user:{uid}", {"moodle_consent_c": status, "moodle_consent_date_c": answered},
                            facet="consent"))
    if status != "withdrawn" or optional:
        return writes
    if config.consent_withdrawal_policy == "delete":
        return _user_gone(uid, "delete", Tombstone.WITHDRAWN)
    if config.consent_withdrawal_policy == "anonymise":
        writes.append(Write("Contacts", f"user:{uid}", ANONYMISED, facet="anonymised",
                            tombstone=Tombstone.ANONYMISED, ends_link=True))
    return writes


def _pass_state(finalgrade, passed) -> str:
    """Not graded, graded against no pass mark, passed or failed (the plugin says `passed` only when a pass
    mark is set)."""
    if finalgrade is None:
        return ""
    if passed is None:
        return "no_pass_mark"
    return "passed" if passed else "failed"


def _rate(part: int, whole: int) -> str:
    """A percentage with 2 decimals; none when there is nothing to count (no marks, nobody graded).

    The counts are read in separate queries while marks may change, so a part can exceed its whole by the
    time both are read: the rate is capped at 100 rather than showing an impossible value."""
    return f"{min(part, whole) * 100 / whole:.2f}" if whole else ""


def activity_key(courseid: int, itemid: int) -> str:
    return f"activity_summary:{courseid}:{itemid}"


def _course_summary(message: dict, _config: Config) -> list[Write]:
    """The course's attendance summary on its record, and one record per assessed activity."""
    data = message["data"]
    cid, course, marks = data["courseid"], data["course"], data["attendance"]
    when = crm_datetime(data["timegenerated"])
    writes = [Write("mdl_Courses", f"course:{cid}", {
        "name": course["fullname"], "moodle_course_id": str(cid), "shortname": course["shortname"],
        "learners": str(data["learners"]), "attendance_sessions": str(marks["sessions"]),
        **{f"attendance_{status}_rate": _rate(marks[status], marks["marks"])
           for status in ("present", "late", "excused", "absent")},
        "summary_updated": when, **_tutors(data)}, facet="summary")]
    course_link = _parent("mdl_Activities", "mdl_Courses", f"course:{cid}")
    for activity in data["activities"]:
        writes.append(Write("mdl_Activities", activity_key(cid, activity["itemid"]), {
            "name": activity["name"], "moodle_course_id": str(cid), "moodle_item_id": str(activity["itemid"]),
            "moodle_cm_id": "" if activity.get("cmid") is None else str(activity["cmid"]),
            "course_name": course["fullname"], "item_module": activity.get("module") or "",
            "grade_max": _number(activity["grademax"]), "grade_pass": _number(activity["gradepass"]),
            "graded_count": str(activity["graded"]), "average_grade": _number(activity.get("average")),
            "average_percentage": _number(activity.get("average_percentage")),
            "passed_count": str(activity["passed"]), "pass_rate": _rate(activity["passed"], activity["graded"]) if activity["gradepass"] else "",
            "summary_updated": when},
            parents=(course_link,), scope=_scope(course_id=cid, cm_id=activity.get("cmid"),
                                                 item_id=activity["itemid"])))
    return writes


def _tutors(summary: dict) -> dict:
    """The course's Tutors field: one tutor a line, a non-editing teacher marked so; a summary without
    `tutors` (an older plugin) leaves what the CRM shows."""
    if "tutors" not in summary:
        return {}
    lines = [f"{t['firstname']} {t['lastname']}".strip()
             + ("" if "editingteacher" in t["roles"] else " (non-editing teacher)") for t in summary["tutors"]]
    return {"tutors": "\n".join(lines)}


def _group(message: dict, _config: Config) -> list[Write]:
    """A Moodle course group as a Moodle Group record under its Moodle Course; its deletion deletes it."""
    data = message["data"]
    key = f"group:{data['id']}"
    if message["type"] == "group.deleted":
        return [Write("mdl_Groups", key, delete=True)]
    cid, course = data["courseid"], data.get("course")
    # As an enrolment does: the group names its course, so its Moodle Course exists to relate it to even when
    # no course message has come (a course older than the plugin, not backfilled).
    writes = [Write("mdl_Courses", f"course:{cid}", {
        "moodle_course_id": str(cid), "course_url": f"{message['site']['url']}/course/view.php?id={cid}",
        "name": course["fullname"], "shortname": course["shortname"], "idnumber": course.get("idnumber") or ""},
        facet="from-group")] if course else []
    return writes + [Write("mdl_Groups", key, {
        "name": data["name"], "moodle_course_id": str(cid), "moodle_group_id": str(data["id"]), **_course_name(data),
        "idnumber": data["idnumber"], "description": data["description"], "members": str(data["members"])},
        parents=(_parent("mdl_Groups", "mdl_Courses", f"course:{cid}"),), scope=_scope(course_id=cid))]


def _activities_gone(message: dict, _config: Config) -> list[Write]:
    """Cascade of a deletion (cascade.py) when no summary of the course is left to derive one from."""
    data = message["data"]
    return [Write("mdl_Activities", activity_key(data["courseid"], itemid), delete=True)
            for itemid in data["itemids"]]


def _course_renamed(message: dict, _config: Config) -> list[Write]:
    """Cascade of a course rename (cascade.py) to records whose last full state the inbox no longer has.

    Written as the record's own state, not as a facet: its content hash then changes, so a later
    full state (or this name again after another one) is never mistaken for what the CRM shows.
    """
    name = message["data"]["course"]["fullname"]
    return [Write(module, key, {"course_name": name}, only_if_exists=True)
            for module, key in message["data"]["records"]]


def _cascade_only(_message: dict, _config: Config) -> list[Write]:
    """An activity or grade item deletion writes nothing itself: its records go by cascade (cascade.py)."""
    return []


HANDLERS = {
    "user.created": _user, "user.updated": _user,
    "user.deleted": lambda m, c: _user_gone(m["data"]["id"], c.user_deletion_policy),
    "course.created": _course, "course.updated": _course, "course.deleted": _course,
    "enrolment.created": _enrolment, "enrolment.updated": _enrolment, "enrolment.deleted": _enrolment,
    "grade.updated": _grade, "grade.deleted": _grade, "grade_item.deleted": _cascade_only,
    "activity.deleted": _cascade_only,
    "module_completion.updated": _module_completion, "module_completion.deleted": _module_completion,
    "course_completion.updated": _course_completion, "course_completion.deleted": _course_completion,
    "course_access.updated": _course_access, "attendance.recorded": _attendance, "attendance.deleted": _attendance,
    "consent.updated": _consent,
    "course_summary.updated": _course_summary,
    "group.updated": _group, "group.deleted": _group,
    # Written by the connector's cascades (cascade.py), never sent by Moodle.
    "course.renamed": _course_renamed, "activity_summary.deleted": _activities_gone,
    "ping": lambda m, c: [],
}


def writes_for(message: dict, config: Config) -> list[Write]:
    handler = HANDLERS.get(message["type"])
    if handler is None:
        raise MappingError(f"no mapping for message type {message['type']!r}")
    writes = [replace(write, attributes={name: crm_text(value) if isinstance(value, str) else value
                                         for name, value in write.attributes.items()})
              for write in handler(message, config)]
    for write in writes:
        validate(write)
    return writes


def validate(write: Write) -> None:
    """Custom fields and modules must be ones the SuiteCRM package installs (crm_schema.yaml)."""
    schema = crm_schema.load()
    if write.module == "Contacts":
        known = {f.name for f in schema.contact_fields}
        unknown = [a for a in write.attributes if a.endswith("_c") and a not in known]
    else:
        module = schema.module(write.module)
        known = {f.name for f in module.fields} | {"name", "description"}
        unknown = [a for a in write.attributes if a not in known]
    if unknown:
        raise MappingError(f"{write.module} has no field {', '.join(sorted(unknown))} in crm_schema.yaml")
