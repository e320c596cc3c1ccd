"""Hostile or broken input gets a 4xx that says what is wrong, on every database engine, never a 5xx."""

from __future__ import annotations

import json

import pytest

from tests.receiver.conftest import message
from tests.receiver.test_ingest import stored


@pytest.mark.parametrize("occurred_at", [
    "2026-02-30T00:00:00Z",  # no such day
    "2026-01-01T99:99:99Z",  # no such time
    "0000-01-01T00:00:00Z",  # no year 0
    "0001-01-01T00:00:00Z",  # before 1970: MariaDB's DATETIME cannot store it either
    "2016-12-31T23:59:60Z",  # a leap second Python's datetime cannot hold
    "2026-01-01T00:00:00Z\n",  # a trailing newline slips past a Python `$`
])
def test_impossible_occurred_at_is_422_naming_the_field(receiver, database_url, occurred_at):
    response = receiver.post(message(occurred_at=occurred_at))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.json["errors"]) == ["occurred_at"]
    assert stored(database_url) == {}


def test_impossible_occurred_at_in_a_batch_names_the_event(receiver):
    response = receiver.post({"events": [message(1), message(2, occurred_at="2026-02-30T00:00:00Z")]},
                             webhook_id="batch")
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["events.1.occurred_at"]


def user_message(**data) -> dict:
    state = {"id": 3, "username": "s", "email": "s@example.org", "firstname": "A", "lastname": "B",
             "suspended": False, "deleted": False, "timemodified": 1795344000, **data}
    return message(type="user.updated", subject="user:3", data=state)


@pytest.mark.parametrize("changes, field", [
    ({"site": {"id": "site\x00one", "url": "http://m.test"}}, "site.id"),
    ({"site": {"id": "site-1\n", "url": "http://m.test"}}, "site.id"),
    ({"site": {"id": "site-1", "url": "http://m.test/\x1b[2J"}}, "site.url"),
    ({"subject": "course_access:3:2\n"}, "subject"),
    ({"subject": "course_access:3:2\x00"}, "subject"),
])
def test_control_characters_in_the_envelope_are_422(receiver, database_url, changes, field):
    response = receiver.post(message(**changes))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.json["errors"]
    assert stored(database_url) == {}


@pytest.mark.parametrize("data, field", [
    ({"firstname": "A\x00"}, "data.firstname"),
    ({"lastname": "B\x07"}, "data.lastname"),
    ({"username": "s\n"}, "data.username"),
    ({"profile": {"segment": "a\x00b"}}, "data.profile.segment"),
])
def test_control_characters_in_names_are_422(receiver, database_url, data, field):
    response = receiver.post(user_message(**data))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.json["errors"]
    assert stored(database_url) == {}


def test_line_breaks_are_allowed_where_the_crm_holds_text(receiver):
    assert receiver.post(user_message(address="1 Main St\r\nFlat 2\tback")).status_code == 202


@pytest.mark.parametrize("changes, field", [
    ({"moodle_event": {"other": {"note": "x\x00y"}}}, "moodle_event.other.note"),
    ({"moodle_event": {"other": {"note": "x\ud800y"}}}, "moodle_event.other.note"),
    ({"moodle_event": {"k\x00y": 1}}, "moodle_event"),
    ({"data": {"userid": 3, "courseid": 2, "lastaccess": 1795344000, "extra": ["\udfff"]}}, "data.extra.0"),
])
def test_strings_no_database_can_store_are_422_even_where_the_contract_is_open(receiver, database_url,
                                                                                changes, field):
    response = receiver.post(json.dumps(message(**changes)))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.json["errors"]
    assert stored(database_url) == {}


@pytest.mark.parametrize("escape", ["\\u0000", "\\uD800", "\\uDbFf", "\\udc00"])
def test_an_unstorable_string_is_found_however_its_escape_is_spelled(receiver, database_url, escape):
    body = json.dumps(message(moodle_event={"other": {"note": "HERE"}})).replace("HERE", f"x{escape}y")
    response = receiver.post(body)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "moodle_event.other.note" in response.json["errors"]
    assert stored(database_url) == {}


