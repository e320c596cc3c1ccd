"""The sandbox reproduces the package's CRM → receiver channel: a CRM user's changes of Contacts and of
the administration modules (enrolments, groups, intakes: crm_changes in crm_schema.yaml) go, signed, to
/webhooks/crm as the package's outbox and scheduler job send them; the API user's writes do not."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from crmsync import config
from crmsync.contract import validator_for
from receiver import create_app
from suitecrm_sandbox.testing import SandboxProcess
from tests.support import REPO

ADMIN_TOKEN = "channel-admin-token"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Collector:
    """A stand-in receiver: verifies every POST's signature with the standardwebhooks library and answers
    the statuses it is told to, one per POST (then 202)."""

    def __init__(self, secret: str):
        self.secret, self.posts, self.answers = secret, [], []
        self.lock = threading.Condition()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                Webhook(collector.secret).verify(body, dict(self.headers))  # raises: no answer, the test fails
                with collector.lock:
                    status, answer = collector.answers.pop(0) if collector.answers else (202, {"accepted": 1})
                    collector.posts.append((status, json.loads(body)["events"], dict(self.headers)))
                    collector.lock.notify_all()
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/crm"

    def answer(self, *answers: tuple[int, dict]) -> None:
        with self.lock:
            self.answers.extend(answers)

    def wait_for_posts(self, count: int, timeout: float = 20) -> list:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.posts) >= count, timeout), self.posts
            return list(self.posts)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    built = Collector(new_secret())
    yield built
    built.close()


@pytest.fixture
def crm(collector, tmp_path):
    with SandboxProcess(database=str(tmp_path / "sandbox.db"), crm_receiver_url=collector.url,
                        crm_secret=collector.secret) as process:
        yield Crm(process)


class Crm:
    """The sandbox as the sync's API user (client_credentials) and as a CRM user (password grant) reach it."""

    def __init__(self, process: SandboxProcess):
        self.process = process
        self.api = self._token({"grant_type": "client_credentials"})
        self.user = self._token({"grant_type": "password", "username": process.username,
                                 "password": process.password})

    def _token(self, grant: dict) -> str:
        response = requests.post(f"{self.process.url}/Api/access_token", timeout=10, json={
            **grant, "client_id": self.process.client_id, "client_secret": self.process.client_secret})
        response.raise_for_status()
        return response.json()["access_token"]

    def call(self, method: str, token: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.process.url}/Api/V8/{path}", json=body, timeout=10,
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/vnd.api+json"})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def create(self, token: str, module: str = "Contacts", /, **attributes) -> str:
        return self.call("POST", token, "module", {"data": {"type": module, "attributes": attributes}})["data"]["id"]

    def patch(self, token: str, record_id: str, module: str = "Contacts", /, **attributes) -> None:
        self.call("PATCH", token, "module", {"data": {"type": module, "id": record_id, "attributes": attributes}})

    def delete(self, token: str, record_id: str, module: str = "Contacts") -> None:
        self.call("DELETE", token, f"module/{module}/{record_id}")

    def read(self, token: str, module: str, record_id: str) -> dict:
        return self.call("GET", token, f"module/{module}/{record_id}")["data"]["attributes"]

    def wait_for_channel(self, done, timeout: float = 20) -> dict:
        """The channel's status once `done(status)` holds (the delivery thread works on its own)."""
        deadline = time.monotonic() + timeout
        while not done(status := self.process.crm_channel()):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        return status

    def wait_until_nothing_waits(self, timeout: float = 20) -> dict:
        return self.wait_for_channel(lambda status: status["waiting"] == 0, timeout)


LEARNER = {"first_name": "Ada", "last_name": "Lovelace", "email1": "ada@example.org",
           "moodle_site_id_c": "site-1", "moodle_user_id_c": "3"}


