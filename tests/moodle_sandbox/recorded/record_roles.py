"""Record core_role_assign_roles / core_role_unassign_roles into roles/ from a real Moodle 4.3 (not run by pytest).

    MOODLE_URL=http://127.0.0.1:PORT MOODLE_TOKEN=… python tests/moodle_sandbox/recorded/record_roles.py \
        tests/moodle_sandbox/recorded/roles

The Moodle is set up as docs/moodle-admin-guide.md says: the CRM sync service with both functions, its user
holding the guide's role at system level, which may assign Student, Non-editing teacher and Teacher only.
LEARNER is enrolled in COURSE as a student (the shared real site's seed: learner2 in C1). The recording gives
that learner the non-editing teacher role and reads the course's roles (core_enrol_get_enrolled_users with
userfields id,roles, what the connector reads), repeats it, is refused a role the service may not assign, an
unknown user and an unknown course; then takes the role away again, reads the roles, takes it away once more
(a role the learner does not hold) and the same refusals. The site is left as it was found: the learner
holds student only. The token is replaced by `<ws-token>`.

site.json is what the replay sets the sandbox up as: the course, its manual enrolment, the enrolled users
and their roles as the first read shows them (minus the role this recording gave), and the service's user
with the guide's role (the roles it may assign are the guide's; web services cannot read them).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from record_reconcile import Recorder

LEARNER, COURSE, TEACHER, MANAGER, UNKNOWN = 5, 2, 4, 1, 999999
SERVICE_ROLE = {"id": 9, "shortname": "crmsyncws", "name": "CRM sync web service", "sortorder": 9,
                "contextlevels": ["system"], "allowassign": [3, 4, 5]}  # the guide's step 1
ROLES_READ = {"courseid": COURSE, "options": [{"name": "userfields", "value": "id,roles"}]}


def assignment(role: int = TEACHER, user: int = LEARNER, course: int = COURSE) -> dict:
    return {"roleid": role, "userid": user, "contextlevel": "course", "instanceid": course}


def main(folder: Path) -> None:
    recorder = Recorder(os.environ["MOODLE_URL"], os.environ["MOODLE_TOKEN"], folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("[0-9][0-9]_*.json"):
        old.unlink()
    before = recorder.call("core_enrol_get_enrolled_users", ROLES_READ)
    held = {r["roleid"] for u in before if u["id"] == LEARNER for r in u["roles"]}
    if held != {5}:
        raise SystemExit(f"user {LEARNER} should hold student (5) only in course {COURSE}, holds {sorted(held)}")

    for verb in ("assign", "unassign"):
        function = f"core_role_{verb}_roles"
        key = f"{verb}ments"  # assign_roles takes assignments, unassign_roles unassignments
        recorder.record(f"{verb}_roles", function, {key: [assignment()]},
                        f"{verb}s learner2 the non-editing teacher role in C1")
        recorder.record(f"enrolled_users_roles_after_{verb}", "core_enrol_get_enrolled_users", ROLES_READ,
                        "userfields id,roles: " + ("student and teacher" if verb == "assign" else "student only"))
        recorder.record(f"{verb}_roles_again", function, {key: [assignment()]},
                        "a repeat" if verb == "assign" else "a role the user does not hold")
        recorder.record(f"{verb}_roles_not_assignable", function, {key: [assignment(role=MANAGER)]},
                        "manager: not among the roles the service's role may assign")
        recorder.record(f"{verb}_roles_unknown_user", function, {key: [assignment(user=UNKNOWN)]}, "")
        recorder.record(f"{verb}_roles_unknown_course", function, {key: [assignment(course=UNKNOWN)]},
                        "")

    after = recorder.call("core_enrol_get_enrolled_users", ROLES_READ)
    if after != before:
        raise SystemExit(f"the site is not as it was found: {after} != {before}")
    me = recorder.call("core_webservice_get_site_info", {})
    users = recorder.call("core_user_get_users_by_field", {"field": "id", "values": [u["id"] for u in before]})
    course = recorder.call("core_course_get_courses_by_field", {"field": "id", "value": COURSE})["courses"][0]
    described = {"tables": {
        "role": [SERVICE_ROLE],
        "user": [{"id": me["userid"], "username": me["username"], "firstname": me["firstname"],
                  "lastname": me["lastname"], "email": f"{me['username']}@example.invalid"}]
                # the service's user sees others' full names only: first word first name, the rest last name
                + [{k: u[k] for k in ("id", "username", "email")}
                   | dict(zip(("firstname", "lastname"), u["fullname"].split(" ", 1), strict=True))
                   for u in users],
        "course": [{k: course[k] for k in ("id", "shortname", "fullname")}],
        "enrol": [{"id": 1, "courseid": COURSE, "enrol": "manual"}],
        "user_enrolments": [{"enrolid": 1, "userid": u["id"]} for u in before],
        "role_assignments": [{"roleid": SERVICE_ROLE["id"], "courseid": 0, "userid": me["userid"]}]
                            + [{"roleid": r["roleid"], "courseid": COURSE, "userid": u["id"]}
                               for u in before for r in u["roles"]]}}
    (folder / "site.json").write_text(json.dumps(described, indent=2, ensure_ascii=False) + "\n")
    (folder / "INDEX.tsv").write_text("file\tfunction\toutcome\tnote\n" + "".join(
        "\t".join(row) + "\n" for row in recorder.index))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
