"""POST /webhooks/crm: the SuiteCRM package's changes, verified with the CRM's own secrets, validated
against the CRM contract, stored once in the inbox under the CRM's site id, ordered, replayable, counted."""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from rq.job import Job
from sqlalchemy import select

from crm_connector import ordering
from crmsync import config, contract, db, queue
from crmsync.config import ConfigError
from crmsync.models import InboxEvent
from tests.receiver.conftest import CONTACT_ID, CRM_ID, Receiver, crm_message, message, new_secret, signed
from tests.receiver.test_http import CRM_SECRET, gunicorn, nginx  # noqa: F401 - the real gunicorn and nginx
from tests.receiver.test_ingest import metric
from tests.support import REPO

CRM_SITE = f"crm:{CRM_ID}"
OTHER_CONTACT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def rows(database_url: str) -> list[InboxEvent]:
    with db.session_scope(database_url) as session:
        found = session.scalars(select(InboxEvent).order_by(InboxEvent.sequence)).all()
        session.expunge_all()
        return list(found)


# --- stored, once, under the CRM's own site id --------------------------------------------------------------

def test_a_signed_batch_is_stored_under_the_crm_site_and_waits_for_its_job(receiver, database_url, redis_client):
    first, second = crm_message(1), crm_message(2, contact_id=OTHER_CONTACT, type="contact.deleted",
                                                subject=f"contact:{OTHER_CONTACT}")
    # A Contact gone from the CRM's database altogether: nothing left to say but its id.
    second["data"] = {"id": OTHER_CONTACT, "moodle": None, "changed": ["deleted"], "fields": {},
                      "date_modified": None, "deleted": True}
    response = receiver.post_crm([first, second])
    assert response.status_code == 202, response.json
    assert response.json == {"accepted": 2, "duplicates": 0, "duplicate_ids": []}

    stored = rows(database_url)
    assert [(e.id, e.site_id, e.type, e.subject, e.sequence) for e in stored] == [
        (first["id"], CRM_SITE, "contact.updated", f"contact:{CONTACT_ID}", 1),
        (second["id"], CRM_SITE, "contact.deleted", f"contact:{OTHER_CONTACT}", 2)]
    assert stored[0].payload == first  # the state as sent, plain text and line breaks kept
    # No connector job applies CRM events yet: they stay pending, and nothing sits on the queue that no
    # worker could run.
    assert {e.status for e in stored} == {"pending"}
    assert Queue("crmsync", connection=redis_client).job_ids == []


def test_a_crm_never_shares_a_site_with_a_moodle(receiver, database_url):
    """The same raw id from both sides lands on two sites; a Moodle site cannot pose as a CRM's."""
    assert receiver.post(message(site={"id": CRM_ID, "url": "http://m.test"})).status_code == 202
    assert receiver.post_crm([crm_message()]).status_code == 202
    assert sorted(e.site_id for e in rows(database_url)) == [CRM_ID, CRM_SITE]

    posing = receiver.post(message(site={"id": CRM_SITE, "url": "http://m.test"}))
    assert posing.status_code == 422 and list(posing.json["errors"]) == ["site.id"]


def test_duplicates_are_stored_once(receiver, database_url):
    seen = crm_message(1)
    assert receiver.post_crm([seen]).status_code == 202
    again = receiver.post_crm([seen, crm_message(2), seen], webhook_id="retry-1")  # the scheduler's retry, repeated
    assert again.status_code == 202
    assert (again.json["accepted"], again.json["duplicates"]) == (1, 2)
    assert again.json["duplicate_ids"] == [seen["id"], seen["id"]]
    assert len(rows(database_url)) == 2


def test_a_message_that_breaks_the_contract_refuses_the_whole_batch_naming_it(receiver, database_url):
    control = crm_message(2)
    control["data"]["fields"]["last_name"] = "O'Neil\x07"
    too_long = crm_message(3)
    too_long["data"]["fields"]["phone_work"] = "1" * 256
    elsewhere = crm_message(4, subject=f"contact:{OTHER_CONTACT}")  # orders one record, carries another
    response = receiver.post_crm([crm_message(1), control, too_long, elsewhere])
    assert response.status_code == 422
    errors = response.json["errors"]
    assert set(errors) == {"events.1.data.fields.last_name", "events.2.data.fields.phone_work", "events.3.subject"}
    assert errors["events.1.data.fields.last_name"] == ["must not contain control characters"]
    assert "too long" in errors["events.2.data.fields.phone_work"][0]
    assert errors["events.3.subject"] == [f"must name the record data.id ({CONTACT_ID})"]
    assert rows(database_url) == []  # not even the valid first message


