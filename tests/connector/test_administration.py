"""CRM → Moodle administration: a CRM user's enrolment and group records carried out in Moodle.

Real parts throughout: the receiver's /webhooks/crm over HTTP, worker processes, the SuiteCRM and Moodle
sandboxes over HTTP, Redis and the database. The CRM's messages are made as the package's outbox makes them
(crmsync/contract/schemas/crm/defs/record.json) for records made through the V8 API.
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime

import pytest
import requests

from crm_connector import crm_schema
from crm_connector.suitecrm import SuiteCrmClient
from tests.conftest import fresh_moodle
from tests.connector.crm_side import CRM, TwoWayPipeline, now
from tests.connector.test_course_content import course_state

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the CI budget
COURSE = 2  # the recorded Moodle site's CRM101, with a manual enrolment and groups A (id 1) and B (id 2)
START, END = "2026-12-07 09:00:00", "2027-03-26 17:00:00"
START_EPOCH, END_EPOCH = 1796634000, 1806080400
SCHEMA = crm_schema.load()
CONTACT_LINK = SCHEMA.relationship("Contacts", "mdl_Enrolments").relate_id_field
COURSE_LINK = SCHEMA.relationship("mdl_Courses", "mdl_Enrolments").relate_id_field
GROUP_COURSE_LINK = SCHEMA.relationship("mdl_Courses", "mdl_Groups").relate_id_field


@pytest.fixture
def moodle(moodle_process):
    return fresh_moodle(moodle_process, "recorded")


class Admin(TwoWayPipeline):
    """The pipeline, with a CRM user's records and the messages the CRM's outbox sends for them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, MOODLE_SITE_ID="test-site", **kwargs)
        self.crm = SuiteCrmClient(self.sandbox.url, self.sandbox.client_id, self.sandbox.client_secret, timeout=10)
        self.crm_sequence = 0

    def course_synced(self) -> str:
        """CRM101 as Moodle → CRM made it: its course record."""
        self.send(self.message("course.created", f"course:{COURSE}", course_state()))
        self.drain()
        return next(c["id"] for c in self.sandbox.records("mdl_Courses") if c["moodle_course_id"] in (COURSE, "2"))

    def person(self, first="Nora", last="Newcomer", email="Nora.Newcomer@example.invalid") -> str:
        return self.crm.create("Contacts", {"first_name": first, "last_name": last, "email1": email})["id"]

    def enrolment_record(self, contact: str, course: str, **fields) -> str:
        values = {"name": "Nora in CRM101", "role": "student", "status": "active", "time_start": START,
                  "time_end": END, "groups_list": "Group B", **fields}
        return self.crm.create("mdl_Enrolments", {**values, CONTACT_LINK: contact, COURSE_LINK: course})["id"]

    def record_message(self, kind: str, record_id: str, fields: dict, related: dict, changed: list[str],
                       deleted: bool = False) -> dict:
        self.crm_sequence += 1
        return {"id": str(uuid.uuid4()), "type": f"{kind}.{'deleted' if deleted else 'updated'}",
                "occurred_at": "2026-12-01T10:00:00Z", "sequence": self.crm_sequence, "subject": f"{kind}:{record_id}",
                "crm": CRM, "data": {"id": record_id, "changed": changed, "fields": fields, "related": related,
                                     "date_modified": now(), "deleted": deleted}}

    def saved(self, record_id: str, changes: dict | None = None, deleted: bool = False) -> dict:
        """A CRM user's save (or deletion) of an enrolment record and its enrolment.* message."""
        if changes:
            self.crm.update("mdl_Enrolments", record_id, changes)
        record = self.enrolment(record_id)
        if deleted:
            self.crm.delete("mdl_Enrolments", record_id)
        fields = {name: as_stored(record.get(name)) for name in ("role", "status", "time_start", "time_end",
                                                                  "groups_list")}
        related = {"contact": record[CONTACT_LINK] or None, "course": record[COURSE_LINK] or None, "intake": None}
        return self.record_message("enrolment", record_id, fields, related, sorted(changes or fields), deleted)

    def enrolment(self, record_id: str) -> dict:
        """The record as a CRM user sees it (SuiteCRM keeps text HTML-encoded)."""
        return next(shown(r) for r in self.sandbox.records("mdl_Enrolments") if r["id"] == record_id)

    def moodle_state(self, user_id: int) -> dict:
        """What Moodle holds of the learner in CRM101: enrolment, roles, groups."""
        [enrolment] = [e for e in self.moodle.records("user_enrolments") if e["userid"] == user_id] or [None]
        return {"enrolment": enrolment and {k: enrolment[k] for k in ("status", "timestart", "timeend")},
                "roles": sorted(r["roleid"] for r in self.moodle.records("role_assignments")
                                if r["userid"] == user_id and r["courseid"] == COURSE),
                "groups": sorted(m["groupid"] for m in self.moodle.records("groups_members") if m["userid"] == user_id)}

    def moodle_calls(self, function: str) -> int:
        return sum(1 for c in self.moodle.calls() if c.get("function") == function)

    def event_of(self, message: dict):
        return next(e for e in self.events() if e.id == message["id"])


