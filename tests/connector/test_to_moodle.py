"""CRM → Moodle: a CRM user's edit reaches the learner's Moodle user; owners, newer-wins, no echo, no flicker.

Real parts throughout: the receiver over HTTP, worker processes, both sandboxes over HTTP, Redis, every engine.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from crm_connector.mapping import crm_text
from tests.conftest import fresh_moodle
from tests.connector.conftest import user
from tests.connector.crm_side import LEARNER, MOODLE_STATE_TIME, TwoWayPipeline, crm_fields, now
from tests.support import REPO

ADMIN_TOKEN = "t" * 32


@pytest.fixture
def moodle(moodle_process):
    fresh_moodle(moodle_process, "empty").release()
    moodle_process.seed(user=[{"id": LEARNER, "username": f"student{LEARNER}", "firstname": "Alice",
                               "lastname": "Anders", "email": f"student{LEARNER}@example.invalid",
                               "timemodified": MOODLE_STATE_TIME}],
                        user_info_field=[{"shortname": "jobtitle", "name": "Job title", "datatype": "text",
                                          "visible": 2}])
    requests.delete(f"{moodle_process.url}/__sandbox/calls", timeout=5)
    return moodle_process


@pytest.fixture
def two_way(sandbox, moodle, database_url, redis_url, tmp_path, monkeypatch):
    built = TwoWayPipeline(sandbox, moodle, database_url, redis_url, tmp_path, monkeypatch)
    yield built
    built.close()


def learner_synced(pipe: TwoWayPipeline, **changes) -> dict:
    """The learner as Moodle → CRM made them: their Contact, created from the Moodle state."""
    pipe.send(pipe.message("user.created", f"user:{LEARNER}", user(LEARNER, **changes)))
    pipe.drain()
    return pipe.contact()


def conflicts(pipe: TwoWayPipeline) -> list[dict]:
    response = requests.get(pipe.url.replace("/webhooks/moodle", "/api/v1/conflicts"),
                            headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["conflicts"]


@pytest.fixture(autouse=True)
def _admin_token(monkeypatch):
    monkeypatch.setenv("ADMIN_API_TOKENS", ADMIN_TOKEN)


def test_a_crm_edit_reaches_the_moodle_user_and_moodles_echo_costs_no_crm_write(two_way):
    learner_synced(two_way)
    # A "<" as the connector writes it to SuiteCRM (a word joiner after it): Moodle gets it plain.
    two_way.send_crm(two_way.crm_user_saves(
        {"first_name": "Ada", "last_name": crm_text("O'Neil < Lovelace & Co"), "email1": "ada@example.invalid",
         "phone_work": "+44 1", "phone_mobile": "+44 2", "department": "R&D", "primary_address_city": "Leeds",
         "primary_address_country": "GB"}, now()))
    two_way.drain()
    assert two_way.crm_event()[0] == "applied", two_way.crm_event()

    moodle_user = two_way.moodle_user()
    assert {k: moodle_user[k] for k in ("firstname", "lastname", "email", "phone1", "phone2", "department", "city",
                                        "country")} == {
        "firstname": "Ada", "lastname": "O'Neil < Lovelace & Co", "email": "ada@example.invalid", "phone1": "+44 1",
        "phone2": "+44 2", "department": "R&D", "city": "Leeds", "country": "GB"}
    assert two_way.moodle_updates() == 1

    crm_writes = two_way.writes("Contacts")
    two_way.send(two_way.echo())  # Moodle's user_updated for the sync's own write comes back
    two_way.drain()
    assert two_way.writes("Contacts") == crm_writes, "the echo of a CRM edit must cost no CRM write"
    assert two_way.moodle_updates() == 1
    assert {e.status for e in two_way.events()} == {"applied"}


def test_a_moodle_owned_field_edited_in_the_crm_is_superseded_and_the_crm_shows_moodles_again(two_way):
    learner_synced(two_way)
    two_way.send_crm(two_way.crm_user_saves({"moodle_username_c": "hacked", "first_name": "Ada"}, now()))
    two_way.drain()

    assert two_way.moodle_user()["username"] == f"student{LEARNER}"
    assert two_way.moodle_user()["firstname"] == "Ada"  # the shared field of the same save went through
    assert two_way.contact()["moodle_username_c"] == f"student{LEARNER}"  # the CRM shows Moodle's value again
    [conflict] = conflicts(two_way)
    assert {k: conflict[k] for k in ("crm_field", "moodle_field", "owner", "loser", "moodle_user_id")} == {
        "crm_field": "moodle_username_c", "moodle_field": "username", "owner": "moodle", "loser": "crm",
        "moodle_user_id": LEARNER}
    assert "hacked" not in str(conflict)  # field names and times, never the values
    assert "superseded: moodle_username_c" in two_way.crm_event()[2]


def test_an_older_moodle_state_arriving_after_a_crm_edit_never_overwrites_it(two_way):
    """A user.updated built before the CRM edit (its timemodified older) and delivered after it."""
    learner_synced(two_way)
    edit_time = MOODLE_STATE_TIME + 100
    two_way.send_crm(two_way.crm_user_saves({"first_name": "Crm-Bob"}, edit_time))
    two_way.drain()
    crm_writes = two_way.writes("Contacts")

    stale = user(LEARNER, "Moodle-Alicia", timemodified=MOODLE_STATE_TIME + 50)
    two_way.send(two_way.message("user.updated", f"user:{LEARNER}", stale))
    two_way.drain()

    assert two_way.contact()["first_name"] == "Crm-Bob"
    assert two_way.moodle_user()["firstname"] == "Crm-Bob"
    assert two_way.writes("Contacts") == crm_writes
    [conflict] = conflicts(two_way)
    assert (conflict["crm_field"], conflict["loser"], conflict["lost_at"], conflict["won_at"]) == (
        "first_name", "moodle", MOODLE_STATE_TIME + 50, edit_time)


def test_an_older_crm_edit_arriving_after_a_newer_moodle_change_never_overwrites_it(two_way):
    learner_synced(two_way)
    newer = user(LEARNER, "Moodle-Carol", timemodified=MOODLE_STATE_TIME + 200)
    two_way.send(two_way.message("user.updated", f"user:{LEARNER}", newer))
    two_way.drain()
    # The CRM user saved before Moodle's change was recorded (its Contact form was open, Moodle → CRM
    # writes only what Moodle changed); the CRM's outbox delivers it late.
    two_way.send_crm(two_way.crm_user_saves({"first_name": "Crm-Old"}, MOODLE_STATE_TIME + 100))
    two_way.drain()

    assert two_way.moodle_user()["firstname"] != "Crm-Old"
    assert two_way.moodle_updates() == 0
    assert two_way.contact()["first_name"] == "Moodle-Carol"  # the CRM is given the winner back
    [conflict] = conflicts(two_way)
    assert (conflict["crm_field"], conflict["loser"], conflict["reason"]) == ("first_name", "crm",
                                                                             "Moodle changed it later")


def test_concurrent_edits_on_both_sides_end_equal_with_the_newer_one(two_way, moodle):
    """The CRM edit is on its way to Moodle (held inside Moodle) while an older Moodle change of the same field
    reaches the CRM: when both have landed, both systems show the CRM's (newer) edit."""
    learner_synced(two_way)
    moodle.hold("core_user_update_users")
    two_way.send_crm(two_way.crm_user_saves({"first_name": "Crm-Bob"}, MOODLE_STATE_TIME + 100))
    first = subprocess.Popen([sys.executable, "-m", "crmsync", "worker", "--burst"], env=two_way.env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env=two_way.env, cwd=REPO, check=True,
                       capture_output=True)
        moodle.wait_until_held(1)
        older = user(LEARNER, "Moodle-Alicia", timemodified=MOODLE_STATE_TIME + 50)
        two_way.send(two_way.message("user.updated", f"user:{LEARNER}", older))
        second = subprocess.run([sys.executable, "-m", "crmsync", "worker", "--burst"], env=two_way.env, cwd=REPO,
                                capture_output=True, text=True)
        assert second.returncode == 0, second.stderr[-2000:]
    finally:
        moodle.release()
        first.wait(timeout=120)
    two_way.drain()

    assert two_way.moodle_user()["firstname"] == "Crm-Bob"
    assert two_way.contact()["first_name"] == "Crm-Bob"
    assert {e.status for e in two_way.events()} == {"applied"}


