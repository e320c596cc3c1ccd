"""`crmsync demo`: a small, realistic Moodle event stream (the learners and course of the recorded
Moodle 4.3 site) sent signed to a running receiver, and a summary of the CRM records it produced;
then a CRM user's edit of one of those Contacts, followed until Moodle shows it.

The summary is read through SuiteCRM's V8 API, as the connector reads it, so it is the same against
a real SuiteCRM and against the bundled sandbox: the records of the demo's Moodle site, by its id.
The edit is made through the V8 API too, as a CRM user (the password grant: the sync's own API user's
writes are not sent to Moodle), and read back from Moodle through its web services."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
import requests
from standardwebhooks import Webhook

from crm_connector.moodle import MoodleClient, MoodleError
from crm_connector.suitecrm import CrmError, SuiteCrmClient
from crmsync.config import Config
from crmsync.run import (
    ADMIN_TOKEN_FILE,
    MOODLE_SANDBOX_TOKEN_FILE,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET_FILE,
    SANDBOX_PASSWORD_FILE,
    SANDBOX_USERNAME,
)

SITE = {"id": "demo-moodle", "url": "http://moodle.example.invalid"}
COURSE = {"id": 2, "shortname": "CRM101", "fullname": "CRM Sync Test Course", "idnumber": ""}
LEARNERS = [
    {"id": 3, "username": "student1", "firstname": "Alice", "lastname": "Anders", "email": "student1@example.invalid"},
    {"id": 4, "username": "student2", "firstname": "Bob", "lastname": "Brown", "email": "student2@example.invalid"},
    {"id": 5, "username": "student3", "firstname": "Carol", "lastname": "Clark", "email": "student3@example.invalid"},
]
GRADES = {3: 85.5, 4: 62.0, 5: 41.0}
SUMMARY_FIELDS = {
    "Contacts": ["first_name", "last_name", "email1", "moodle_user_id_c", "moodle_last_access_c"],
    "mdl_Enrolments": ["name", "course_name", "status", "roles", "groups_list", "accessed", "last_access",
                       "completed", "final_grade", "pass_state"],
    "mdl_Grades": ["name", "course_name", "moodle_user_id", "grade", "percentage", "pass_state"],
    "mdl_Completions": ["name", "course_name", "kind", "moodle_user_id", "state"],
    "mdl_Attendance": ["name", "course_name", "moodle_user_id", "status_acronym"],
}
BASE_TIME = 1795344000
EDITED = LEARNERS[0]  # Alice Anders: a learner of the recorded Moodle site, which the Moodle sandbox holds
EDITED_FIELD = ("department", "department")  # (Contact field, Moodle user field), as the field mapping pairs them


def stored_secret() -> str:
    """The secret `make run` generated (var/webhook-secret) when WEBHOOK_SECRETS is not set."""
    path = Path("var") / "webhook-secret"
    if not path.exists():
        raise SystemExit("no signing secret: set WEBHOOK_SECRETS or pass --secret (make run prints it)")
    return path.read_text().strip()


def _message(sequence: int, message_type: str, subject: str, data: dict) -> dict:
    return {"id": str(uuid.uuid4()), "type": message_type,
            "occurred_at": datetime.fromtimestamp(BASE_TIME + sequence, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sequence": sequence, "subject": subject, "site": SITE, "moodle_event": None, "data": data}


def sample_stream(first_sequence: int | None = None) -> list[dict]:
    """Course, learners, enrolments, access, grades, completions and one attendance session."""
    sequence = first_sequence if first_sequence is not None else int(datetime.now(UTC).timestamp()) * 100
    messages = []

    def add(message_type, subject, data):
        nonlocal sequence
        sequence += 1
        messages.append(_message(sequence, message_type, subject, data))

    add("course.created", "course:2", {**COURSE, "category": 1, "startdate": BASE_TIME, "enddate": 0,
                                       "visible": True, "summary": "", "timemodified": BASE_TIME})
    for learner in LEARNERS:
        uid = learner["id"]
        add("user.created", f"user:{uid}", {**learner, "idnumber": "", "city": "Hamburg", "country": "DE",
                                            "suspended": False, "deleted": False, "timemodified": BASE_TIME})
        add("enrolment.created", f"enrolment:{uid}:2", {
            "userid": uid, "courseid": 2, "course": COURSE, "status": "active",
            "enrolments": [{"id": uid, "enrolid": 1, "method": "manual", "status": "active", "timestart": BASE_TIME,
                            "timeend": 0, "timecreated": BASE_TIME, "timemodified": BASE_TIME}],
            "roles": ["student"], "groups": [{"id": 1, "name": "Group A", "idnumber": ""}],
            "timemodified": BASE_TIME})
        add("course_access.updated", f"course_access:{uid}:2", {"userid": uid, "courseid": 2,
                                                                  "lastaccess": BASE_TIME + 3600})
        grade = GRADES[uid]
        add("grade.updated", f"grade:{uid}:1", {
            "userid": uid, "courseid": 2, "course": COURSE, "itemid": 1,
            "item": {"itemtype": "course", "itemmodule": None, "iteminstance": 2, "itemname": None, "cmid": None,
                     "grademax": 100.0, "grademin": 0.0, "gradepass": 50.0},
            "finalgrade": grade, "percentage": grade, "passed": grade >= 50.0, "hidden": False,
            "overridden": False, "deleted": False, "timemodified": BASE_TIME + 7200})
        add("module_completion.updated", f"module_completion:{uid}:1", {
            "userid": uid, "courseid": 2, "course": COURSE, "cmid": 1, "modname": "assign", "name": "Assignment 1",
            "completionstate": 2 if grade >= 50 else 3, "state": "complete_pass" if grade >= 50 else "complete_fail",
            "timemodified": BASE_TIME + 7200})
        add("course_completion.updated", f"course_completion:{uid}:2", {
            "userid": uid, "courseid": 2, "course": COURSE, "completed": grade >= 50, "timeenrolled": BASE_TIME,
            "timestarted": BASE_TIME, "timecompleted": BASE_TIME + 7300 if grade >= 50 else None})
    add("attendance.recorded", "attendance:1", {
        "courseid": 2, "course": COURSE, "cmid": 4, "attendanceid": 1, "name": "Roll call (CRM)",
        "session": {"id": 1, "sessdate": BASE_TIME - 86400, "duration": 5400, "description": "Kickoff", "groupid": 0},
        "statuses": [{"userid": uid, "statusid": 1 if uid != 5 else 4, "acronym": "P" if uid != 5 else "A",
                      "description": "Present" if uid != 5 else "Absent", "grade": 2.0 if uid != 5 else 0.0,
                      "timetaken": BASE_TIME, "takenby": 2, "remarks": ""} for uid in GRADES]})
    return messages


def send_stream(url: str, secret: str, messages: list[dict] | None = None) -> int:
    """POST the messages as one signed batch; returns how many the receiver accepted."""
    messages = messages if messages is not None else sample_stream()
    body = json.dumps({"events": messages})
    batch_id = f"demo-{uuid.uuid4()}"
    now = datetime.now(UTC)
    headers = {"webhook-id": batch_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(batch_id, now, body), "Content-Type": "application/json"}
    response = requests.post(url, data=body.encode(), headers=headers, timeout=30)
    if response.status_code != 202:
        raise SystemExit(f"the receiver answered {response.status_code}: {response.text[:300]}")
    return response.json()["accepted"]


def crm_client(settings: Config) -> SuiteCrmClient:
    """The configured SuiteCRM, or the sandbox `crmsync run` started (with the secret it stored)."""
    if settings.suitecrm_url:
        settings.require("suitecrm_client_id", "suitecrm_client_secret")
        return SuiteCrmClient(settings.suitecrm_url, settings.suitecrm_client_id, settings.suitecrm_client_secret,
                              settings.suitecrm_username, settings.suitecrm_password,
                              settings.suitecrm_timeout_seconds)
    if not SANDBOX_CLIENT_SECRET_FILE.exists():
        raise SystemExit("no CRM to read: set SUITECRM_URL (and its client) or start the sandbox with `crmsync run`")
    return SuiteCrmClient(f"http://{settings.sandbox_bind}", SANDBOX_CLIENT_ID, _read(SANDBOX_CLIENT_SECRET_FILE))


def _site_field(module: str) -> str:
    return "moodle_site_id_c" if module == "Contacts" else "moodle_site_id"


def crm_summary(crm: SuiteCrmClient) -> dict[str, list[str]]:
    """The demo site's records, module by module, as the V8 API lists them."""
    summary = {}
    for module, fields in SUMMARY_FIELDS.items():
        records = crm.find(module, {_site_field(module): SITE["id"]}, fields=fields)
        summary[module] = [", ".join(f"{f}={r[f]}" for f in fields if r.get(f) not in ("", None)) for r in records]
    return summary