def test_the_api_users_writes_are_not_recorded_a_crm_users_are(crm, collector):
    contact = crm.create(crm.api, **LEARNER)
    crm.patch(crm.api, contact, department="Sync wrote this")
    assert crm.process.crm_channel()["rows"] == []  # Moodle's changes arriving: sending them back would echo

    crm.patch(crm.user, contact, department="Sales & Marketing")
    (status, events, headers), = collector.wait_for_posts(1)
    message, = events
    assert message["type"] == "contact.updated" and message["subject"] == f"contact:{contact}"
    assert message["data"]["changed"] == ["department"]
    assert message["data"]["fields"]["department"] == "Sales & Marketing"  # plain text, not &amp;
    assert message["data"]["moodle"] == {"site_id": "site-1", "user_id": 3}
    shown = crm.wait_until_nothing_waits()
    assert message["sequence"] == shown["rows"][0]["id"] and message["id"] == shown["rows"][0]["uuid"]
    assert shown["last_delivered"] is not None and shown["delivered"] == 1


def test_a_save_that_changes_no_synced_value_records_nothing(crm, collector):
    contact = crm.create(crm.api, **{**LEARNER, "last_name": "O'Neil & Co"})
    # What a read gave back (SuiteCRM encodes ' on read), saved unchanged, and a field the sync does not map.
    crm.patch(crm.user, contact, last_name="O&#039;Neil &amp; Co", description="a note")
    assert crm.process.crm_channel()["rows"] == []
    crm.patch(crm.user, contact, last_name="O'Neil")
    assert collector.wait_for_posts(1)[0][1][0]["data"]["changed"] == ["last_name"]


def test_a_crm_users_new_contact_and_deletion_are_sent(crm, collector):
    contact = crm.create(crm.user, **LEARNER)
    created = collector.wait_for_posts(1)[0][1][0]
    assert created["data"]["changed"] == ["first_name", "last_name", "email1"]  # mapped fields it gave values
    crm.delete(crm.user, contact)
    deleted = collector.wait_for_posts(2)[1][1][0]
    assert deleted["type"] == "contact.deleted" and deleted["data"]["deleted"] is True
    assert deleted["data"]["changed"] == ["deleted"] and deleted["sequence"] > created["sequence"]
    assert deleted["data"]["fields"]["last_name"] == "Lovelace"  # the deleted record's state, as the package reads it


def test_changes_wait_while_the_receiver_refuses_then_go_coalesced_as_the_record_is_then(crm, collector):
    collector.answer(*[(503, {"error": "database unavailable"})] * 3)
    contact = crm.create(crm.api, **LEARNER)
    crm.patch(crm.user, contact, department="Training")
    collector.wait_for_posts(1)
    waiting = crm.wait_for_channel(lambda shown: shown["rows"][0]["attempts"] == 1)
    assert waiting["waiting"] == 1 and waiting["last_error"].startswith("HTTP 503")
    # Backoff: 30-60 s after a first failure, as the package's scheduler job waits.
    assert 25 <= _seconds(waiting["next_attempt"]) - time.time() <= 61

    crm.patch(crm.user, contact, phone_work="+49 40 123")  # due now, so both rows of the record go, refused
    collector.wait_for_posts(2)
    crm.patch(crm.user, contact, department="Training & Events")
    collector.wait_for_posts(3)
    sent = crm.process.deliver_now()  # "Send now": also what waits for a retry
    assert sent == {"delivered": 1, "rows": 3, "retry": 0, "failed": 0}
    assert [len(events) for _, events, _ in collector.posts] == [1, 1, 1, 1]
    status, events, _ = collector.posts[-1]
    message, = events
    assert message["data"]["changed"] == ["department", "phone_work"]
    assert message["data"]["fields"]["department"] == "Training & Events"  # the state when sent
    shown = crm.process.crm_channel()
    assert message["sequence"] == max(r["id"] for r in shown["rows"]) and shown["waiting"] == 0


