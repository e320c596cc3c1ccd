"""Record the reconciliation functions' transcripts of reconcile/ from a real Moodle 4.3 (not run by pytest).

    MOODLE_URL=http://127.0.0.1:PORT MOODLE_TOKEN=… python tests/moodle_sandbox/recorded/record_reconcile.py \
        tests/moodle_sandbox/recorded/reconcile

The Moodle has this product's plugin installed, its CRM sync service enabled with a token for the sync's
web-service user (docs/moodle-admin-guide.md), and at least two learners and a course with a manual
enrolment method and a group (the shared real site's seed: learner1, learner2, course 2 with group 1).
First it enrols learner1 (and puts them into the group) and learner2 in that course, as the CRM would
(core's enrolment functions through the same service); then it records local_crmsync_export_state of each
kind the sandbox holds (and one it holds none of), its refusal of an unknown kind, local_crmsync_resend and
local_crmsync_notify_admins and their refusals. The token is replaced by `<ws-token>`. Each transcript keeps
`clock`: Moodle's time of the call (from the exported messages' occurred_at), which the replay freezes
the sandbox's clock at.

site.json is the Moodle the replay sets the sandbox up as, built from what the recorded exports show (every
field the messages carry, which is every field they are built from) and the site's settings: its URL and
the plugin's site id (from the messages' `site`), the admin, and the service's user (who holds the token).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import requests

ENDPOINT = "/webservice/rest/server.php"
LEARNERS, COURSE, GROUP, STUDENT = (4, 5), 2, 1, 5


def flatten(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    pairs = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs += flatten(value, name)
        elif isinstance(value, list):
            pairs += flatten(dict(enumerate(value)), name)
        else:
            pairs.append((name, str(value)))
    return pairs


class Recorder:
    def __init__(self, url: str, token: str, folder: Path):
        self.url, self.token, self.folder = url.rstrip("/"), token, folder
        self.index: list[tuple[str, str, str]] = []

    def call(self, function: str, params: dict) -> object:
        data = [("wstoken", self.token), ("wsfunction", function), *flatten(params)]
        answer = requests.post(self.url + ENDPOINT, params={"moodlewsrestformat": "json"}, data=data, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def record(self, name: str, function: str, params: dict, note: str = "") -> object:
        pairs = [("wstoken", "<ws-token>"), ("wsfunction", function), *flatten(params)]
        before = int(time.time())
        started = time.monotonic()
        answer = requests.post(self.url + ENDPOINT, params={"moodlewsrestformat": "json"},
                               data=[(k, self.token if v == "<ws-token>" else v) for k, v in pairs], timeout=30)
        elapsed = round(time.monotonic() - started, 3)
        body = answer.json()
        clock = before
        for item in body.get("items", []) if isinstance(body, dict) else []:
            occurred = json.loads(item["message"])["occurred_at"]
            clock = int(datetime.strptime(occurred, "%Y-%m-%dT%H:%M:%S%z").timestamp())
            break
        file = f"{len(self.index) + 1:02d}_{name}.json"
        transcript = {"name": function, "note": note, "clock": clock,
                      "request": {"method": "POST", "path": ENDPOINT, "query": {"moodlewsrestformat": "json"},
                                  "content-type": "application/x-www-form-urlencoded", "params": pairs},
                      "response": {"status": answer.status_code,
                                   "content-type": answer.headers["Content-Type"].split(";")[0],
                                   "body_kind": "json", "body": body, "elapsed_s": elapsed}}
        (self.folder / file).write_text(json.dumps(transcript, indent=2, ensure_ascii=False) + "\n")
        outcome = body.get("errorcode", "OK") if isinstance(body, dict) and "exception" in body else "OK"
        self.index.append((file, function, outcome, note))
        return body


def site(messages: list[dict], admin: dict, service_user: dict, roles: dict[str, int]) -> dict:
    """The sandbox rows (moodle_sandbox/model.py's tables) the exported messages describe."""
    tables: dict[str, list[dict]] = {"user": [admin | {"siteadmin": True}, service_user], "course": [], "enrol": [],
                                     "user_enrolments": [], "role_assignments": [], "groups": [],
                                     "groups_members": []}
    first = messages[0]["site"]
    config = {"siteurl": first["url"], "crmsync_siteid": first["id"]}
    instances: dict[int, dict] = {}
    for message in messages:
        data, kind = message["data"], message["type"].split(".")[0]
        if kind == "user":
            tables["user"].append({k: v for k, v in data.items() if k != "profile"} | {
                "deleted": 0, "confirmed": int(data["confirmed"]), "suspended": int(data["suspended"]),
                "customfields": {}})
        elif kind == "course":
            tables["course"].append(data)
        elif kind == "group":
            tables["groups"].append({k: data[k] for k in ("id", "courseid", "name", "idnumber", "description",
                                                          "timemodified")})
        elif kind == "enrolment":
            for ue in data["enrolments"]:
                # An enrolment that is not suspended itself but shows suspended is in a disabled method.
                instances[ue["enrolid"]] = {"id": ue["enrolid"], "courseid": data["courseid"], "enrol": ue["method"]}
                tables["user_enrolments"].append({k: ue[k] for k in ("id", "enrolid", "timestart", "timeend",
                                                                     "timecreated", "timemodified")}
                                                 | {"userid": data["userid"], "status": 0 if ue["status"] == "active"
                                                    else 1})
            tables["role_assignments"] += [{"roleid": roles[r], "courseid": data["courseid"], "userid": data["userid"]}
                                           for r in data["roles"]]
            tables["groups_members"] += [{"groupid": g["id"], "userid": data["userid"]} for g in data["groups"]]
    tables["enrol"] = sorted(instances.values(), key=lambda i: i["id"])
    return {"config": config, "tables": tables}


def main(folder: Path) -> None:
    recorder = Recorder(os.environ["MOODLE_URL"], os.environ["MOODLE_TOKEN"], folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("[0-9][0-9]_*.json"):
        old.unlink()
    recorder.call("enrol_manual_enrol_users", {"enrolments": [
        {"roleid": STUDENT, "userid": user, "courseid": COURSE} for user in LEARNERS]})
    recorder.call("core_group_add_group_members", {"members": [{"groupid": GROUP, "userid": LEARNERS[0]}]})

    messages = []
    first = recorder.record("export_state_user_first_page", "local_crmsync_export_state",
                            {"kind": "user", "limit": 2}, "two users of the synced ones, by ascending id")
    second = recorder.record("export_state_user_next_page", "local_crmsync_export_state",
                             {"kind": "user", "fromid": first["nextfromid"], "limit": 1000},
                             "the rest: nextfromid 0")
    for page in (first, second):
        messages += [json.loads(i["message"]) for i in page["items"]]
    for kind, note in (("course", "every course but the front page"), ("enrolment", "learner1 and learner2 in C1"),
                       ("group", "learner1 in Cohort A")):
        page = recorder.record(f"export_state_{kind}", "local_crmsync_export_state", {"kind": kind},
                               note)
        messages += [json.loads(i["message"]) for i in page["items"]]
    recorder.record("export_state_grade_empty", "local_crmsync_export_state", {"kind": "grade"},
                    "a kind the site holds none of")
    recorder.record("export_state_unknown_kind", "local_crmsync_export_state", {"kind": "contact"},
                    "no debugging on the site: no debuginfo")
    recorder.record("resend", "local_crmsync_resend", {"subjects": [
        f"user:{LEARNERS[0]}", f"enrolment:{LEARNERS[0]}:{COURSE}", "user:999999", "user:2", "contact:1", "user:x"]},
        "the admin (2), an unknown prefix and a malformed subject are not taken; user 999999 is sent as deleted")
    recorder.record("resend_too_many", "local_crmsync_resend", {"subjects": ["user:4"] * 1001}, "")
    recorder.record("notify_admins", "local_crmsync_notify_admins", {
        "subject": "Reconciliation: 2 differences", "message": "missing_in_crm: 1\nfield_differs: 1",
        "url": "http://127.0.0.1:8090/api/v1/reconciliations/1"}, "one site admin")
    recorder.record("notify_admins_empty_subject", "local_crmsync_notify_admins", {"subject": " ", "message": "x"}, "")

    admin = recorder.call("core_user_get_users_by_field", {"field": "id", "values": [2]})[0]
    me = recorder.call("core_webservice_get_site_info", {})
    roles = {r["shortname"]: r["id"] for r in json.loads(
        (Path(__file__).resolve().parents[3] / "moodle_sandbox" / "data" / "recorded.json").read_text())["role"]}
    described = site(messages, {"id": 2, "username": admin.get("username", "admin"),
                                "firstname": admin.get("firstname", "Admin"), "lastname": admin.get("lastname", "User"),
                                "email": admin.get("email", "admin@example.invalid")},
                     {"id": me["userid"], "username": me["username"], "firstname": me["firstname"],
                      "lastname": me["lastname"], "email": f"{me['username']}@example.invalid"}, roles)
    (folder / "site.json").write_text(json.dumps(described, indent=2, ensure_ascii=False) + "\n")
    (folder / "INDEX.tsv").write_text("file\tfunction\toutcome\tnote\n" + "".join(
        "\t".join(row) + "\n" for row in recorder.index))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