def test_escaped_text_that_databases_store_is_accepted(receiver, database_url):
    # An escaped emoji (a surrogate pair) and a backslash before "u0000" are ordinary strings.
    body = json.dumps(message(moodle_event={"other": {"note": "HERE"}})).replace("HERE", "\\ud83d\\ude00 \\\\u0000")
    assert receiver.post(body).status_code == 202
    assert len(stored(database_url)) == 1


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_are_400(receiver, database_url, number):
    body = json.dumps(message()).replace('"moodle_event": null', f'"moodle_event": {{"x": {number}}}')
    response = receiver.post(body)
    assert response.status_code == 400 and "JSON" in response.json["error"]
    assert stored(database_url) == {}


EPOCH_MAX = 253402300799  # 9999-12-31 23:59:59 UTC
INT64_MAX = 2**63 - 1


@pytest.mark.parametrize("document, field", [
    (message(data={"userid": 3, "courseid": 2, "lastaccess": 2**62}), "data.lastaccess"),
    (message(data={"userid": 3, "courseid": 2, "lastaccess": EPOCH_MAX + 1}), "data.lastaccess"),
    (message(data={"userid": 3, "courseid": 2, "lastaccess": -1}), "data.lastaccess"),
    (message(data={"userid": INT64_MAX + 1, "courseid": 2, "lastaccess": 1}), "data.userid"),
    (message(data={"userid": -1, "courseid": 2, "lastaccess": 1}), "data.userid"),
    (message(sequence=INT64_MAX + 1), "sequence"),
    (message(sequence=7.0), "sequence"),  # 7.0 is an integer to JSON Schema, not to the contract
    (message(data={"userid": 3.0, "courseid": 2, "lastaccess": 1}), "data.userid"),
    (user_message(firstname="A" * 101), "data.firstname"),
    (user_message(address="x" * 151), "data.address"),
    (user_message(lastaccess=2**62), "data.lastaccess"),
    (message(site={"id": "site-1", "url": "http://m.test/" + "x" * 202}), "site.url"),
    (message(site={"id": "s" * 65, "url": "http://m.test"}), "site.id"),
])
def test_values_the_crm_cannot_hold_are_refused_at_the_door(receiver, database_url, document, field):
    response = receiver.post(document)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.json["errors"]
    assert stored(database_url) == {}


def test_the_largest_values_the_crm_holds_are_accepted(receiver):
    assert receiver.post(message(data={"userid": INT64_MAX, "courseid": 0, "lastaccess": EPOCH_MAX})).status_code == 202
    assert receiver.post(user_message(firstname="A" * 100, lastaccess=EPOCH_MAX)).status_code == 202
    assert receiver.post(message(site={"id": "s" * 64, "url": "http://m.test/" + "x" * 201})).status_code == 202


@pytest.fixture
def refusing_postgres():
    """A migrated PostgreSQL database whose inbox refuses every insert, as a failing disk or a broken
    extension would: an error the receiver does not expect, raised by the real database."""
    import uuid

    from sqlalchemy import create_engine, text

    from crmsync import db
    from tests.conftest import TEST_POSTGRES_URL

    name = f"crmsync_refusing_{uuid.uuid4().hex[:8]}"
    admin = create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = TEST_POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        db.upgrade(url)
        with db.engine_for(url).begin() as conn:
            conn.execute(text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"))
            conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON inbox_events "
                              "FOR EACH ROW EXECUTE FUNCTION refuse()"))
        yield url
    finally:
        db.forget_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_unexpected_database_error_is_a_500_whose_log_carries_no_payload(refusing_postgres, redis_url, capfd,
                                                                            log_format):
    from tests.receiver.conftest import Receiver

    receiver = Receiver(refusing_postgres, redis_url, LOG_FORMAT=log_format)  # logs to this test's stderr
    response = receiver.post(user_message(firstname="Payload-Marker-Firstname"))
    assert response.status_code == 500 and "error" in response.json
    logged = capfd.readouterr().err
    assert "RaiseException" in logged and "inbox.py" in logged  # what kind of error, and where
    assert "Payload-Marker" not in logged
    assert "[parameters:" not in logged and "refused by the test" not in logged