def arrived(crm: SuiteCrmClient) -> bool:
    """The stream's last message (the attendance session) has reached the CRM for every learner."""
    try:
        return len(list(crm.find("mdl_Attendance", {"moodle_site_id": SITE["id"]}, fields=["name"]))) >= len(GRADES)
    except CrmError:
        return False  # not up yet, or not answering: the demo waits and then shows what there is


# --- CRM → Moodle ---------------------------------------------------------------------------------
def _read(path: Path) -> str:
    return path.read_text().strip()


def crm_user_client(settings: Config) -> SuiteCrmClient | None:
    """A CRM user's login to the SuiteCRM sandbox `crmsync run` started; None for a configured SuiteCRM,
    whose CRM users' passwords the demo does not know."""
    if settings.suitecrm_url or not (SANDBOX_CLIENT_SECRET_FILE.exists() and SANDBOX_PASSWORD_FILE.exists()):
        return None
    return SuiteCrmClient(f"http://{settings.sandbox_bind}", SANDBOX_CLIENT_ID, _read(SANDBOX_CLIENT_SECRET_FILE),
                          SANDBOX_USERNAME, _read(SANDBOX_PASSWORD_FILE))


def moodle_client(settings: Config) -> MoodleClient | None:
    """The configured Moodle, or the Moodle sandbox `crmsync run` started; None when there is neither."""
    if settings.moodle_url:
        return MoodleClient(settings.moodle_url, settings.moodle_token)
    if MOODLE_SANDBOX_TOKEN_FILE.exists():
        return MoodleClient(f"http://{settings.moodle_sandbox_bind}", _read(MOODLE_SANDBOX_TOKEN_FILE))
    return None