@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m.update(type="contact.merged"), "events.0.type"),
    (lambda m: m.update(sequence=0), "events.0.sequence"),
    (lambda m: m.update(id="not-a-uuid"), "events.0.id"),
    (lambda m: m.update(occurred_at="2026-12-01T10:30:00+01:00"), "events.0.occurred_at"),
    (lambda m: m["crm"].update(id="4F1C2A9BE07D3C5A8E61"), "events.0.crm.id"),
    (lambda m: m.update(site={"id": "site-1", "url": "http://m.test"}), "events.0"),  # a Moodle envelope member
    (lambda m: m["data"].update(deleted=True), "events.0.data.deleted"),  # contact.updated of a deleted record
    (lambda m: m["data"].update(moodle={"site_id": "site-1", "user_id": "3"}), "events.0.data.moodle.user_id"),
    (lambda m: m["data"].update(changed=["last name"]), "events.0.data.changed.0"),
    (lambda m: m["data"]["fields"].update({"bad-name": "x"}), "events.0.data.fields"),
    (lambda m: m["data"]["fields"].update(last_name=None), "events.0.data.fields.last_name"),
    (lambda m: m["data"]["fields"].update(description="x" * 65536), "events.0.data.fields.description"),
    (lambda m: m["data"].update(date_modified="2026-12-01 09:30:00"), "events.0.data.date_modified"),
    (lambda m: m["data"].update(date_modified=None), "events.0.data.date_modified"),  # only a deletion may lack it
])
def test_each_contract_rule_is_a_422_naming_the_field(sqlite_receiver, change, field):
    bad = crm_message()
    change(bad)
    response = sqlite_receiver.post_crm([bad])
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json


def test_long_text_fits_where_the_crm_holds_it(sqlite_receiver):
    roomy = crm_message()
    roomy["data"]["fields"].update(description="x" * 65535, last_name="y" * 255)
    assert sqlite_receiver.post_crm([roomy]).status_code == 202


@pytest.mark.parametrize(("body", "status", "named"), [
    ('{"events": [', 400, None),
    (b'{"events": ["\xff"]}', 400, None),
    (json.dumps(crm_message()), 422, "events"),  # one message, not a batch
    (json.dumps({"events": []}), 422, "events"),
    (json.dumps([crm_message()]), 422, "_schema"),
])
def test_a_body_that_is_no_batch_is_refused(sqlite_receiver, sqlite_url, body, status, named):
    response = sqlite_receiver.post_crm(body)
    assert response.status_code == status, response.json
    if named:
        assert named in response.json["errors"]
    assert rows(sqlite_url) == []


def test_transport_limits_are_those_of_the_moodle_endpoint(sqlite_url, redis_url):
    small = Receiver(sqlite_url, redis_url, MAX_BODY_BYTES="2000")
    assert small.post_crm([crm_message()], headers={"Content-Type": "text/plain"}).status_code == 415
    assert small.post_crm([crm_message()], headers={"Content-Encoding": "gzip"}).status_code == 415
    padded = crm_message()
    padded["data"]["fields"]["description"] = "x" * 3000
    assert small.post_crm([padded]).status_code == 413
    three = Receiver(sqlite_url, redis_url, MAX_BATCH_EVENTS="2")
    too_many = three.post_crm([crm_message(n) for n in range(1, 4)])
    assert too_many.status_code == 422 and "at most 2 events" in too_many.json["error"]


# --- signatures ------------------------------------------------------------------------------------------------