@pytest.fixture
def admin(sandbox, moodle, database_url, redis_url, tmp_path, monkeypatch):
    built = Admin(sandbox, moodle, database_url, redis_url, tmp_path, monkeypatch)
    yield built
    built.close()


def shown(record: dict) -> dict:
    return {name: html.unescape(value) if isinstance(value, str) else value for name, value in record.items()}


def as_stored(value) -> str:
    """A value as the package's outbox sends it: plain text, datetimes as SuiteCRM stores them (the V8 API
    shows them in ISO 8601)."""
    text = str(value or "")
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text):
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    return text


def enrolled(admin: Admin, **fields) -> tuple[str, str, int]:
    """Nora, with no Moodle account, enrolled from her new enrolment record: (record id, Contact id, user id)."""
    course = admin.course_synced()
    contact = admin.person()
    record = admin.enrolment_record(contact, course, **fields)
    message = admin.saved(record)
    admin.send_crm(message)
    admin.drain()
    event = admin.event_of(message)
    assert event.status in ("applied", "failed"), (event.status, event.last_error)
    user_id = int(admin.crm.get("Contacts", contact)["moodle_user_id_c"] or 0)
    return record, contact, user_id


def test_a_person_without_a_moodle_account_is_given_one_and_enrolled_and_moodles_echo_costs_nothing(admin):
    record, contact, user_id = enrolled(admin)

    [account] = [u for u in admin.moodle.records("user") if u["id"] == user_id]
    assert (account["username"], account["email"], account["auth"]) == (
        "nora.newcomer@example.invalid", "Nora.Newcomer@example.invalid", "manual")
    identity = admin.crm.get("Contacts", contact)
    assert (identity["moodle_site_id_c"], identity["moodle_username_c"]) == ("test-site",
                                                                           "nora.newcomer@example.invalid")
    assert admin.moodle_state(user_id) == {"enrolment": {"status": 0, "timestart": START_EPOCH,
                                                         "timeend": END_EPOCH}, "roles": [5], "groups": [2]}
    shown = admin.enrolment(record)
    assert (shown["sync_state"], shown["sync_message"], str(shown["moodle_user_id"])) == ("done", "", str(user_id))
    assert shown["sync_time"] and shown["name"] == "Nora in CRM101"  # the name the CRM user gave stays

    # The CRM user saves it again unchanged: Moodle stays as it is, no second account.
    before = admin.moodle_state(user_id)
    admin.send_crm(admin.saved(record))
    admin.drain()
    assert admin.moodle_state(user_id) == before
    assert admin.moodle_calls("core_user_create_users") == 1

    # Moodle's enrolment.created for it (as the plugin sends it) updates this record with no CRM write.
    writes = admin.writes("mdl_Enrolments")
    admin.send(admin.message("enrolment.created", f"enrolment:{user_id}:{COURSE}", {
        "userid": user_id, "courseid": COURSE, "course": {"id": COURSE, "shortname": "CRM101",
                                                          "fullname": "CRM Sync Test Course", "idnumber": "CRM-101"},
        "status": "suspended",  # not current yet: its start is in the future
        "enrolments": [{"id": 9, "enrolid": 1, "method": "manual", "status": "active", "timestart": START_EPOCH,
                        "timeend": END_EPOCH}], "roles": ["student"], "groups": [{"id": 2, "name": "Group B"}]}))
    admin.drain()
    assert admin.writes("mdl_Enrolments") == writes, "Moodle's echo of the CRM's enrolment must cost no CRM write"
    assert [r["id"] for r in admin.sandbox.records("mdl_Enrolments")] == [record]
    assert {e.status for e in admin.events()} == {"applied"}
    assert admin.enrolment(record)["name"] == "Nora in CRM101"


