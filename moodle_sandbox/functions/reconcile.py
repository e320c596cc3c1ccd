"""local_crmsync_export_state, _resend, _notify_admins: the plugin's reconciliation functions
(moodle_plugin/classes/local/state_export.php, classes/external/*.php).

The sandbox holds users, courses, enrolments and groups, so it exports those kinds (and the course
summary, grades, completions, attendance and consents as empty pages), built as the plugin's
message_builder builds them. What the plugin would record in its outbox (resend) goes to the table
`local_crmsync_outbox` (subject, type, status `pending`: nothing delivers it here), every notification
to `local_crmsync_notifications` (userid, subject, message, url, timecreated); tests read both through
`/__sandbox/records/<table>`.
"""

from __future__ import annotations

import bisect
import hashlib
import html
import json
import re
import threading
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime

from moodle_sandbox.errors import MoodleException
from moodle_sandbox.functions import Call, function
from moodle_sandbox.params import Multiple, Value, default

KINDS = ("user", "course", "enrolment", "group", "grade", "course_completion", "module_completion", "attendance",
         "consent", "course_summary")
RESEND_PREFIXES = {"user": 1, "course": 1, "course_summary": 1, "group": 1, "enrolment": 2, "course_access": 2,
                   "grade": 2, "module_completion": 2, "course_completion": 2, "attendance": 1, "consent": 2}
MAX_LIMIT = 1000
MAX_SUBJECTS = 1000
OUTBOX = "local_crmsync_outbox"
NOTIFICATIONS = "local_crmsync_notifications"
SERVICES = ("crm_sync", "crmsync")  # the recorded site's hand-made service and the plugin's own
DESCRIPTION_LENGTH = 16383
SUBJECT = re.compile(r"^([a-z_]+)((?::[1-9][0-9]{0,17})+)$")
FUNCTIONS = ("local_crmsync_export_state", "local_crmsync_resend", "local_crmsync_notify_admins")


# --- the tables an export reads, indexed as the plugin's SQL joins them -----------------------------------
class _Site:
    """Read once per state of the store (Store.generation) and indexed, so that a page of an export costs its
    own items, as the plugin's indexed queries do, not a read of every table for every item (which made a
    site of thousands of learners unexportable)."""

    def __init__(self, store):
        self.generation = store.generation
        self.users = store.all("user")
        self.user = {u["id"]: u for u in self.users}
        self.courses = store.all("course")
        self.course = {c["id"]: c for c in self.courses}
        self.instance = {i["id"]: i for i in store.all("enrol")}
        self.user_enrolments = store.all("user_enrolments")
        self.enrolments: dict[tuple[int, int], list[dict]] = defaultdict(list)  # (user, course) → by id
        for ue in self.user_enrolments:
            instance = self.instance.get(ue["enrolid"])
            if instance is not None:
                self.enrolments[(ue["userid"], instance["courseid"])].append(ue | {"instance": instance})
        self.roles = {r["id"]: r for r in store.all("role")}
        self.role_assignments: dict[tuple[int, int], list[dict]] = defaultdict(list)  # (course, user) → by id
        for ra in store.all("role_assignments"):
            self.role_assignments[(ra["courseid"], ra["userid"])].append(ra)
        self.groups = store.all("groups")
        self.member_of: dict[int, set[int]] = defaultdict(set)  # user → group ids
        self.members: Counter = Counter()  # group id → members
        for member in store.all("groups_members"):
            self.member_of[member["userid"]].add(member["groupid"])
            self.members[member["groupid"]] += 1
        self.groups_of_course: dict[int, list[dict]] = defaultdict(list)
        for group in self.groups:
            self.groups_of_course[group["courseid"]].append(group)
        services = {s["id"] for s in store.all("external_services") if s["shortname"] in SERVICES}
        # The users authorised on the CRM sync service: here, whoever holds a token of it.
        service_users = {t["userid"] for t in store.all("external_tokens") if t["serviceid"] in services}
        # Existing users the CRM hears nothing of: site admins, the guest, the service's users.
        self.not_synced = {u["id"] for u in self.users if u.get("siteadmin") or u["username"] == "guest"} \
            | service_users
        self.listings: dict[str, list[tuple]] = {}


_SITES: dict[int, _Site] = {}
_SITES_LOCK = threading.Lock()


def _site_tables(call: Call) -> _Site:
    with _SITES_LOCK:
        site = _SITES.get(id(call.store))
        if site is None or site.generation != call.store.generation:
            site = _SITES[id(call.store)] = _Site(call.store)
        return site


# --- who is synced (synced_people.php) ----------------------------------------------------------------
def _not_synced(call: Call) -> set[int]:
    """Existing users the CRM hears nothing of: site admins, the guest, the service's users."""
    return _site_tables(call).not_synced


