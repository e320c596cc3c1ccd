"""The registration service and the CRM over real parts: the SuiteCRM sandbox and the Moodle sandbox over HTTP,
the receiver's /webhooks/crm, a worker process, real Redis, a real database and a real SMTP server (aiosmtpd).

What a CRM user does here (the catalogue, a registration's status) is done through the V8 API with their own
login (password grant), so the sandbox's channel of the package records it and sends it to the receiver, as a
real SuiteCRM with the package does; the connector's own writes use the API client and are never recorded.
"""

from __future__ import annotations

import base64
import html
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import select
from standardwebhooks import Webhook

from crm_connector import crm_schema
from crm_connector.moodle import MoodleClient
from crm_connector.suitecrm import SuiteCrmClient
from crmsync import config, db
from crmsync.models import RegProgramme, RegProject, RegRegistration
from moodle_sandbox.testing import MoodleSandboxProcess
from registration import crm as registration_crm
from registration import jobs
from suitecrm_sandbox.testing import SandboxProcess
from tests.conftest import TEST_REDIS_URL
from tests.conftest import _empty_tables as empty_tables
from tests.connector.conftest import SITE
from tests.support import REPO, free_port, receiver_in_thread

SCHEMA = crm_schema.load()
PROJECT_LINK = SCHEMA.relationship("mdl_RegProjects", "mdl_Programmes").relate_id_field
COURSES_LINK = SCHEMA.relationship("mdl_Programmes", "mdl_Courses").link
CONTACT_LINK = SCHEMA.relationship("Contacts", "mdl_Registrations").relate_id_field
PROGRAMME_LINK = SCHEMA.relationship("mdl_Programmes", "mdl_Registrations").relate_id_field
# The Moodle site: two courses with a manual enrolment, one without (Moodle cannot enrol anyone through the sync).
COURSES = {21: "REG101", 22: "REG102", 23: "REG103"}
MANUAL = (21, 22)
WAIT_SECONDS = 120


class Inbox:
    """aiosmtpd handler keeping what it was given."""

    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@dataclass
