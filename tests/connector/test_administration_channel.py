"""An intake of 50 people into 3 courses, and a move of one learner across them, made by a CRM user and
carried the whole real way: the CRM user's saves in the SuiteCRM sandbox → its outbox channel (signed
batches) → the receiver's /webhooks/crm over HTTP → Redis → a worker process → the Moodle sandbox over
HTTP; the results read back from the CRM records as a CRM user sees them, and from Moodle.

No message is made by hand on the CRM side: what reaches the receiver is what the package's channel sends.
The Moodle side of the world (its courses and the learners it already has) reaches the CRM as Moodle → CRM
brings it: signed messages to /webhooks/moodle, applied by the same worker.

One world per module (SQLite only: the CI budget); the move test works on the intake's result.
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
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from standardwebhooks import Webhook

from crm_connector import crm_schema
from crm_connector.suitecrm import SuiteCrmClient
from crmsync import config, db
from moodle_sandbox.testing import MoodleSandboxProcess
from suitecrm_sandbox.testing import SandboxProcess
from tests.conftest import TEST_REDIS_URL
from tests.connector.conftest import SITE, user
from tests.support import REPO, receiver_in_thread

SCHEMA = crm_schema.load()
CONTACT_LINK = SCHEMA.relationship("Contacts", "mdl_Enrolments").relate_id_field
LIST_LINK = SCHEMA.relationship("ProspectLists", "mdl_Intakes").relate_id_field
INTAKE_ENROLMENTS = "mdl_enrolments_mdl_intakes"
# Three courses of the Moodle site, each with a manual enrolment and the cohort's two groups.
COURSES = {11: "INT101", 12: "INT102", 13: "INT103"}
GROUP_IDS = {(course, name): course * 10 + n for course in COURSES for n, name in ((1, "Cohort A"), (2, "Cohort B"))}
# Ten learners Moodle has already: five of them came to the CRM from Moodle (their Contacts carry the
# Moodle identity), five were typed in by a CRM user with the e-mail address Moodle knows them by.
KNOWN = {uid: f"known{uid}@example.invalid" for uid in range(201, 211)}
SYNCED_FROM_MOODLE = list(KNOWN)[:5]
NEWCOMERS = 40
WAIT_SECONDS = 180


def moodle_world() -> dict[str, list[dict]]:
    return {
        "course": [{"id": cid, "fullname": f"Intake course {short}", "shortname": short, "category": 1}
                   for cid, short in COURSES.items()],
        "enrol": [{"id": cid, "courseid": cid, "enrol": "manual", "status": 0, "roleid": 5} for cid in COURSES],
        "groups": [{"id": gid, "courseid": cid, "name": name, "idnumber": f"{name[-1]}{cid}"}
                   for (cid, name), gid in GROUP_IDS.items()],
        "user": [{"id": uid, "username": f"known{uid}", "firstname": "Known", "lastname": f"Learner{uid}",
                  "email": email} for uid, email in KNOWN.items()]}


@dataclass
class World:
    crm: SandboxProcess
    moodle: MoodleSandboxProcess
    crm_user: SuiteCrmClient  # a CRM user's login (password grant): their saves are recorded in the outbox
    moodle_secret: str
    moodle_webhook: str
    worker_log: Path
    contacts: dict[str, str] = field(default_factory=dict)  # Contact id → the e-mail address
    users_before: set[int] = field(default_factory=set)
    intake: dict = field(default_factory=dict)
    sequence: int = 0

    # --- Moodle → CRM: what the plugin sends about the site's courses and learners -----------------
    def from_moodle(self, *messages: tuple[str, str, dict]) -> None:
        events = []
        for message_type, subject, data in messages:
            self.sequence += 1
            events.append({"id": str(uuid.uuid4()), "type": message_type, "occurred_at": "2026-11-22T10:00:00Z",
                           "sequence": self.sequence, "subject": subject, "site": SITE, "moodle_event": None,
                           "data": data})
        body = json.dumps({"events": events})
        batch, now = str(uuid.uuid4()), datetime.now(UTC)
        response = requests.post(self.moodle_webhook, data=body.encode(), timeout=10, headers={
            "webhook-id": batch, "webhook-timestamp": str(int(now.timestamp())), "Content-Type": "application/json",
            "webhook-signature": Webhook(self.moodle_secret).sign(batch, now, body)})
        assert response.status_code == 202, response.text

    # --- waiting, with the worker's words when it takes too long ----------------------------------
    def wait_for(self, what: str, ready, timeout: float = WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := ready():
                return value
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout:.0f}s; channel {self.crm.crm_channel()['waiting']} "
                             f"waiting; the worker said:\n{self.worker_log.read_text()[-4000:]}")

    def run_intake(self, name: str, contacts: list[str], **fields) -> dict:
        """As a CRM user: a Target List of the people, an intake on it; the intake once it shows its result."""
        target_list = self.crm_user.create("ProspectLists", {"name": name, "list_type": "default"})["id"]
        for contact in contacts:
            self.crm_user.request("POST", f"module/ProspectLists/{target_list}/relationships",
                                  body={"data": {"type": "Contacts", "id": contact}})
        intake = self.crm_user.create("mdl_Intakes", {"name": name, "role": "student", **fields,
                                                       LIST_LINK: target_list})["id"]
        return self.wait_for(f"the intake {name!r} showing its result",
                             lambda: (shown := self.crm_user.get("mdl_Intakes", intake)) and
                             shown["sync_state"] in ("done", "failed") and shown)

    # --- reading back -----------------------------------------------------------------------------
    def enrolment_records(self, intake_id: str) -> list[dict]:
        """The intake's Enrolments subpanel, as the CRM user sees it."""
        return [shown(r) for r in self.crm_user.related("mdl_Intakes", intake_id, INTAKE_ENROLMENTS)]

    def moodle_user_by_email(self) -> dict[str, dict]:
        return {u["email"].lower(): u for u in self.moodle.records("user")}

    def enrolled(self, course: int) -> set[int]:
        return {e["userid"] for e in self.moodle.records("user_enrolments") if e["enrolid"] == course}

    def members(self) -> set[tuple[int, str, int]]:
        """(course, group name, user) of every group membership in the three courses."""
        names = {gid: key for key, gid in GROUP_IDS.items()}
        return {(*names[m["groupid"]], m["userid"]) for m in self.moodle.records("groups_members")
                if m["groupid"] in names}