@SQLITE_ONLY
def test_suspending_moving_dates_and_groups_then_deleting_the_record_unenrols(admin):
    record, _contact, user_id = enrolled(admin)
    admin.send_crm(admin.saved(record, {"status": "suspended", "time_end": "2027-06-30 17:00:00",
                                        "groups_list": "Group A"}))
    admin.drain()
    assert admin.moodle_state(user_id) == {"enrolment": {"status": 1, "timestart": START_EPOCH,
                                                         "timeend": 1814374800}, "roles": [5], "groups": [1]}
    assert admin.enrolment(record)["sync_state"] == "done"

    admin.send_crm(admin.saved(record, deleted=True))
    admin.drain()
    assert admin.moodle_state(user_id)["enrolment"] is None
    assert {e.status for e in admin.events()} == {"applied"}


@SQLITE_ONLY
def test_a_record_given_another_person_enrols_them_and_ends_the_enrolment_it_stood_for(admin):
    record, _nora, nora = enrolled(admin)
    alice = admin.person("Alice", "Anders", "alice.anders@example.invalid")  # Moodle user 3, by her e-mail
    admin.send_crm(admin.saved(record, {CONTACT_LINK: alice}))  # the CRM user corrects who it is for
    admin.drain()
    assert admin.moodle_state(nora)["enrolment"] is None, "the person the record named before is unenrolled"
    assert admin.moodle_state(3)["enrolment"] is not None and admin.enrolment(record)["sync_state"] == "done"
    # Moodle's deletion of Nora's enrolment then changes nothing of the record, which is Alice's now.
    admin.send(admin.message("enrolment.deleted", f"enrolment:{nora}:{COURSE}", {
        "userid": nora, "courseid": COURSE, "status": "deleted", "enrolments": [], "roles": [], "groups": []}))
    admin.drain()
    assert str(admin.enrolment(record)["moodle_user_id"]) == "3"
    assert [r["id"] for r in admin.sandbox.records("mdl_Enrolments")] == [record]


@SQLITE_ONLY
def test_a_student_made_a_tutor_holds_the_tutor_role_only_and_a_repeat_makes_no_role_write(admin):
    record, _contact, user_id = enrolled(admin)
    # A Moodle administrator made her a manager in the course too: not a role the CRM manages (ROLE_IDS).
    admin.moodle.seed(role_assignments=[{"roleid": 1, "courseid": COURSE, "userid": user_id}])

    admin.send_crm(admin.saved(record, {"role": "teacher"}))
    admin.drain()
    assert admin.moodle_state(user_id)["roles"] == [1, 4], "student taken away, teacher given, manager kept"
    shown = admin.enrolment(record)
    assert (shown["sync_state"], shown["sync_message"], shown["role"]) == ("done", "", "teacher")

    role_writes = admin.moodle_calls("core_role_unassign_roles") + admin.moodle_calls("core_role_assign_roles")
    admin.send_crm(admin.saved(record, {"role": "teacher"}))
    admin.drain()
    assert admin.moodle_state(user_id)["roles"] == [1, 4]
    assert admin.moodle_calls("core_role_unassign_roles") + admin.moodle_calls("core_role_assign_roles") \
        == role_writes, "the same role again is no role write in Moodle"
    assert {e.status for e in admin.events()} == {"applied"}