class World:
    crm: SandboxProcess
    moodle: MoodleSandboxProcess
    crm_user: SuiteCrmClient  # a CRM user's login: their saves are recorded by the package's channel
    settings: config.Config
    env: dict
    worker_log: Path
    inbox: Inbox
    courses: dict[int, str] = field(default_factory=dict)  # Moodle course id → its CRM record id
    project: str = ""
    programmes: dict[str, str] = field(default_factory=dict)  # name → CRM id

    def wait_for(self, what: str, ready, timeout: float = WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := ready():
                return value
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout:.0f}s; the worker said:\n{self.worker_log.read_text()[-4000:]}")

    def session(self):
        return db.session_scope(self.settings.database_url)

    def pull(self) -> str:
        """`crmsync registration pull-catalogue`, as an operator runs it."""
        result = subprocess.run([sys.executable, "-m", "crmsync", "registration", "pull-catalogue"], env=self.env,
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def register(self, programme: str, email: str, first: str, last: str) -> str:
        """A registration the service has confirmed (its e-mail address proven), as reg-service stores it."""
        registration_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        with self.session() as session:
            local = session.scalars(select(RegProgramme).where(RegProgramme.crm_id == self.programmes[programme])).one()
            session.add(RegRegistration(id=registration_id, programme_id=local.id, email=email.lower(),
                                        answers={"first_name": first, "last_name": last, "email": email},
                                        status="submitted", consent_version="2026-11", consent_at=now,
                                        submitted_at=now, confirmed_at=now, language="en"))
        return registration_id

    def local(self, registration_id: str) -> RegRegistration:
        with self.session() as session:
            found = session.get(RegRegistration, registration_id)
            session.expunge(found)
            return found

    def pushed(self, registration_id: str) -> RegRegistration:
        jobs.enqueue_push(self.settings, registration_id)
        return self.wait_for("the registration pushed to the CRM",
                             lambda: (r := self.local(registration_id)).crm_id and r.pushed_at and r)

    def decide(self, record_id: str, status: str, wanted: set[str]) -> dict:
        """A CRM user sets the status; the registration once the connector has handled it."""
        self.crm_user.update("mdl_Registrations", record_id, {"status": status})
        return self.wait_for(f"the registration showing {sorted(wanted)}",
                             lambda: (r := shown(self.crm_user.get("mdl_Registrations", record_id)))["status"] in wanted
                             and r["status_message"] and r)

    def writes(self) -> int:
        return sum(1 for c in self.crm.calls() if c["method"] in ("POST", "PATCH", "DELETE")
                   and "access_token" not in c["path"])


def shown(record: dict) -> dict:
    return {name: html.unescape(value) if isinstance(value, str) else value for name, value in record.items()}


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def world(request, tmp_path_factory):
    """One world per database engine: the handler takes the programme's row lock inside the connector's job."""
    tmp = tmp_path_factory.mktemp("registration-crm")
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp / 'crmsync.db'}"
        db.upgrade(database_url)
    else:
        database_url = request.getfixturevalue({"postgresql": "postgres_database", "mariadb": "mariadb_database"}[
            request.param])
        empty_tables(database_url)
    redis_client = redis_lib.Redis.from_url(TEST_REDIS_URL)
    redis_client.flushdb()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    moodle_secret, crm_secret, queue = secret(), secret(), f"registration-{uuid.uuid4().hex[:12]}"
    common = {"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "WEBHOOK_SECRETS": moodle_secret,
              "CRM_WEBHOOK_SECRETS": crm_secret, "QUEUE_NAME": queue, "LOG_LEVEL": "WARNING"}
    server, receiver = receiver_in_thread(config.load(environ=common, env_file=None))
    worker = None
    with SandboxProcess(crm_receiver_url=f"{receiver}/webhooks/crm", crm_secret=crm_secret) as crm, \
            MoodleSandboxProcess() as moodle:
        try:
            moodle.seed(course=[{"id": cid, "fullname": f"Registration course {short}", "shortname": short,
                                 "category": 1} for cid, short in COURSES.items()],
                        enrol=[{"id": cid, "courseid": cid, "enrol": "manual", "status": 0, "roleid": 5}
                               for cid in MANUAL])
            env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SUITECRM_", "MOODLE_", "SMTP_"))},
                   **common, "SUITECRM_URL": crm.url, "SUITECRM_CLIENT_ID": crm.client_id,
                   "SUITECRM_CLIENT_SECRET": crm.client_secret, "MOODLE_URL": moodle.url, "MOODLE_TOKEN": moodle.token,
                   "MOODLE_SITE_ID": SITE["id"], "SWEEP_INTERVAL_SECONDS": "1", "SWEEP_GRACE_SECONDS": "5",
                   "JOB_RETRY_BASE_SECONDS": "1", "JOB_RETRY_MAX_SECONDS": "2", "SMTP_HOST": "127.0.0.1",
                   "SMTP_PORT": str(smtp.port), "SMTP_STARTTLS": "false", "SMTP_FROM": "courses@example.org",
                   "REGISTRATION_CATALOGUE_SECONDS": "0", "PYTHONPATH": str(REPO)}
            log_path = tmp / "worker.log"
            with log_path.open("w") as log:
                worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=env, cwd=tmp,
                                          stdout=log, stderr=subprocess.STDOUT)
            built = World(crm, moodle, SuiteCrmClient(crm.url, crm.client_id, crm.client_secret, crm.username,
                                                      crm.password, timeout=30),
                          config.load(environ=env, env_file=None), env, log_path, inbox)
            _courses_from_moodle(built, f"{receiver}/webhooks/moodle", moodle_secret)
            _catalogue(built)
            yield built
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            smtp.stop()
            server.shutdown()
            server.server_close()
            db.engine_for(database_url).dispose()
            redis_client.flushdb()


def _courses_from_moodle(world: World, webhook: str, moodle_secret: str) -> None:
    """The site's courses reach the CRM as Moodle → CRM brings them (signed messages the worker applies)."""
    events = [{"id": str(uuid.uuid4()), "type": "course.created", "occurred_at": "2026-11-22T10:00:00Z",
               "sequence": n, "subject": f"course:{cid}", "site": SITE, "moodle_event": None,
               "data": {"id": cid, "shortname": short, "fullname": f"Registration course {short}", "idnumber": "",
                        "category": 1, "startdate": 1795344000, "enddate": 0, "visible": True, "summary": "",
                        "timemodified": 1795344000}} for n, (cid, short) in enumerate(COURSES.items(), start=1)]
    body = json.dumps({"events": events})
    batch, now = str(uuid.uuid4()), datetime.now(UTC)
    response = requests.post(webhook, data=body.encode(), timeout=10, headers={
        "webhook-id": batch, "webhook-timestamp": str(int(now.timestamp())), "Content-Type": "application/json",
        "webhook-signature": Webhook(moodle_secret).sign(batch, now, body)})
    assert response.status_code == 202, response.text
    records = world.wait_for("the Moodle courses in the CRM", lambda: (
        found := [c for c in world.crm.records("mdl_Courses") if c["moodle_site_id"] == SITE["id"]])
        and len(found) == len(COURSES) and found)
    world.courses = {int(c["moodle_course_id"]): c["id"] for c in records}