def test_a_message_the_receiver_refuses_fails_alone_and_can_be_retried(crm, collector):
    collector.answer((503, {}), (503, {}),
                     (422, {"error": "invalid", "errors": {"events.0.data.fields": ["too long"]}}))
    first = crm.create(crm.user, **LEARNER)
    collector.wait_for_posts(1)
    second = crm.create(crm.user, **{**LEARNER, "first_name": "Bob", "moodle_user_id_c": "4"})
    collector.wait_for_posts(2)  # its immediate send found the receiver still refusing

    sent = crm.process.deliver_now()  # both in one batch: the receiver names the first as invalid
    assert sent == {"delivered": 1, "rows": 1, "retry": 0, "failed": 1}
    assert [[e["subject"] for e in events] for _, events, _ in collector.posts[2:]] == [
        [f"contact:{first}", f"contact:{second}"], [f"contact:{second}"]]  # sent again without the other
    shown = crm.process.crm_channel()
    failed, = [r for r in shown["rows"] if r["status"] == "failed"]
    assert failed["record_id"] == first and failed["last_error"] == "HTTP 422: data.fields: too long"
    assert shown["failed"] == 1 and shown["waiting"] == 0

    assert crm.process.retry_failed() == {"waiting_again": 1}
    assert crm.wait_for_channel(lambda shown: shown["failed"] == 0 and shown["waiting"] == 0)
    assert collector.posts[-1][1][0]["subject"] == f"contact:{first}"


def test_the_crm_id_and_the_sequence_survive_a_restart(collector, tmp_path):
    database = str(tmp_path / "sandbox.db")
    sequences = []
    for _ in range(2):
        with SandboxProcess(database=database, crm_receiver_url=collector.url, crm_secret=collector.secret) as process:
            crm = Crm(process)
            crm.create(crm.user, **LEARNER)
            crm.wait_until_nothing_waits()
            sequences.append((collector.posts[-1][1][0]["crm"]["id"], collector.posts[-1][1][0]["sequence"]))
    (first_crm, first_sequence), (second_crm, second_sequence) = sequences
    assert first_crm == second_crm and second_sequence > first_sequence


# --- administration from the CRM: the modules with crm_changes ---------------------------------------
ENROLMENT = {"role": "teacher", "status": "active", "time_start": "2027-01-04 08:00:00",
             "groups_list": "Group A\nGroup B"}
TO_CONTACT = "mdl_enrolments_contactscontacts_ida"
TO_COURSE = "mdl_enrolments_mdl_coursesmdl_courses_ida"


def sent(crm: Crm, collector, change) -> list[dict]:
    """The messages delivered because of `change()`, each valid by the CRM contract."""
    already = sum(len(events) for status, events, _ in collector.posts if 200 <= status < 300)
    change()
    crm.wait_until_nothing_waits()
    messages = [m for status, events, _ in collector.posts if 200 <= status < 300 for m in events][already:]
    for message in messages:
        errors = [e.message for e in validator_for(message["type"], "crm").iter_errors(message)]
        assert not errors, (message, errors)
    return messages


@pytest.fixture
def learner_and_course(crm):
    """What the sync wrote from Moodle: nothing of it is sent back."""
    contact = crm.create(crm.api, first_name="Ada", last_name="Lovelace", email1="ada@example.org")
    course = crm.create(crm.api, "mdl_Courses", name="Analytical Engines", moodle_course_id="7")
    return contact, course


def test_a_crm_users_new_enrolment_goes_with_its_contact_and_course_and_waits_for_moodle(crm, collector,
                                                                                          learner_and_course):
    contact, course = learner_and_course
    created = {}
    message, = sent(crm, collector, lambda: created.update(id=crm.create(
        crm.user, "mdl_Enrolments", name="Ada in AE", **ENROLMENT, **{TO_CONTACT: contact, TO_COURSE: course})))
    enrolment = created["id"]
    assert (message["type"], message["subject"]) == ("enrolment.updated", f"enrolment:{enrolment}")
    assert message["data"]["changed"] == ["role", "status", "time_start", "groups_list", "contact", "course"]
    assert message["data"]["fields"] == {**ENROLMENT, "time_end": ""}
    assert message["data"]["related"] == {"contact": contact, "course": course, "intake": None}
    shown = crm.read(crm.user, "mdl_Enrolments", enrolment)
    assert (shown["sync_state"], shown["sync_message"]) == ("pending", "")

    # The connector's answer, written by the API user: shown, and not sent back.
    assert sent(crm, collector, lambda: crm.patch(crm.api, enrolment, "mdl_Enrolments", sync_state="done",
                                                  role="editingteacher")) == []
    assert crm.read(crm.user, "mdl_Enrolments", enrolment)["sync_state"] == "done"
    # A CRM user's save that changes nothing Moodle has leaves the state as it is.
    assert sent(crm, collector, lambda: crm.patch(crm.user, enrolment, "mdl_Enrolments", description="note")) == []
    assert crm.read(crm.user, "mdl_Enrolments", enrolment)["sync_state"] == "done"