@SQLITE_ONLY
def test_an_older_save_delivered_after_a_newer_one_and_a_duplicate_change_nothing(admin):
    record, _contact, user_id = enrolled(admin)
    older = admin.saved(record, {"status": "active"})
    newer = admin.saved(record, {"status": "suspended"})
    admin.send_crm(newer)
    admin.send_crm(older, newer)  # the outbox delivers the older one late, and the newer one twice
    admin.drain()
    assert admin.moodle_state(user_id)["enrolment"]["status"] == 1
    assert admin.event_of(older).status == "skipped"


@SQLITE_ONLY
@pytest.mark.parametrize(("fields", "reason"), [
    ({"groups_list": "Group B\nGroup Z"}, "CRM Sync Test Course has no group 'Group Z'"),
    ({"time_end": "2026-12-01 09:00:00"}, "The enrolment ends (2026-12-01 09:00:00 UTC) before it starts"),
    ({"role": "manager"}, "Role 'manager' has no Moodle role id"),
])
def test_a_record_moodle_cannot_carry_out_fails_with_its_reason_and_nothing_in_moodle(admin, fields, reason):
    record, contact, _user = enrolled(admin, **fields)
    shown = admin.enrolment(record)
    assert shown["sync_state"] == "failed"
    assert shown["sync_message"].startswith(reason)
    [event] = [e for e in admin.events() if e.type == "enrolment.updated"]
    assert event.status == "failed" and event.attempts == 1 and event.last_error.startswith(reason)
    assert admin.moodle_calls("core_user_create_users") == admin.moodle_calls("enrol_manual_enrol_users") == 0
    assert not admin.crm.get("Contacts", contact)["moodle_user_id_c"]


@SQLITE_ONLY
def test_moodles_refusal_is_on_the_record_and_a_dead_letter_with_moodles_answer_replayed_once_fixed(
        admin, monkeypatch):
    monkeypatch.setenv("ADMIN_API_TOKENS", "t" * 32)
    monkeypatch.setenv("ROLE_IDS", "student=7")  # the authenticated-user role: not assignable in a course
    admin = Admin(admin.sandbox, admin.moodle, admin.database_url, admin.redis_url, admin.tmp_path, monkeypatch)
    try:
        course = admin.course_synced()
        alice = admin.person("Alice", "Anders", "alice.anders@example.invalid")  # Moodle's student1 (user 3)
        record = admin.enrolment_record(alice, course)
        message = admin.saved(record)
        admin.send_crm(message)
        admin.drain()
        shown = admin.enrolment(record)
        assert shown["sync_state"] == "failed"
        assert shown["sync_message"].startswith("Moodle does not let the sync give the role 'student' (role id 7)")
        event = admin.event_of(message)
        assert event.status == "failed" and "wsusercannotassign" not in event.last_error
        assert "You don't have the permission to assign this role (7)" in event.last_error
        assert admin.crm.get("Contacts", alice)["moodle_user_id_c"] == "3"  # linked by her e-mail, no new account
        assert admin.moodle_calls("core_user_create_users") == 0

        admin.env["ROLE_IDS"] = "student=5"  # the administrator corrects it and replays the dead letter
        response = requests.post(admin.url.replace("/webhooks/moodle", "/api/v1/events/replay"),
                                 json={"ids": [message["id"]]}, headers={"Authorization": "Bearer " + "t" * 32},
                                 timeout=10)
        assert response.json() == {"replayed": 1}
        admin.drain()
        assert admin.event_of(message).status == "applied"
        assert admin.moodle_state(3)["enrolment"] == {"status": 0, "timestart": START_EPOCH, "timeend": END_EPOCH}
        assert (admin.enrolment(record)["sync_state"], admin.enrolment(record)["sync_message"]) == ("done", "")
    finally:
        admin.close()