def _catalogue(world: World) -> None:
    """As staff keep it in the CRM: a project, its programmes, each programme's Moodle courses."""
    user = world.crm_user
    world.project = user.create("mdl_RegProjects", {"name": "Evening School", "active": "1",
                                                     "admin_email": "evening@example.org",
                                                     "digest_period": "weekly"})["id"]
    for name, courses, capacity in (("Data & Python", (21, 22), "10"), ("Nowhere to enrol", (23,), "5"),
                                    ("Spanish", (22,), "3")):
        made = user.create("mdl_Programmes", {"name": name, "active": "1", "capacity": capacity,
                                              "opens_at": "2026-01-01 00:00:00", "closes_at": "2036-01-01 00:00:00",
                                              PROJECT_LINK: world.project})["id"]
        for course in courses:
            user.request("POST", f"module/mdl_Programmes/{made}/relationships/{COURSES_LINK}",
                         body={"data": {"type": "mdl_Courses", "id": world.courses[course]}})
        world.programmes[name] = made
    world.pull()


def test_pull_catalogue_mirrors_the_crms_projects_programmes_and_their_courses(world):
    with world.session() as session:
        [project] = session.scalars(select(RegProject)).all()
        programmes = {p.name: p for p in session.scalars(select(RegProgramme)).all()}
        assert (project.crm_id, project.name, project.active, project.admin_email, project.digest_period) == (
            world.project, "Evening School", True, "evening@example.org", "weekly")
        assert {name: (p.crm_id, sorted(p.course_crm_ids), p.capacity, p.project_id, p.status)
                for name, p in programmes.items()} == {
            "Data & Python": (world.programmes["Data & Python"], sorted([world.courses[21], world.courses[22]]), 10,
                              project.id, "open"),
            "Nowhere to enrol": (world.programmes["Nowhere to enrol"], [world.courses[23]], 5, project.id, "open"),
            "Spanish": (world.programmes["Spanish"], [world.courses[22]], 3, project.id, "open")}
    # The status the service computed is on the CRM's records.
    assert {html.unescape(p["name"]): p["status"] for p in world.crm.records("mdl_Programmes")} == {
        "Data & Python": "open", "Nowhere to enrol": "open", "Spanish": "open"}

    # Staff make a programme inactive and take a course off another: the next pull follows, and the CRM shows it.
    world.crm_user.update("mdl_Programmes", world.programmes["Spanish"], {"active": "0"})
    world.crm_user.request("DELETE", f"module/mdl_Programmes/{world.programmes['Data & Python']}/relationships/"
                                     f"{COURSES_LINK}/{world.courses[22]}")
    assert "1 projects, 3 programmes" in world.pull()
    with world.session() as session:
        programmes = {p.name: p for p in session.scalars(select(RegProgramme)).all()}
        assert (programmes["Spanish"].active, programmes["Spanish"].status) == (False, "inactive")
        assert programmes["Data & Python"].course_crm_ids == [world.courses[21]]
    assert shown(world.crm_user.get("mdl_Programmes", world.programmes["Spanish"]))["status"] == "inactive"
    # Back as it was for the other tests.
    world.crm_user.update("mdl_Programmes", world.programmes["Spanish"], {"active": "1"})
    world.crm_user.request("POST", f"module/mdl_Programmes/{world.programmes['Data & Python']}/relationships/"
                                   f"{COURSES_LINK}", body={"data": {"type": "mdl_Courses", "id": world.courses[22]}})
    world.pull()