def test_relating_unrelating_and_deleting_are_sent(crm, collector, learner_and_course):
    contact, course = learner_and_course
    enrolment = crm.create(crm.api, "mdl_Enrolments", name="Ada in AE", **{TO_CONTACT: contact})

    message, = sent(crm, collector, lambda: crm.call(
        "POST", crm.user, f"module/mdl_Courses/{course}/relationships/mdl_enrolments_mdl_courses",
        {"data": {"type": "mdl_Enrolments", "id": enrolment}}))
    assert message["data"]["changed"] == ["course"]
    assert message["data"]["related"] == {"contact": contact, "course": course, "intake": None}
    assert crm.read(crm.user, "mdl_Enrolments", enrolment)["sync_state"] == "pending"

    message, = sent(crm, collector, lambda: crm.call(
        "DELETE", crm.user, f"module/mdl_Enrolments/{enrolment}/relationships/mdl_enrolments_contacts/{contact}"))
    assert message["data"]["changed"] == ["contact"]
    assert message["data"]["related"]["contact"] is None

    message, = sent(crm, collector, lambda: crm.delete(crm.user, enrolment, "mdl_Enrolments"))
    assert (message["type"], message["data"]["changed"], message["data"]["deleted"]) == (
        "enrolment.deleted", ["deleted"], True)


def test_an_intake_names_its_target_list_whose_contacts_v8_reads(crm, collector, learner_and_course):
    ada, course = learner_and_course
    bob = crm.create(crm.api, first_name="Bob", last_name="Babbage", email1="bob@example.org")
    target_list = crm.create(crm.user, "ProspectLists", name="Spring 2027", list_type="default")
    for contact in (ada, bob):
        related = crm.call("POST", crm.user, f"module/ProspectLists/{target_list}/relationships/contacts",
                           {"data": {"type": "Contacts", "id": contact}})["meta"]
        assert related["message"] == (f"Contacts record with id {contact} has been related to Targets - Lists "
                                      f"record with id {target_list} using link contacts")
    members = crm.call("GET", crm.api, f"module/ProspectLists/{target_list}/relationships/contacts")["data"]
    assert sorted((m["type"], m["attributes"]["email1"]) for m in members) == [
        ("Contact", "ada@example.org"), ("Contact", "bob@example.org")]
    lists = crm.call("GET", crm.api, f"module/Contacts/{bob}/relationships/prospect_lists")["data"]
    assert [(t["type"], t["id"], t["attributes"]["list_type"]) for t in lists] == [
        ("ProspectList", target_list, "default")]
    assert crm.process.crm_channel()["rows"] == []  # a target list is not sent; its intake is

    created = {}
    message, = sent(crm, collector, lambda: created.update(id=crm.create(
        crm.user, "mdl_Intakes", name="Spring intake", action="enrol", courses="AE101\nAE102",
        mdl_intakes_prospectlistsprospectlists_ida=target_list)))
    assert (message["type"], message["data"]["related"]) == ("intake.updated", {"prospect_list": target_list})
    assert message["data"]["fields"]["courses"] == "AE101\nAE102" and "prospect_list" in message["data"]["changed"]
    assert crm.read(crm.user, "mdl_Intakes", created["id"])["sync_state"] == "pending"

    # Deleting the target list unrelates the intake from it, as SuiteCRM deletes a record's relationships.
    message, = sent(crm, collector, lambda: crm.delete(crm.user, target_list, "ProspectLists"))
    assert (message["subject"], message["data"]["changed"], message["data"]["related"]) == (
        f"intake:{created['id']}", ["prospect_list"], {"prospect_list": None})

    message, = sent(crm, collector, lambda: crm.create(crm.user, "mdl_Groups", name="Group C",
                                                       mdl_groups_mdl_coursesmdl_courses_ida=course))
    assert (message["type"], message["data"]["changed"], message["data"]["related"]) == (
        "group.updated", ["name", "course"], {"course": course})

