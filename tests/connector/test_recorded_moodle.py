"""The real Moodle 4.3 event dumps, turned into messages by the plugin's PHP builder, end up in SuiteCRM."""

from __future__ import annotations

import json
import subprocess

from tests.support import FIXTURES, REPO


def recorded_messages() -> list[dict]:
    result = subprocess.run(["php", "tests/php/tools/build_fixture_messages.php", str(FIXTURES)],
                            capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(result.stdout)


def test_recorded_site_lands_in_the_crm(pipeline, sandbox):
    messages = recorded_messages()
    for start in range(0, len(messages), 50):
        pipeline.send(*messages[start:start + 50])
    pipeline.drain(timeout=180, env={"MARKETING_CONSENT_POLICY": "Marketing communications consent"})

    events = pipeline.events()
    assert {e.status for e in events} <= {"applied", "skipped"}, [(e.type, e.subject, e.status, e.last_error,
                                                                    e.waiting_for) for e in events
                                                                   if e.status in ("failed", "waiting")]
    contacts = {r["moodle_user_id_c"]: r for r in sandbox.records("Contacts")}
    assert contacts["3"]["first_name"] == "Alice" and contacts["4"]["last_name"] == "Brown"
    # student3 was created and deleted in the recording before anything was delivered: the messages,
    # built at sending time, only say they are gone, and the CRM never held them, so it gets no Contact.
    assert "5" not in contacts
    enrolments = {r["moodle_user_id"]: r for r in sandbox.records("mdl_Enrolments")}
    assert enrolments["3"]["course_name"] == "CRM Sync Test Course"
    assert enrolments["4"]["status"] == "active"  # student2 was unenrolled, then enrolled again
    assert enrolments["6"]["status"] == "unenrolled"
    statuses = {(r["moodle_user_id"], r["status_acronym"]) for r in sandbox.records("mdl_Attendance")}
    assert len(statuses) >= 2
    # student1 accepted, then withdrew the marketing consent; student2 declined it.
    assert (contacts["3"]["moodle_consent_c"], contacts["4"]["moodle_consent_c"]) == ("withdrawn", "declined")
    assert len(sandbox.records("mdl_Consents")) == 5  # one per learner and policy version


def test_deletion_policy_anonymise(pipeline, sandbox):
    from tests.connector.conftest import user

    pipeline.send(pipeline.message("user.created", "user:9", user(9, "Eve")))
    pipeline.drain()
    pipeline.send(pipeline.message("user.deleted", "user:9", {"id": 9, "username": "student9",
                                                              "email": "student9@example.invalid", "deleted": True}))
    pipeline.drain(env={"USER_DELETION_POLICY": "anonymise"})
    contact = next(r for r in sandbox.records("Contacts") if r["moodle_user_id_c"] == "9")
    assert (contact["first_name"], contact["last_name"], contact["moodle_status_c"]) == ("Deleted", "learner", "deleted")
    assert contact["moodle_username_c"] == ""
    # email1 is not among them: SuiteCRM 7.14.6 ignores email1 in a PATCH (docs/crm-mapping.md, known limits).


def test_deletion_policy_delete(pipeline, sandbox):
    from tests.connector.conftest import user

    pipeline.send(pipeline.message("user.created", "user:10", user(10, "Dan")))
    pipeline.drain()
    pipeline.send(pipeline.message("user.deleted", "user:10", {"id": 10, "deleted": True}))
    pipeline.drain(env={"USER_DELETION_POLICY": "delete"})
    assert all(r["moodle_user_id_c"] != "10" for r in sandbox.records("Contacts"))