def test_a_push_links_the_contact_with_the_confirmed_address_or_creates_one_and_a_repush_changes_nothing(world):
    known = world.crm_user.create("Contacts", {"first_name": "Mara", "last_name": "Known",
                                               "email1": "mara.known@example.invalid"})["id"]
    contacts_before = len(world.crm.records("Contacts"))
    linked = world.pushed(world.register("Data & Python", "Mara.Known@example.invalid", "Mara", "Known"))
    new = world.pushed(world.register("Spanish", "newcomer@example.invalid", "Nell", "Newcomer"))

    assert linked.crm_contact_id == known
    assert len(world.crm.records("Contacts")) == contacts_before + 1  # the newcomer's, none for Mara
    contact = shown(world.crm_user.get("Contacts", new.crm_contact_id))
    assert (contact["first_name"], contact["last_name"], contact["email1"]) == ("Nell", "Newcomer",
                                                                               "newcomer@example.invalid")
    record = shown(world.crm_user.get("mdl_Registrations", linked.crm_id))
    assert (record["status"], record["email"], record["registration_uid"], record[CONTACT_LINK],
            record[PROGRAMME_LINK]) == ("submitted", "mara.known@example.invalid", linked.id, known,
                                        world.programmes["Data & Python"])
    assert json.loads(record["answers"])["first_name"] == "Mara"
    assert record["mdl_registrations_contacts_name"] == "Mara Known"
    assert linked.crm_id == registration_crm.record_id(linked.id)

    # Pushed again (a retried job): the records are as they are, nothing is written.
    world.crm.clear_calls()
    with world.session() as session:
        registration_crm.push(session, SuiteCrmClient(world.crm.url, world.crm.client_id, world.crm.client_secret),
                              linked.id)
    assert world.writes() == 0, [c for c in world.crm.calls() if c["method"] != "GET"]
    assert [r["registration_uid"] for r in world.crm.records("mdl_Registrations")].count(linked.id) == 1
    # The connector's own writes are never a CRM user's change: nothing of them went to the receiver.
    assert not [row for row in world.crm.crm_channel()["rows"] if row["module"] == "mdl_Registrations"]


def test_accepting_a_registration_enrols_the_person_in_the_programmes_moodle_courses_and_marks_it_enrolled(world):
    local = world.pushed(world.register("Data & Python", "ada.accepted@example.invalid", "Ada", "Accepted"))
    record = world.decide(local.crm_id, "accepted", {"enrolled", "submitted"})
    assert record["status"] == "enrolled", (record, world.worker_log.read_text()[-3000:])
    assert record["status_message"] == ("Enrolled in Moodle as a student in Registration course REG101, "
                                        "Registration course REG102.")
    moodle = MoodleClient(world.moodle.url, world.moodle.token)
    [account] = moodle.get_users_by_field("email", ["ada.accepted@example.invalid"])
    for course in (21, 22):
        assert account["id"] in {u["id"] for u in moodle.get_enrolled_users(course)}, COURSES[course]
    # The service's row and the person's e-mail follow the CRM's record (the job writes that first).
    world.wait_for("the service's row enrolled", lambda: world.local(local.id).status == "enrolled")
    # One enrolment record per course, done; the Contact now shows the Moodle account.
    enrolments = [shown(e) for e in world.crm_user.related("Contacts", local.crm_contact_id, "mdl_enrolments_contacts")]
    assert sorted((e["moodle_course_id"], e["sync_state"], e["role"]) for e in enrolments) == [
        ("21", "done", "student"), ("22", "done", "student")]
    assert shown(world.crm_user.get("Contacts", local.crm_contact_id))["moodle_user_id_c"] == str(account["id"])
    # The staff's change was sent once; the connector's `enrolled` did not come back as a CRM change.
    rows = [row for row in world.crm.crm_channel()["rows"] if row["record_id"] == local.crm_id]
    assert [row["changed"] for row in rows] == [["status"]]
    assert "sync_state" not in world.crm_user.get("mdl_Registrations", local.crm_id)  # its result: status_message
    # The person was told.
    mails = world.wait_for("the e-mail to the person", lambda: [
        m for to, m in world.inbox.messages if to == ["ada.accepted@example.invalid"]])
    assert len(mails) == 1 and "Data & Python" in mails[0]["Subject"]
    assert "REG102" in mails[0].get_content()


def test_rejecting_or_waitlisting_a_registration_emails_the_person_and_says_so_on_the_record(world):
    rejected = world.pushed(world.register("Spanish", "rob.rejected@example.invalid", "Rob", "Rejected"))
    waitlisted = world.pushed(world.register("Spanish", "wanda.waiting@example.invalid", "Wanda", "Waiting"))
    record = world.decide(rejected.crm_id, "rejected", {"rejected"})
    assert record["status_message"] == "E-mail sent telling the person they are not accepted."
    record = world.decide(waitlisted.crm_id, "waitlisted", {"waitlisted"})
    assert record["status_message"] == "E-mail sent telling the person they are on the waiting list."

    mails = {tuple(to): m for to, m in world.inbox.messages}
    rob, wanda = mails[("rob.rejected@example.invalid",)], mails[("wanda.waiting@example.invalid",)]
    assert rob["Subject"] == "Your registration for Spanish" and rob["From"] == "courses@example.org"
    assert "could not be accepted" in rob.get_content() and "Dear Rob," in rob.get_content()
    assert "waiting list" in wanda["Subject"]
    world.wait_for("the service's rows", lambda: (world.local(rejected.id).status,
                                                  world.local(waitlisted.id).status) == ("rejected", "waitlisted"))
    # Nobody of them was enrolled anywhere.
    moodle = MoodleClient(world.moodle.url, world.moodle.token)
    assert moodle.get_users_by_field("email", ["rob.rejected@example.invalid", "wanda.waiting@example.invalid"]) == []