@SQLITE_ONLY
def test_a_group_record_is_created_in_its_course_and_a_taken_name_fails_with_the_reason(admin):
    course = admin.course_synced()
    made = admin.crm.create("mdl_Groups", {"name": "Group C", "idnumber": "GC", GROUP_COURSE_LINK: course})["id"]
    taken = admin.crm.create("mdl_Groups", {"name": "Group A", GROUP_COURSE_LINK: course})["id"]
    for record, name, idnumber in ((made, "Group C", "GC"), (taken, "Group A", "")):
        admin.send_crm(admin.record_message("group", record, {"name": name, "idnumber": idnumber, "description": ""},
                                            {"course": course}, ["name", "course"]))
    admin.drain()
    [group] = [g for g in admin.moodle.records("groups") if g["name"] == "Group C"]
    assert (group["courseid"], group["idnumber"]) == (COURSE, "GC")
    shown_records = {r["id"]: shown(r) for r in admin.sandbox.records("mdl_Groups")}
    assert (shown_records[made]["sync_state"], str(shown_records[made]["moodle_group_id"])) == ("done",
                                                                                              str(group["id"]))
    assert shown_records[taken]["sync_state"] == "failed"
    assert shown_records[taken]["sync_message"].startswith("CRM Sync Test Course has a group named 'Group A' already")
    assert len([g for g in admin.moodle.records("groups") if g["name"] == "Group A"]) == 1


@SQLITE_ONLY
def test_an_intake_enrols_its_target_lists_people_then_moves_them_each_record_showing_its_result(admin):
    admin.course_synced()
    people = [admin.person(), admin.person("Alice", "Anders", "alice.anders@example.invalid"),
              admin.person("Nemo", "Nomail", "")]
    target_list = admin.crm.create("ProspectLists", {"name": "December intake"})["id"]
    for contact in people:
        admin.crm.request("POST", f"module/ProspectLists/{target_list}/relationships/contacts",
                          body={"data": {"type": "Contacts", "id": contact}})
    fields = {"action": "enrol", "courses": "CRM101", "groups_list": "Group A", "move_from": "", "role": "student",
              "time_start": START, "time_end": END}
    intake = admin.crm.create("mdl_Intakes", {"name": "December", **fields})["id"]
    admin.send_crm(admin.record_message("intake", intake, fields, {"prospect_list": target_list},
                                        [*fields, "prospect_list"]))
    admin.drain()

    users = {c: int(admin.crm.get("Contacts", c)["moodle_user_id_c"] or 0) for c in people}
    assert users[people[1]] == 3  # Alice's own Moodle account, found by her e-mail
    for contact in people[:2]:
        assert admin.moodle_state(users[contact])["groups"] == [1]
    result = admin.crm.get("mdl_Intakes", intake)
    assert (result["people"], result["done_count"], result["failed_count"], result["sync_state"]) == (
        "3", "2", "1", "failed")
    records = {r[CONTACT_LINK]: shown(r) for r in admin.sandbox.records("mdl_Enrolments")}
    assert records[people[2]]["sync_state"] == "failed"
    assert records[people[2]]["sync_message"].startswith("Nemo Nomail has no valid e-mail address")
    assert {records[c]["sync_state"] for c in people[:2]} == {"done"}

    move = {**fields, "action": "move", "groups_list": "Group B", "move_from": "Group A"}
    admin.crm.request("DELETE", f"module/ProspectLists/{target_list}/relationships/contacts/{people[2]}")
    admin.send_crm(admin.record_message("intake", intake, move, {"prospect_list": target_list}, ["action"]))
    admin.drain()
    for contact in people[:2]:
        assert admin.moodle_state(users[contact])["groups"] == [2]
    result = admin.crm.get("mdl_Intakes", intake)
    assert (result["people"], result["done_count"], result["failed_count"], result["sync_state"]) == (
        "2", "2", "0", "done")
    assert len(admin.sandbox.records("mdl_Enrolments")) == 3  # the same records, moved