@pytest.fixture
def receiver(sqlite_url, redis_url):
    """The real receiver over HTTP, with a CRM secret of its own."""
    crm_secret = new_secret()
    settings = config.load(environ={"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url,
                                    "WEBHOOK_SECRETS": new_secret(), "CRM_WEBHOOK_SECRETS": crm_secret,
                                    "ADMIN_API_TOKENS": ADMIN_TOKEN, "LOG_LEVEL": "WARNING"}, env_file=None)
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", crm_secret
    server.shutdown()
    server.server_close()


def test_the_real_receiver_accepts_and_stores_what_the_sandbox_sends(receiver, tmp_path):
    url, secret = receiver
    with SandboxProcess(crm_receiver_url=f"{url}/webhooks/crm", crm_secret=secret) as process:
        crm = Crm(process)
        contact = crm.create(crm.api, **LEARNER)
        crm.patch(crm.user, contact, last_name="O'Neil & Co", email1="ada.oneil@example.org")
        # Sent before the deletion is recorded: waiting together, both rows would go as one contact.deleted.
        crm.wait_until_nothing_waits()
        crm.delete(crm.user, contact)
        shown = crm.wait_until_nothing_waits()
        assert shown["delivered"] == 2 and shown["failed"] == 0
    listed = requests.get(f"{url}/api/v1/events", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                          timeout=10).json()["events"]
    assert {(e["type"], e["subject"], e["site_id"]) for e in listed} == {
        ("contact.updated", f"contact:{contact}", f"crm:{shown['crm']['id']}"),
        ("contact.deleted", f"contact:{contact}", f"crm:{shown['crm']['id']}")}
    updated = next(e for e in listed if e["type"] == "contact.updated")
    payload = requests.get(f"{url}/api/v1/events/{updated['id']}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                           timeout=10).json()["payload"]
    assert payload["data"]["changed"] == ["last_name", "email1"]
    assert payload["data"]["fields"]["last_name"] == "O'Neil & Co"


@pytest.mark.parametrize(("args", "env", "error"), [
    (["--crm-receiver-url", "http://127.0.0.1:9/webhooks/crm"], {}, "needs SANDBOX_CRM_SECRET"),
    (["--crm-receiver-url", "http://127.0.0.1:9/webhooks/crm"], {"SANDBOX_CRM_SECRET": "s3cret"},
     "needs SANDBOX_CRM_SECRET"),
    (["--crm-receiver-url", "ftp://example.org/"], {"SANDBOX_CRM_SECRET": new_secret()}, "expected an http(s) URL"),
    (["--crm-receiver-url", "http://127.0.0.1:9/webhooks/crm", "--bare"], {"SANDBOX_CRM_SECRET": new_secret()},
     "which --bare leaves out"),
])
def test_a_misconfigured_channel_is_refused_at_start(args, env, error):
    run = subprocess.run([sys.executable, "-m", "crmsync", "sandbox", "--bind", "127.0.0.1:1", *args], cwd=REPO,
                         capture_output=True, text=True, timeout=60,
                         env={**{k: v for k, v in os.environ.items() if k != "SANDBOX_CRM_SECRET"}, **env})
    assert run.returncode == 2 and error in run.stderr and "Traceback" not in run.stderr, run.stderr


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