def edit_in_crm(crm_user: SuiteCrmClient) -> tuple[str, str]:
    """Change the demo learner's department as a CRM user; (Contact id, the new value)."""
    contact = next(iter(crm_user.find("Contacts", {"moodle_site_id_c": SITE["id"],
                                                   "moodle_user_id_c": str(EDITED["id"])}, fields=["last_name"])),
                   None)
    if contact is None:
        raise LookupError(f"the Contact of {EDITED['firstname']} {EDITED['lastname']} is not in the CRM")
    value = f"Sales & Marketing {datetime.now(UTC):%H:%M:%S}"  # differs from the last run's: a change
    crm_user.update("Contacts", contact["id"], {EDITED_FIELD[0]: value})
    return contact["id"], value


def in_moodle(moodle: MoodleClient) -> str | None:
    """The demo learner's department as Moodle's web services answer it (None: not reachable)."""
    try:
        users = moodle.get_users_by_field("id", [EDITED["id"]])
    except MoodleError:
        return None
    return users[0].get(EDITED_FIELD[1], "") if users else None


def received(settings: Config, contact_id: str, since: datetime) -> dict | None:
    """The receiver's newest stored CRM change of the Contact since `since`, through its admin API (None
    when there is none yet, or no admin token to ask with)."""
    token = settings.admin_api_tokens[0] if settings.admin_api_tokens else (
        _read(ADMIN_TOKEN_FILE) if ADMIN_TOKEN_FILE.exists() else None)
    if token is None:
        return None
    try:
        response = requests.get(f"http://{settings.bind}/api/v1/events", timeout=10,
                                headers={"Authorization": f"Bearer {token}"},
                                params={"subject": f"contact:{contact_id}", "since": since.isoformat()})
    except requests.RequestException:
        return None
    events = response.json().get("events", []) if response.status_code == 200 else []
    return events[0] if events else None


def crm_to_moodle(settings: Config, wait_seconds: float, echo) -> None:
    """Edit the demo learner in the CRM as a CRM user and follow the change until Moodle shows it."""
    crm_user, moodle = crm_user_client(settings), moodle_client(settings)
    if crm_user is None or moodle is None:
        echo("\nCRM → Moodle: skipped: it edits a Contact as a CRM user of the bundled SuiteCRM sandbox and reads "
             "the bundled Moodle sandbox (or MOODLE_URL); start them with `crmsync run`")
        return
    started = datetime.now(UTC).replace(microsecond=0)
    try:
        contact_id, value = edit_in_crm(crm_user)
    except (LookupError, CrmError) as error:
        raise click.ClickException(f"CRM → Moodle: the CRM edit could not be made: {error}") from None
    name = f"{EDITED['firstname']} {EDITED['lastname']}"
    echo(f"\nCRM → Moodle: {SANDBOX_USERNAME}, a CRM user, set {name}'s {EDITED_FIELD[0]} to {value!r} in the CRM")
    echo("  waiting for it to reach Moodle (CRM outbox → receiver /webhooks/crm → connector → Moodle web services)…")
    deadline = time.monotonic() + wait_seconds
    stored = None
    while time.monotonic() < deadline:
        if in_moodle(moodle) == value:
            echo(f"  Moodle user {EDITED['id']} ({EDITED['username']}) now has {EDITED_FIELD[1]}={value}, "
                 "read back through Moodle's web services")
            return
        if stored is None and (stored := received(settings, contact_id, started)) is not None:
            echo(f"  the receiver stored the CRM's change (event {stored['id']}); waiting for the connector to "
                 "write it to Moodle…")
        time.sleep(1)
    where = (f"the receiver holds it as event {stored['id']} ({stored['status']})" if stored
             else "the receiver has not stored it (is the CRM's channel configured and the receiver up?)")
    raise click.ClickException(
        f"CRM → Moodle: the edit did not reach Moodle within {wait_seconds:.0f}s: {where}. The connector applies "
        "CRM changes to Moodle with its CRM → Moodle job; `crmsync status` shows whether it runs and why it waits.")