def test_an_enrolment_moodle_refuses_shows_its_reason_on_the_registration_and_it_goes_back_to_submitted(world):
    local = world.pushed(world.register("Nowhere to enrol", "rita.refused@example.invalid", "Rita", "Refused"))
    record = world.decide(local.crm_id, "accepted", {"submitted", "enrolled"})
    assert record["status"] == "submitted"
    assert record["status_message"].startswith("Not enrolled: Registration course REG103 has no enabled manual "
                                               "enrolment method in Moodle: a Moodle administrator adds one")
    assert "manual enrolment" in record["status_message"]
    assert record["status_message"].endswith("set it to Accepted again.")
    assert world.local(local.id).status == "submitted"  # committed before the CRM's record was written
    moodle = MoodleClient(world.moodle.url, world.moodle.token)
    assert all(u.get("email") != "rita.refused@example.invalid" for u in moodle.get_enrolled_users(23))


def test_a_programme_filled_by_a_registration_shows_full_in_the_crm_and_open_again_once_its_place_is_freed(world):
    tiny = world.crm_user.create("mdl_Programmes", {"name": "Tiny", "active": "1", "capacity": "1",
                                                    PROJECT_LINK: world.project})["id"]
    world.crm_user.request("POST", f"module/mdl_Programmes/{tiny}/relationships/{COURSES_LINK}",
                           body={"data": {"type": "mdl_Courses", "id": world.courses[21]}})
    world.pull()
    world.programmes["Tiny"] = tiny
    local = world.pushed(world.register("Tiny", "fay.full@example.invalid", "Fay", "Full"))
    world.wait_for("Tiny shown full", lambda: world.crm_user.get("mdl_Programmes", tiny)["status"] == "full")
    world.decide(local.crm_id, "waitlisted", {"waitlisted"})
    world.wait_for("Tiny shown open", lambda: world.crm_user.get("mdl_Programmes", tiny)["status"] == "open")
    with world.session() as session:
        assert session.scalars(select(RegProgramme.status).where(RegProgramme.crm_id == tiny)).one() == "open"


def test_the_workers_queue_the_catalogue_pull_once_per_period_whoever_looks(redis_url):
    settings = config.load(environ={"REDIS_URL": redis_url, "SUITECRM_URL": "http://127.0.0.1:9",
                                    "QUEUE_NAME": f"tick-{uuid.uuid4().hex[:8]}",
                                    "REGISTRATION_CATALOGUE_SECONDS": "300"}, env_file=None)
    redis = redis_lib.Redis.from_url(redis_url)
    started = 1_800_000_000.0  # a period's first second
    assert jobs.tick(redis, settings, now=started) == f"registration-catalogue-{int(started // 300)}"
    assert jobs.tick(redis, settings, now=started + 299) is None  # another worker, the same period
    assert jobs.tick(redis, settings, now=started + 300) == f"registration-catalogue-{int(started // 300) + 1}"
    from rq import Queue

    assert [j.func_name for j in Queue(settings.queue_name, connection=redis).jobs] == [jobs.PULL_JOB] * 2
    assert jobs.tick(redis, settings.replace(registration_catalogue_seconds=0), now=started + 900) is None


def test_the_sample_catalogue_seeds_a_crm_once_and_links_the_moodle_course_once_the_crm_has_it(sandbox, sqlite_url):
    from pathlib import Path as _Path

    client = SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret, timeout=10)
    path = _Path(registration_crm.__file__).with_name("sample_catalogue.yaml")
    assert registration_crm.seed_sample_catalogue(client, path) == {"projects": 2, "programmes": 3, "courses": 0}
    course = client.create("mdl_Courses", {"name": "CRM Sync Test Course", "shortname": "CRM101",
                                           "moodle_course_id": 2})["id"]
    assert registration_crm.seed_sample_catalogue(client, path) == {"projects": 0, "programmes": 0, "courses": 3}
    assert registration_crm.seed_sample_catalogue(client, path) == {"projects": 0, "programmes": 0, "courses": 0}
    with db.session_scope(sqlite_url) as session:
        assert registration_crm.pull_catalogue(session, client) == (2, 3)
        programmes = session.scalars(select(RegProgramme)).all()
        assert {p.name: p.course_crm_ids for p in programmes} == {
            "Data Analysis with Python": [course], "Russian for Beginners": [course],
            "Project Management Essentials": [course]}
        assert {p.project.name for p in programmes} == {"Summer School", "Professional Development"}