# --- messages (message_builder.php) ----------------------------------------------------------------------
def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", "", text)


def _plain_text(text: str) -> str:
    text = re.sub(r"<br\s*/?>|</(p|div|li|h[1-6])>", "\n", text, flags=re.I)
    text = html.unescape(_strip_tags(text))
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text.replace("\r\n", "\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _course_ref(course: dict) -> dict:
    return {"id": course["id"], "shortname": course["shortname"], "fullname": course["fullname"],
            "idnumber": course.get("idnumber") or ""}


def _user_state(call: Call, user: dict) -> dict:
    text = ("username", "idnumber", "email", "firstname", "lastname", "phone1", "phone2", "institution", "department",
            "address", "city", "country", "lang", "timezone", "auth")
    state = {"id": user["id"]} | {name: str(user.get(name) or "") for name in text}
    state |= {name: None if user.get(name) is None else str(user[name]) for name in ("middlename", "alternatename")}
    state |= {name: bool(user.get(name)) for name in ("confirmed", "suspended", "deleted")}
    state |= {name: int(user.get(name) or 0) for name in ("firstaccess", "lastaccess", "lastlogin", "timecreated",
                                                          "timemodified")}
    wanted = call.config.get("crmsync_profilefields", [])
    state["profile"] = {name: value for name, value in user.get("customfields", {}).items() if name in wanted}
    return state


def _course_state(course: dict) -> dict:
    return {"id": course["id"], "shortname": course["shortname"], "fullname": course["fullname"],
            "idnumber": course.get("idnumber") or "", "category": int(course.get("category") or 0),
            "format": course.get("format") or "", "startdate": int(course.get("startdate") or 0),
            "enddate": int(course.get("enddate") or 0), "visible": bool(course.get("visible")),
            "summary": _strip_tags(course.get("summary") or ""), "timemodified": int(course.get("timemodified") or 0)}


def _enrolment_state(call: Call, user_id: int, course: dict) -> dict:
    site = _site_tables(call)
    rows = site.enrolments.get((user_id, course["id"]), [])
    instances, current, modified = [], False, 0
    for ue in rows:
        active = ue["status"] == 0 and ue["instance"]["status"] == 0
        instances.append({"id": ue["id"], "enrolid": ue["enrolid"], "method": ue["instance"]["enrol"],
                          "status": "active" if active else "suspended", "timestart": ue["timestart"],
                          "timeend": ue["timeend"], "timecreated": ue.get("timecreated", 0),
                          "timemodified": ue.get("timemodified", 0)})
        current = current or (active and ue["timestart"] <= call.now and (not ue["timeend"] or ue["timeend"] > call.now))
        modified = max(modified, ue.get("timemodified", 0))
    if not instances:
        return {"userid": user_id, "courseid": course["id"], "status": "deleted", "course": _course_ref(course),
                "enrolments": [], "roles": [], "groups": []}
    roles = site.roles
    shortnames = []
    for ra in sorted(site.role_assignments.get((course["id"], user_id), []), key=lambda ra: roles[ra["roleid"]]["sortorder"]):
        if roles[ra["roleid"]]["shortname"] not in shortnames:
            shortnames.append(roles[ra["roleid"]]["shortname"])
    member_of = site.member_of.get(user_id, set())
    groups = sorted((g for g in site.groups_of_course.get(course["id"], []) if g["id"] in member_of),
                    key=lambda g: (g["name"], g["id"]))
    return {"userid": user_id, "courseid": course["id"], "course": _course_ref(course),
            "status": "active" if current else "suspended", "enrolments": instances, "roles": shortnames,
            "groups": [{"id": g["id"], "name": g["name"], "idnumber": g.get("idnumber") or ""} for g in groups],
            "timemodified": modified}


def _group_state(call: Call, group: dict) -> dict:
    site = _site_tables(call)
    course = site.course.get(group["courseid"])
    return {"id": group["id"], "courseid": group["courseid"]} | ({"course": _course_ref(course)} if course else {}) | {
        "name": group["name"], "idnumber": group.get("idnumber") or "",
        "description": _plain_text(group.get("description") or "")[:DESCRIPTION_LENGTH],
        "members": site.members[group["id"]],
        "timemodified": int(group.get("timemodified") or 0)}


def _site(call: Call) -> dict:
    url = call.config["siteurl"]
    # The plugin's site id: the first 20 hex digits of sha256($CFG->siteidentifier), stored at install.
    return {"id": call.config.get("crmsync_siteid") or hashlib.sha256(url.encode()).hexdigest()[:20], "url": url}


def _envelope(call: Call, kind: str, subject: str, data: dict) -> dict:
    site = _site(call)
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{site['url']}#export/{subject}@{call.now}")),
            "type": f"{kind}.updated", "occurred_at": datetime.fromtimestamp(call.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sequence": 0, "subject": subject, "site": site, "moodle_event": None, "data": data}


def _listing(call: Call, kind: str) -> list[tuple[int, str, object]]:
    """(key, subject, what its builder needs) of every subject of the kind, by ascending key."""
    site = _site_tables(call)
    if kind not in site.listings:
        site.listings[kind] = _keys(site, kind)
    return site.listings[kind]


def _data(call: Call, kind: str, key: int, what) -> dict:
    site = _site_tables(call)
    if kind == "user":
        return _user_state(call, site.user[key])
    if kind == "course":
        return _course_state(site.course[key])
    if kind == "group":
        return _group_state(call, what)
    user_id, course_id = what
    return _enrolment_state(call, user_id, site.course[course_id])


def _keys(site: _Site, kind: str) -> list[tuple[int, str, object]]:
    """(key, subject, what its builder needs) of every subject of the kind, by ascending key."""
    if kind == "user":
        return [(u["id"], f"user:{u['id']}", None) for u in site.users
                if not u["deleted"] and u["id"] not in site.not_synced]
    if kind == "course":
        return [(c["id"], f"course:{c['id']}", None) for c in site.courses if c["id"] != 1]
    if kind == "group":
        return [(g["id"], f"group:{g['id']}", g) for g in site.groups if g["courseid"] != 1]
    if kind == "enrolment":
        first: dict[tuple[int, int], int] = {}
        for ue in site.user_enrolments:
            instance = site.instance.get(ue["enrolid"])
            course_id = instance["courseid"] if instance else None
            user = site.user.get(ue["userid"])
            if course_id in (None, 1) or not user or user["deleted"] or user["id"] in site.not_synced:
                continue
            first.setdefault((ue["userid"], course_id), ue["id"])
        return sorted((key, f"enrolment:{user_id}:{course_id}", (user_id, course_id))
                      for (user_id, course_id), key in first.items())
    return []  # the sandbox holds no grades, completions, attendance, consents; no course summary is built


@function("local_crmsync_export_state", kind=Value("alphaext"), fromid=default(Value("int"), 0),
          limit=default(Value("int"), 200))
def export_state(call: Call, params: dict):
    kind = params["kind"]
    if kind not in KINDS:
        raise MoodleException("unknownkind", f"There is no kind '{kind}' to export: one of {', '.join(KINDS)}.")
    limit = max(1, min(MAX_LIMIT, params["limit"]))
    listing = _listing(call, kind)
    start = bisect.bisect_right(listing, params["fromid"], key=lambda entry: entry[0])
    page = listing[start:start + limit + 1]
    more, page = len(page) > limit, page[:limit]
    items = [{"subject": subject, "message": _php_json_text(_envelope(call, kind, subject, _data(call, kind, key, what)))}
             for key, subject, what in page]
    return {"items": items, "nextfromid": page[-1][0] if more and page else 0, "total": len(listing)}


def _php_json_text(message: dict) -> str:
    """json_encode($message, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), an empty profile as {}."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


@function("local_crmsync_resend", subjects=Multiple(Value("raw")))
def resend(call: Call, params: dict):
    if len(params["subjects"]) > MAX_SUBJECTS:  # counted as given, repeats included
        raise MoodleException("toomanysubjects",
                              f"At most {MAX_SUBJECTS} subjects in one call, not {len(params['subjects'])}.")
    subjects = list(dict.fromkeys(params["subjects"]))
    hidden = _not_synced(call)
    queued, unknown = 0, []
    for subject in subjects:
        match = SUBJECT.match(subject)
        prefix = match and match.group(1)
        ids = [int(i) for i in match.group(2)[1:].split(":")] if match else []
        if not match or RESEND_PREFIXES.get(prefix) != len(ids) or (
                prefix not in ("course", "course_summary", "group", "attendance") and ids[0] in hidden):
            unknown.append(subject)
            continue
        queued += 1
        if not call.store.first(OUTBOX, subject=subject, status="pending"):
            call.store.insert(OUTBOX, {"subject": subject, "status": "pending", "timecreated": call.now,
                                       "type": "attendance.recorded" if prefix == "attendance" else f"{prefix}.updated"})
    return {"queued": queued, "unknown": unknown}


@function("local_crmsync_notify_admins", subject=Value("text"), message=Value("text"),
          url=default(Value("raw"), ""))
def notify_admins(call: Call, params: dict):
    if not params["subject"].strip():
        raise MoodleException("emptysubject", "A notification needs a subject.")
    admins = [u for u in call.store.all("user") if u.get("siteadmin") and not u["deleted"]]
    for admin in admins:
        call.store.insert(NOTIFICATIONS, {"userid": admin["id"], "subject": params["subject"],
                                          "message": params["message"], "url": params["url"],
                                          "timecreated": call.now})
    return {"sent": len(admins)}