def test_a_crm_owned_field_is_written_to_moodle_and_never_back(two_way, tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("contact:\n  first_name: {moodle: firstname, owner: shared}\n  last_name: lastname\n"
                       "  email1: email\n  moodle_username_c: username\n"
                       "  title: {moodle: profile.jobtitle, owner: crm}\n")
    two_way.env["FIELD_MAPPING_FILE"] = str(mapping)
    contact = learner_synced(two_way, profile={"jobtitle": "Intern"})
    assert contact["title"] == "Intern"  # Moodle's value on the Contact's creation
    message = two_way.crm_user_saves({"title": "Head of Sales"}, now())
    message["data"]["fields"] = {name: message["data"]["fields"].get(name, contact.get(name, ""))
                                 for name in ("first_name", "last_name", "email1", "moodle_username_c")} | {
        "title": "Head of Sales"}
    two_way.send_crm(message)
    two_way.drain()
    assert two_way.moodle_user()["customfields"]["jobtitle"] == "Head of Sales"

    crm_writes = two_way.writes("Contacts")
    two_way.send(two_way.message("user.updated", f"user:{LEARNER}",
                                 user(LEARNER, profile={"jobtitle": "Moodle's own title"}, timemodified=now() + 60)))
    two_way.drain()
    assert two_way.contact()["title"] == "Head of Sales"  # the CRM's value stays
    assert two_way.writes("Contacts") == crm_writes
    assert [(c["crm_field"], c["loser"]) for c in conflicts(two_way)] == [("title", "moodle")]


@pytest.mark.parametrize("moodle_link", [None, {"site_id": "another-site", "user_id": LEARNER}])
def test_a_contact_of_no_moodle_user_or_of_another_moodle_is_skipped_with_the_reason(two_way, moodle_link):
    contact = learner_synced(two_way)
    message = two_way.crm_message(1, crm_fields(contact, first_name="Ada"), ["first_name"], now())
    message["data"]["moodle"] = moodle_link
    two_way.send_crm(message)
    two_way.drain()
    status, _error, detail = two_way.crm_event()
    assert status == "skipped"
    assert ("linked to no Moodle user" if moodle_link is None else "Moodle site another-site") in detail
    assert two_way.moodle_updates() == 0


def test_a_deleted_contact_never_deletes_the_moodle_user(two_way):
    contact = learner_synced(two_way)
    two_way.send_crm(two_way.crm_message(1, crm_fields(contact), ["deleted"], now(), message_type="contact.deleted"))
    two_way.drain()
    status, _error, detail = two_way.crm_event("contact.deleted")
    assert status == "skipped" and "a Moodle admin's act" in detail
    assert two_way.moodle_user()["deleted"] == 0


def test_moodles_warning_is_a_dead_letter_in_words_an_operator_understands_and_replayable(two_way, moodle):
    learner_synced(two_way)
    moodle.seed(user=[{"id": 51, "username": "other", "firstname": "O", "lastname": "T",
                       "email": "taken@example.invalid"}])
    message = two_way.crm_user_saves({"email1": "taken@example.invalid"}, now())
    two_way.send_crm(message)
    two_way.drain()
    status, error, _detail = two_way.crm_event()
    assert status == "failed"
    assert error.startswith(f"Moodle refused the e-mail address of user {LEARNER}: another Moodle user "
                                       "has it (Moodle: useremailduplicate")
    assert "taken@example.invalid" not in error

    requests.post(f"{moodle.url}/__sandbox/reset", json={"site": "empty"}, timeout=5)
    moodle.seed(user=[{"id": LEARNER, "username": f"student{LEARNER}", "firstname": "Alice", "lastname": "Anders",
                       "email": f"student{LEARNER}@example.invalid", "timemodified": MOODLE_STATE_TIME}])
    response = requests.post(two_way.url.replace("/webhooks/moodle", "/api/v1/events/replay"),
                             json={"ids": [message["id"]]}, headers={"Authorization": "Bearer " + "t" * 32},
                             timeout=10)
    assert response.json() == {"replayed": 1}
    two_way.drain()
    assert two_way.moodle_user()["email"] == "taken@example.invalid"


def test_a_value_moodle_refuses_is_a_dead_letter_naming_the_field_without_the_value(two_way):
    learner_synced(two_way)
    two_way.send_crm(two_way.crm_user_saves({"last_name": "Smith <b>Jones</b>", "primary_address_country": ""},
                                            now()))
    two_way.drain()
    status, error, _detail = two_way.crm_event()
    assert status == "failed"
    assert "lastname" in error and "notags" in error and "Jones" not in error
    assert two_way.moodle_user()["lastname"] == "Anders"