def test_only_the_crms_own_secret_signs_its_changes(sqlite_receiver, sqlite_url):
    batch = [crm_message()]
    assert sqlite_receiver.post_crm(batch, secret=sqlite_receiver.secret).status_code == 401  # Moodle's secret
    assert sqlite_receiver.post(message(), secret=sqlite_receiver.crm_secret).status_code == 401  # and the reverse
    unsigned = sqlite_receiver.client.post("/webhooks/crm", data=json.dumps({"events": batch}),
                                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json == {"error": "invalid signature"}
    assert rows(sqlite_url) == []


@pytest.mark.parametrize(("offset", "status"), [(-360, 401), (-240, 202), (240, 202), (360, 401)])
def test_timestamps_count_within_five_minutes(sqlite_receiver, offset, status):
    at = datetime.now(UTC) + timedelta(seconds=offset)
    assert sqlite_receiver.post_crm([crm_message()], at=at).status_code == status


def test_rotation_accepts_every_listed_secret(sqlite_url, redis_url):
    new, old = new_secret(), new_secret()
    rotating = Receiver(sqlite_url, redis_url, CRM_WEBHOOK_SECRETS=f"{new},{old}")
    assert rotating.post_crm([crm_message(1)], secret=new).status_code == 202
    assert rotating.post_crm([crm_message(2)], secret=old).status_code == 202
    assert rotating.post_crm([crm_message(3)], secret=new_secret()).status_code == 401


def test_without_crm_secrets_the_endpoint_says_how_to_enable_it(sqlite_url, redis_url):
    off = Receiver(sqlite_url, redis_url, CRM_WEBHOOK_SECRETS="")
    response = off.post_crm([crm_message()], secret=new_secret())
    assert response.status_code == 503  # not a 2xx: the CRM keeps its changes until the operator sets it
    assert "CRM_WEBHOOK_SECRETS" in response.json["error"]
    assert off.post(message()).status_code == 202  # Moodle's endpoint is not affected


def test_a_secret_shared_with_moodle_is_refused_at_start_up():
    shared = new_secret()
    with pytest.raises(ConfigError, match="^CRM_WEBHOOK_SECRETS: "):
        config.load(environ={"WEBHOOK_SECRETS": shared, "CRM_WEBHOOK_SECRETS": f"{new_secret()},{shared}"},
                    env_file=None)


# --- the database, ordering, replay -----------------------------------------------------------------------------

def test_database_down_is_503_with_retry_after(redis_url):
    down = Receiver("postgresql+psycopg://nobody@127.0.0.1:1/none", redis_url)
    response = down.post_crm([crm_message()])
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


def test_crm_subjects_are_ordered_per_record_like_moodle_subjects(receiver, database_url):
    """The connector's order judge (subject_states, crm_connector/ordering.py) keys by (site, subject):
    a CRM record is a subject of its own there, apart from a Moodle site that has the same raw id."""
    newer, older = crm_message(7), crm_message(5)
    assert receiver.post_crm([newer, older, crm_message(6, contact_id=OTHER_CONTACT,
                                                        subject=f"contact:{OTHER_CONTACT}")]).status_code == 202
    subject = f"contact:{CONTACT_ID}"
    with db.session_scope(database_url) as session:
        waiting = session.scalars(select(InboxEvent.sequence).where(InboxEvent.site_id == CRM_SITE,
                                                                    InboxEvent.subject == subject)
                                  .order_by(InboxEvent.sequence.desc())).all()
        assert waiting == [7, 5]
        token = ordering.claim(session, CRM_SITE, subject, 60)
        assert token is not None
        assert ordering.claim(session, CRM_SITE, subject, 60) is None  # one writer per CRM record
        assert ordering.claim(session, CRM_ID, subject, 60) is not None  # another site's subject
        assert ordering.finish(session, CRM_SITE, subject, token, 7, newer["id"], rewritten=False)
        session.commit()
        assert ordering.current(session, CRM_SITE, subject).last_sequence == 7


def test_admin_api_lists_shows_and_replays_crm_events(receiver, redis_client):
    body = crm_message()
    receiver.post_crm([body])
    receiver.post(message())
    listed = receiver.admin("GET", "/events?type=contact.updated&status=pending").json
    assert listed["total"] == 1 and listed["events"][0]["site_id"] == CRM_SITE
    shown = receiver.admin("GET", f"/events/{body['id']}").json
    assert shown["payload"] == body and [h["detail"] for h in shown["history"]] == ["received"]

    assert receiver.admin("POST", "/events/replay", json={"ids": [body["id"]]}).json == {"replayed": 1}
    shown = receiver.admin("GET", f"/events/{body['id']}").json
    assert shown["status"] == "pending" and shown["history"][-1]["detail"] == "replay requested"
    assert queue.job_id(body["id"]) not in Queue("crmsync", connection=redis_client).job_ids


def test_the_sweeper_hands_crm_events_out_once_a_job_is_named(receiver, database_url, redis_client, monkeypatch):
    body = crm_message()
    receiver.post_crm([body])
    settings = receiver.settings.replace(sweep_grace_seconds=0)
    with db.session_scope(database_url) as session:
        assert queue.sweep(session, redis_client, settings) == 0  # no job yet: left pending, not dead-lettered
    monkeypatch.setitem(queue.JOB_FUNCTIONS, contract.CRM, "crm_connector.jobs.apply_crm_event")
    with db.session_scope(database_url) as session:
        assert queue.sweep(session, redis_client, settings) == 1
    job = Job.fetch(queue.job_id(body["id"]), connection=redis_client)
    assert (job.func_name, job.args) == ("crm_connector.jobs.apply_crm_event", (body["id"],))
    assert [e.status for e in rows(database_url)] == ["queued"]


def test_the_queue_names_the_connectors_crm_job_once_it_exists():
    """The day crm_connector.jobs grows its CRM → Moodle applier, CRM events must reach it."""
    from crm_connector import jobs

    if hasattr(jobs, "apply_crm_event"):
        assert queue.JOB_FUNCTIONS[contract.CRM] == "crm_connector.jobs.apply_crm_event"
    else:
        assert queue.JOB_FUNCTIONS[contract.CRM] is None


# --- metrics, logs, real HTTP -------------------------------------------------------------------------------------

def test_metrics_count_crm_webhooks_apart_from_moodles(receiver):
    series = [("crmsync_webhook_events_total", {"origin": "crm", "outcome": "accepted"}),
              ("crmsync_webhook_events_total", {"origin": "crm", "outcome": "duplicate"}),
              ("crmsync_signature_failures_total", {"origin": "crm"}),
              ("crmsync_http_requests_total", {"endpoint": "crm_webhooks.receive", "status": "202"}),
              ("crmsync_http_requests_total", {"endpoint": "crm_webhooks.receive", "status": "422"}),
              ("crmsync_request_seconds_count", {"origin": "crm"}),
              ("crmsync_webhook_events_total", {"origin": "moodle", "outcome": "accepted"}),
              ("crmsync_signature_failures_total", {"origin": "moodle"})]

    def snapshot():
        return [metric(receiver, name, **labels) for name, labels in series]

    before = snapshot()
    seen = crm_message(1)
    receiver.post_crm([seen, crm_message(2)])
    receiver.post_crm([seen])
    receiver.post_crm([crm_message(3)], secret=new_secret())
    receiver.post_crm([crm_message(0)])
    after = snapshot()
    assert [round(b - a, 6) for a, b in zip(before, after, strict=True)] == [2, 1, 1, 2, 1, 4, 0, 0]


def test_logs_carry_event_ids_but_never_contact_data(receiver, caplog):
    body = crm_message()
    body["data"]["fields"]["email1"] = "private-person@example.org"
    with caplog.at_level("INFO"):
        receiver.post_crm([body])
        receiver.post_crm([body], secret=new_secret())
    logged = json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert body["id"] in logged and "webhook crm-batch (crm)" in logged
    assert "private-person" not in logged and receiver.crm_secret not in logged


def test_a_signed_batch_passes_nginx_and_gunicorn(nginx):  # noqa: F811
    """Over real sockets, from another address than nginx's own: /webhooks/crm is public like Moodle's."""
    port, _ = nginx
    body = json.dumps({"events": [crm_message(), crm_message(2)]})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
    connection.request("POST", "/webhooks/crm", body=body, headers=signed(body, CRM_SECRET, "b-1"))
    response = connection.getresponse()
    assert response.status == 202, response.read()
    assert json.loads(response.read())["accepted"] == 2


def test_the_contract_page_documents_every_crm_type_and_its_example_is_accepted(sqlite_receiver):
    section = (REPO / "docs" / "event-contract.md").read_text().split("## CRM → receiver", 1)[1]
    for message_type in contract.message_types(contract.CRM):
        assert f"### `{message_type}`" in section
    example = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    response = sqlite_receiver.post_crm(example)
    assert response.status_code == 202, response.json