def shown(record: dict) -> dict:
    """A record's values as a CRM user reads them (the V8 API keeps text HTML-encoded)."""
    return {name: html.unescape(value) if isinstance(value, str) else value for name, value in record.items()}


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The receiver, both sandboxes (the CRM's channel pointed at the receiver), a worker; the Moodle site's
    courses and known learners brought to the CRM; 45 Contacts a CRM user made; then the intake of all 50."""
    tmp = tmp_path_factory.mktemp("intake50")
    database_url = f"sqlite:///{tmp / 'crmsync.db'}"
    db.upgrade(database_url)
    redis_client = redis_lib.Redis.from_url(TEST_REDIS_URL)
    redis_client.flushdb()
    moodle_secret, crm_secret, queue = secret(), secret(), f"intake50-{uuid.uuid4().hex[:12]}"
    common = {"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "WEBHOOK_SECRETS": moodle_secret,
              "CRM_WEBHOOK_SECRETS": crm_secret, "QUEUE_NAME": queue, "LOG_LEVEL": "WARNING"}
    server, receiver = receiver_in_thread(config.load(environ=common, env_file=None))
    worker = None
    with SandboxProcess(crm_receiver_url=f"{receiver}/webhooks/crm", crm_secret=crm_secret) as crm, \
            MoodleSandboxProcess() as moodle:
        try:
            moodle.seed(**moodle_world())
            env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SUITECRM_", "MOODLE_"))}, **common,
                   "SUITECRM_URL": crm.url, "SUITECRM_CLIENT_ID": crm.client_id,
                   "SUITECRM_CLIENT_SECRET": crm.client_secret, "MOODLE_URL": moodle.url,
                   "MOODLE_TOKEN": moodle.token, "MOODLE_SITE_ID": SITE["id"], "SWEEP_INTERVAL_SECONDS": "1",
                   "SWEEP_GRACE_SECONDS": "5", "JOB_RETRY_BASE_SECONDS": "1", "JOB_RETRY_MAX_SECONDS": "2",
                   "PYTHONPATH": str(REPO)}
            log_path = tmp / "worker.log"
            with log_path.open("w") as log:
                worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=env, cwd=tmp,
                                          stdout=log, stderr=subprocess.STDOUT)
            built = World(crm, moodle, SuiteCrmClient(crm.url, crm.client_id, crm.client_secret, crm.username,
                                                      crm.password, timeout=30),
                          moodle_secret, f"{receiver}/webhooks/moodle", log_path)
            _populate(built)
            yield built
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            server.shutdown()
            server.server_close()
            db.engine_for(database_url).dispose()
            redis_client.flushdb()


def _populate(world: World) -> None:
    courses = [("course.created", f"course:{cid}", {
        "id": cid, "shortname": short, "fullname": f"Intake course {short}", "idnumber": "", "category": 1,
        "startdate": 1795344000, "enddate": 0, "visible": True, "summary": "", "timemodified": 1795344000})
        for cid, short in COURSES.items()]
    learners = [("user.created", f"user:{uid}", user(uid, "Known", lastname=f"Learner{uid}", email=KNOWN[uid],
                                                     username=f"known{uid}")) for uid in SYNCED_FROM_MOODLE]
    world.from_moodle(*courses, *learners)
    synced = world.wait_for("the Moodle site's courses and learners in the CRM", lambda: (
        len([c for c in world.crm.records("mdl_Courses") if c["moodle_site_id"] == SITE["id"]]) == len(COURSES)
        and (found := [c for c in world.crm.records("Contacts") if c["moodle_site_id_c"] == SITE["id"]])
        and len(found) == len(SYNCED_FROM_MOODLE) and found))
    world.contacts = {c["id"]: html.unescape(c["email1"]) for c in synced}
    # The CRM user types in the other known learners and the 40 newcomers, as the Contacts edit view saves them.
    typed = [("Known", f"Learner{uid}", KNOWN[uid]) for uid in list(KNOWN)[5:]] + [
        ("Pat", f"Newcomer{n:02d}", f"pat.newcomer{n:02d}@example.invalid") for n in range(1, NEWCOMERS + 1)]
    for first, last, email in typed:
        made = world.crm_user.create("Contacts", {"first_name": first, "last_name": last, "email1": email})
        world.contacts[made["id"]] = email
    world.users_before = {u["id"] for u in world.moodle.records("user")}
    started = time.monotonic()
    world.intake = world.run_intake("January intake", list(world.contacts), action="enrol",
                                    courses="\n".join(COURSES.values()), groups_list="Cohort A",
                                    time_start="2027-01-11 09:00:00", time_end="2027-06-25 17:00:00")
    world.intake["seconds"] = time.monotonic() - started


def test_an_intake_of_50_people_into_3_courses_enrols_everyone_in_cohort_a_and_each_record_shows_done(world):
    intake = world.intake
    assert (intake["people"], intake["done_count"], intake["failed_count"], intake["sync_state"]) == (
        "50", "150", "0", "done"), (intake, world.worker_log.read_text()[-4000:])

    # Moodle: 40 new accounts (username: the e-mail address lower-cased), none for the 10 it knew.
    accounts = world.moodle_user_by_email()
    new = {u["id"] for u in world.moodle.records("user")} - world.users_before
    assert len(new) == NEWCOMERS
    assert {accounts[e]["id"] for e in KNOWN.values()} == set(KNOWN)
    assert {accounts[e.lower()]["username"] for e in world.contacts.values() if e not in KNOWN.values()} == {
        e.lower() for e in world.contacts.values() if e not in KNOWN.values()}
    learners = {accounts[e.lower()]["id"] for e in world.contacts.values()}
    assert learners == new | set(KNOWN)
    for course in COURSES:
        assert world.enrolled(course) == learners, COURSES[course]
    assert world.members() == {(course, "Cohort A", uid) for course in COURSES for uid in learners}

    # The CRM: every Contact shows its Moodle identity, every one of the 150 records its own result.
    for contact, email in world.contacts.items():
        identity = shown(world.crm_user.get("Contacts", contact))
        moodle_user = accounts[email.lower()]
        assert (identity["moodle_site_id_c"], identity["moodle_user_id_c"], identity["moodle_username_c"]) == (
            SITE["id"], str(moodle_user["id"]), moodle_user["username"])
    records = world.enrolment_records(intake["id"])
    assert len(records) == 150
    assert {(r["sync_state"], r["sync_message"], r["groups_list"]) for r in records} == {("done", "", "Cohort A")}
    assert len({(r[CONTACT_LINK], r["moodle_course_id"]) for r in records}) == 150  # one per person and course
    channel = world.crm.crm_channel()
    assert (channel["waiting"], channel["failed"]) == (0, 0)  # the CRM sent all it recorded, the receiver took it


def test_one_learner_moved_from_cohort_a_to_b_in_all_three_courses_in_one_intake_others_unchanged(world):
    assert world.intake["sync_state"] == "done"
    accounts = world.moodle_user_by_email()
    contact, email = next((c, e) for c, e in world.contacts.items() if e.startswith("pat.newcomer07"))
    learner = accounts[email]["id"]
    before = world.members()

    move = world.run_intake("Pat moves to Cohort B", [contact], action="move", courses="\n".join(COURSES.values()),
                            move_from="Cohort A", groups_list="Cohort B")

    assert (move["people"], move["done_count"], move["failed_count"], move["sync_state"]) == (
        "1", "3", "0", "done"), move
    assert {m for m in world.members() if m[2] == learner} == {(course, "Cohort B", learner) for course in COURSES}
    assert {m for m in world.members() if m[2] != learner} == {m for m in before if m[2] != learner}
    for course in COURSES:
        assert learner in world.enrolled(course)  # moved, not unenrolled
    # The learner's own three enrolment records, moved (no new ones), shown in the move's subpanel.
    records = world.enrolment_records(move["id"])
    assert {(r[CONTACT_LINK], r["sync_state"], r["groups_list"]) for r in records} == {(contact, "done", "Cohort B")}
    assert len(records) == 3
    assert len(world.crm.records("mdl_Enrolments")) == 150
