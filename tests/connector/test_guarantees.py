"""The promises, on every engine: no stale write wins, deletions stick, outages lose nothing, no loops.

Races are forced with the sandbox's gate: a CRM write is held inside the sandbox until the test has
made the other side of the race happen, then let go.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from crmsync import db
from crmsync.models import EventStatus, EventTransition, InboxEvent, SubjectState, utcnow
from tests.connector.conftest import SITE, enrolment, user
from tests.support import REPO, stop_group


def contact(sandbox, uid: int) -> dict | None:
    found = [r for r in sandbox.records("Contacts") if r.get("moodle_user_id_c") == str(uid)]
    assert len(found) <= 1, f"{len(found)} Contacts for Moodle user {uid}"
    return found[0] if found else None


def subject_state(pipeline, subject: str) -> SubjectState:
    with db.session_scope(pipeline.database_url) as session:
        return session.get(SubjectState, (SITE["id"], subject))


def grade(uid: int, itemid: int, value: float, cid: int = 2, itemtype: str = "mod", cmid: int | None = 4) -> dict:
    return {"userid": uid, "courseid": cid, "itemid": itemid, "finalgrade": value, "percentage": value,
            "passed": None, "deleted": False, "timemodified": 1795351200,
            "item": {"itemtype": itemtype, "itemmodule": "assign" if itemtype == "mod" else None, "cmid": cmid,
                     "itemname": f"Item {itemid}", "grademax": 100.0, "grademin": 0.0, "gradepass": 0.0}}


def attendance(session_id: int, uids: list[int], acronym: str = "P", cid: int = 2, cmid: int = 9) -> dict:
    return {"courseid": cid, "cmid": cmid, "attendanceid": 1, "name": "Roll call",
            "session": {"id": session_id, "sessdate": 1795251600, "duration": 3600},
            "statuses": [{"userid": uid, "statusid": 1, "acronym": acronym, "description": acronym, "grade": 1,
                          "timetaken": 1795345022} for uid in uids]}


def module_completion(uid: int, cmid: int, state: str = "complete", cid: int = 2) -> dict:
    return {"userid": uid, "courseid": cid, "cmid": cmid, "modname": "assign", "name": f"Activity {cmid}",
            "completionstate": 1 if state == "complete" else 0, "state": state, "timemodified": 1795351200}


def course_completion(uid: int, cid: int = 2) -> dict:
    return {"userid": uid, "courseid": cid, "completed": True, "timecompleted": 1795351300}


def start_worker(pipeline, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crmsync", "worker", "--burst"],
                            env={**pipeline.env, **{k: str(v) for k, v in env.items()}}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def burst(pipeline, **env) -> str:
    worker = subprocess.run([sys.executable, "-m", "crmsync", "worker", "--burst"],
                            env={**pipeline.env, **{k: str(v) for k, v in env.items()}}, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-3000:]
    return worker.stderr


# --- one judge of order ------------------------------------------------------------------------
def test_an_older_event_never_overwrites_a_newer_one(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:50", user(50, "Ten"), sequence=10))
    pipeline.drain()
    sandbox.hold("PATCH", "Contacts")
    eleven = pipeline.message("user.updated", "user:50", user(50, "Eleven"), sequence=11)
    pipeline.send(eleven)
    # Claims user:50 and is held inside its CRM write of 11; it waits for the answer however long worker B
    # takes to start on a loaded machine (with the pipeline's 3 s its write times out and B writes instead).
    worker_a = start_worker(pipeline, SUITECRM_TIMEOUT_SECONDS=60)
    try:
        sandbox.wait_until_held(1)
        twelve = pipeline.message("user.updated", "user:50", user(50, "Twelve"), sequence=12)
        pipeline.send(twelve)
        burst(pipeline)  # worker B: the subject is claimed, so it leaves 12 to the holder and returns
        assert pipeline.status_of(twelve) == "queued"
        assert contact(sandbox, 50)["first_name"] == "Ten"
    finally:
        sandbox.release()
    assert worker_a.wait(timeout=60) == 0, worker_a.stderr.read()[-3000:]

    assert contact(sandbox, 50)["first_name"] == "Twelve"  # the holder applied 12 before letting go
    assert (pipeline.status_of(eleven), pipeline.status_of(twelve)) == ("applied", "applied")
    state = subject_state(pipeline, "user:50")
    assert (state.last_sequence, state.claim_token, state.rewrite) == (12, None, False)


def test_a_writer_whose_claim_ran_out_cannot_leave_its_older_state_behind(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:51", user(51, "Ten"), sequence=10))
    pipeline.drain()
    sandbox.hold("PATCH", "Contacts")
    stale = pipeline.message("user.updated", "user:51", user(51, "Stale"), sequence=11)
    pipeline.send(stale)
    # Its write of 11 outlives its lease (and it waits for the answer: the next test times out instead).
    # Both write at once here, which one write slot per CRM would not let happen: the limit is off.
    unlimited = {"CRM_MAX_CONCURRENT_WRITES": 0}
    worker_a = start_worker(pipeline, SUBJECT_LEASE_SECONDS=1, SUITECRM_TIMEOUT_SECONDS=60, **unlimited)
    try:
        sandbox.wait_until_held(1)
        deadline = time.monotonic() + 30
        while subject_state(pipeline, "user:51").claim_expires > utcnow():
            assert time.monotonic() < deadline, "the lease never ran out"
            time.sleep(0.2)
        fresh = pipeline.message("user.updated", "user:51", user(51, "Fresh"), sequence=12)
        pipeline.send(fresh)
        burst(pipeline, **unlimited)  # worker B takes the expired claim and writes 12 first
        assert contact(sandbox, 51)["first_name"] == "Fresh"
    finally:
        sandbox.release()  # now A's older write lands in the CRM, after 12
    assert worker_a.wait(timeout=60) == 0, worker_a.stderr.read()[-3000:]
    pipeline.drain()

    assert contact(sandbox, 51)["first_name"] == "Fresh"  # A saw its claim gone and had 12 written again
    assert (pipeline.status_of(stale), pipeline.status_of(fresh)) == ("skipped", "applied")
    state = subject_state(pipeline, "user:51")
    assert (state.last_sequence, state.rewrite) == (12, False)


def test_a_write_that_timed_out_and_landed_late_is_written_over_again(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:57", user(57, "Ten"), sequence=10))
    pipeline.drain()
    # The CRM carries the held request out (at release) well within CRM_LATE_WRITE_SECONDS of its timeout.
    late = {"SUITECRM_TIMEOUT_SECONDS": "1", "CRM_LATE_WRITE_SECONDS": "20"}
    sandbox.hold("PATCH", "Contacts")
    stale = pipeline.message("user.updated", "user:57", user(57, "Stale"), sequence=11)
    pipeline.send(stale)
    burst(pipeline, **late)  # its PATCH of 11 times out on the client, but the CRM still holds it
    assert sandbox.wait_until_held(1) is None
    fresh = pipeline.message("user.updated", "user:57", user(57, "Fresh"), sequence=12)
    pipeline.send(fresh)
    pipeline.drain(env=late, settle_rewrites=False)  # 12 is written (the gate held only one request)
    assert contact(sandbox, 57)["first_name"] == "Fresh"
    sandbox.release()  # the CRM carries out the old request now, after 12
    deadline = time.monotonic() + 30
    while contact(sandbox, 57)["first_name"] != "Stale":  # the late write has landed over 12
        assert time.monotonic() < deadline, "the held request never completed"
        time.sleep(0.1)
    deadline = time.monotonic() + 90
    while contact(sandbox, 57)["first_name"] != "Fresh" or subject_state(pipeline, "user:57").rewrite:
        assert time.monotonic() < deadline, f"the CRM was left at {contact(sandbox, 57)['first_name']}"
        burst(pipeline, **late)  # runs the rewrite scheduled CRM_LATE_WRITE_SECONDS after the timeout
        time.sleep(0.5)
    assert pipeline.status_of(fresh) == "applied"


# --- deletions that stick ----------------------------------------------------------------------
def test_every_record_type_can_be_deleted_and_created_again(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:52", user(52)),
                  pipeline.message("grade.updated", "grade:52:40", grade(52, 40, 61.0)),
                  pipeline.message("module_completion.updated", "module_completion:52:4", module_completion(52, 4)),
                  pipeline.message("course_completion.updated", "course_completion:52:2", course_completion(52)),
                  pipeline.message("attendance.recorded", "attendance:70", attendance(70, [52], "P")))
    pipeline.drain()
    first_grade_id = next(r["id"] for r in sandbox.records("mdl_Grades") if r["moodle_user_id"] == "52")
    pipeline.send(pipeline.message("grade.deleted", "grade:52:40", {"userid": 52, "courseid": 2, "itemid": 40,
                                                                   "deleted": True}),
                  pipeline.message("module_completion.deleted", "module_completion:52:4",
                                   {"userid": 52, "cmid": 4, "courseid": 2, "deleted": True}),
                  pipeline.message("course_completion.deleted", "course_completion:52:2",
                                   {"userid": 52, "courseid": 2, "deleted": True}),
                  pipeline.message("attendance.deleted", "attendance:70", {"sessionid": 70, "courseid": 2,
                                                                          "deleted": True}))
    pipeline.drain()
    for module in ("mdl_Grades", "mdl_Completions", "mdl_Attendance"):
        assert [r for r in sandbox.records(module) if r["moodle_user_id"] == "52"] == [], module

    # Moodle creates them again (a re-grade, a re-completion, a retaken roll call); a CRM user deletes the Contact.
    deleted_contact = contact(sandbox, 52)["id"]
    delete_as_crm_user(sandbox, "Contacts", deleted_contact)
    pipeline.send(pipeline.message("user.updated", "user:52", user(52, "Back")),
                  pipeline.message("grade.updated", "grade:52:40", grade(52, 40, 77.0)),
                  pipeline.message("module_completion.updated", "module_completion:52:4", module_completion(52, 4)),
                  pipeline.message("course_completion.updated", "course_completion:52:2", course_completion(52)),
                  pipeline.message("attendance.recorded", "attendance:70", attendance(70, [52], "L")))
    pipeline.drain()

    assert {e.status for e in pipeline.events()} == {"applied"}, [(e.type, e.status, e.last_error)
                                                                  for e in pipeline.events()]
    back = contact(sandbox, 52)
    assert back["first_name"] == "Back" and back["id"] != deleted_contact
    grades = [r for r in sandbox.records("mdl_Grades") if r["moodle_user_id"] == "52"]
    assert [g["grade"] for g in grades] == ["77.00"] and grades[0]["id"] != first_grade_id
    assert grades[0]["mdl_grades_contactscontacts_ida"] == back["id"]
    assert len([r for r in sandbox.records("mdl_Completions") if r["moodle_user_id"] == "52"]) == 2
    assert [r["status_acronym"] for r in sandbox.records("mdl_Attendance") if r["moodle_user_id"] == "52"] == ["L"]


def delete_as_crm_user(sandbox, module: str, record_id: str) -> None:
    token = requests.post(f"{sandbox.url}/Api/access_token", timeout=5, json={
        "grant_type": "client_credentials", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret}).json()["access_token"]
    assert requests.delete(f"{sandbox.url}/Api/V8/module/{module}/{record_id}", timeout=5,
                           headers={"Authorization": f"Bearer {token}"}).status_code == 200


def wait_until_applied(pipeline, message: dict, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while pipeline.status_of(message) != "applied":
        assert time.monotonic() < deadline, f"{message['type']} was not applied: {pipeline.status_of(message)}"
        time.sleep(0.1)


@pytest.mark.parametrize("last", ["contact", "grade"])
def test_a_grade_written_while_its_contact_is_re_created_ends_linked_to_the_new_contact(pipeline, sandbox, last):
    """A CRM user deleted a learner's Contact. Two work loops at once: one re-creates the Contact (a new id),
    the other writes a grade that links to it, having read the old id. The gate holds the CRM write of the
    job that commits last; whichever it is, the grade ends linked to the Contact that exists."""
    pipeline.send(pipeline.message("user.created", "user:53", user(53)))
    pipeline.drain()
    old_contact = contact(sandbox, 53)["id"]
    delete_as_crm_user(sandbox, "Contacts", old_contact)
    profile = pipeline.message("user.updated", "user:53", user(53, "Back"))
    new_grade = pipeline.message("grade.updated", "grade:53:41", grade(53, 41, 88.0))
    first, second = (profile, new_grade) if last == "contact" else (new_grade, profile)
    worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], cwd=REPO, start_new_session=True,
                              # The held write waits for the other job, not for the client's timeout (whose
                              # retry would read the new id anyway), and holds no write slot the other needs.
                              env={**pipeline.env, "WORKER_THREADS": "2", "SUITECRM_TIMEOUT_SECONDS": "60",
                                   "CRM_MAX_CONCURRENT_WRITES": "0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sandbox.hold("POST", "Contacts" if last == "contact" else "mdl_Grades", count=1)
        try:
            pipeline.send(first)
            sandbox.wait_until_held(1)  # the first job is inside the CRM: it read the ids it writes
            pipeline.send(second)
            wait_until_applied(pipeline, second)  # the other one wrote and committed meanwhile
        finally:
            sandbox.release()
        wait_until_applied(pipeline, first)
        pipeline.drain()  # and the rewrite the later commit asked for
    finally:
        stop_group(worker, grace=60)
    back = contact(sandbox, 53)
    assert back["first_name"] == "Back" and back["id"] != old_contact
    [linked] = [r for r in sandbox.records("mdl_Grades") if r["moodle_user_id"] == "53"]
    assert linked["mdl_grades_contactscontacts_ida"] == back["id"]


def test_deleting_a_course_ends_its_enrolments_and_removes_what_belonged_to_it(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:53", user(53)),
                  pipeline.message("enrolment.created", "enrolment:53:2", enrolment(53, 2)),
                  pipeline.message("enrolment.created", "enrolment:53:3", enrolment(53, 3)),
                  pipeline.message("grade.updated", "grade:53:41", grade(53, 41, 55.0)),
                  pipeline.message("grade.updated", "grade:53:42", grade(53, 42, 80.0, itemtype="course", cmid=None)),
                  pipeline.message("grade.updated", "grade:53:43", grade(53, 43, 90.0, cid=3, cmid=8)),
                  pipeline.message("module_completion.updated", "module_completion:53:4", module_completion(53, 4)),
                  pipeline.message("course_completion.updated", "course_completion:53:2", course_completion(53)),
                  pipeline.message("attendance.recorded", "attendance:71", attendance(71, [53])))
    pipeline.drain()
    stale_update = pipeline.message("enrolment.updated", "enrolment:53:2", enrolment(53, 2))
    deletion = pipeline.message("course.deleted", "course:2", {"id": 2, "shortname": "CRM101",
                                                              "fullname": "CRM Sync Test Course", "deleted": True})
    stale_update["sequence"] = deletion["sequence"] - 1  # read before the deletion, arriving after it
    pipeline.send(deletion)
    pipeline.drain()
    pipeline.send(stale_update)
    pipeline.drain()

    enrolments = {r["moodle_course_id"]: r for r in sandbox.records("mdl_Enrolments")}
    assert enrolments["2"]["status"] == "unenrolled"
    assert enrolments["3"]["status"] == "active"  # another course: untouched
    assert [r["moodle_course_id"] for r in sandbox.records("mdl_Grades")] == ["3"]
    assert sandbox.records("mdl_Completions") == [] and sandbox.records("mdl_Attendance") == []
    course = next(r for r in sandbox.records("mdl_Courses") if r["moodle_course_id"] == "2")
    assert course["visible"] == "0"  # kept for the reports' history, shown as gone
    assert pipeline.status_of(stale_update) == "skipped"
    assert {e.status for e in pipeline.events()} <= {"applied", "skipped"}


def test_deleting_an_activity_or_a_grade_item_removes_its_grades_and_completions(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:54", user(54)),
                  pipeline.message("grade.updated", "grade:54:44", grade(54, 44, 50.0, cmid=5)),
                  pipeline.message("grade.updated", "grade:54:45", grade(54, 45, 60.0, cmid=6)),
                  pipeline.message("grade.updated", "grade:54:46", grade(54, 46, 70.0, itemtype="manual", cmid=None)),
                  pipeline.message("module_completion.updated", "module_completion:54:5", module_completion(54, 5)),
                  pipeline.message("module_completion.updated", "module_completion:54:6", module_completion(54, 6)))
    pipeline.drain()
    pipeline.send(pipeline.message("activity.deleted", "activity:5", {"id": 5, "courseid": 2, "modname": "assign",
                                                                     "instance": 1, "deleted": True}),
                  pipeline.message("grade_item.deleted", "grade_item:46", {"id": 46, "courseid": 2,
                                                                          "itemtype": "manual", "deleted": True}))
    pipeline.drain()

    assert [r["moodle_item_id"] for r in sandbox.records("mdl_Grades")] == ["45"]
    assert [r["moodle_cm_id"] for r in sandbox.records("mdl_Completions")] == ["6"]
    assert {e.status for e in pipeline.events()} == {"applied"}


# --- outages that lose nothing -----------------------------------------------------------------
def test_a_crm_outage_longer_than_every_retry_loses_nothing_and_dead_letters_nothing(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:55", user(55)))
    pipeline.drain()  # the CRM worked: a token is cached, as in production
    short = {"JOB_MAX_RETRIES": "1", "JOB_RETRY_BASE_SECONDS": "1", "JOB_RETRY_MAX_SECONDS": "1",
             "CRM_PAUSE_SECONDS": "1"}
    sandbox.stop()  # SuiteCRM is down: its port refuses connections
    messages = [pipeline.message("user.updated", f"user:{uid}", user(uid, f"During{uid}")) for uid in range(55, 65)]
    pipeline.send(*messages)
    # Ten rounds of sweeper and workers: each event is tried again and again, far past its one retry.
    for _ in range(10):
        subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env={**pipeline.env, **short}, cwd=REPO,
                       capture_output=True, check=True)
        burst(pipeline, **short)
        time.sleep(1.1)  # let the pause (CRM_PAUSE_SECONDS) end, so the next round asks the CRM again
    events = pipeline.events()
    assert [e.status for e in events if e.status == "failed"] == []
    assert all(e.attempts <= 1 for e in events)
    sandbox.start()  # back, on the same port, empty (a restored CRM)
    pipeline.drain(env=short)

    assert {e.status for e in pipeline.events()} == {"applied"}
    assert {uid: contact(sandbox, uid)["first_name"] for uid in range(55, 65)} == {
        uid: f"During{uid}" for uid in range(55, 65)}


def test_a_revoked_oauth_client_pauses_until_the_credentials_are_fixed(pipeline, sandbox):
    wrong = {"SUITECRM_CLIENT_SECRET": "not-the-secret", "CRM_PAUSE_SECONDS": "1"}
    messages = [pipeline.message("user.created", f"user:{uid}", user(uid)) for uid in range(66, 70)]
    pipeline.send(*messages)
    for round_number in range(3):
        if round_number:
            time.sleep(1.1)  # let the pause end, so this round asks the CRM again
        subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env={**pipeline.env, **wrong}, cwd=REPO,
                       capture_output=True, check=True)
        log = burst(pipeline, **wrong)
    events = pipeline.events()
    assert {e.status for e in events} == {"queued"}  # waiting, with their retries intact
    assert all(e.attempts == 0 for e in events)
    assert any("refused the OAuth2 client" in (e.last_error or "") for e in events)
    assert "not-the-secret" not in log
    pipeline.drain()  # the operator put the right secret back

    assert {e.status for e in pipeline.events()} == {"applied"}
    assert all(contact(sandbox, uid) for uid in range(66, 70))


# --- no loops, no half links -------------------------------------------------------------------
def test_an_unexpected_error_is_dead_lettered_once_with_its_reason(pipeline, sandbox):
    broken = str(uuid.uuid4())
    with db.session_scope(pipeline.database_url) as session:
        # A row an older version stored: valid envelope, a data shape the mapping does not expect.
        payload = pipeline.message("enrolment.updated", "enrolment:71:2", {"userid": 71, "courseid": 2})
        payload["id"] = broken
        session.add(InboxEvent(id=broken, site_id=SITE["id"], type="enrolment.updated", subject="enrolment:71:2",
                               sequence=payload["sequence"], occurred_at=utcnow(), status=EventStatus.PENDING,
                               attempts=0, payload=payload))
    huge = pipeline.message("course_access.updated", "course_access:72:2",
                            {"userid": 72, "courseid": 2, "lastaccess": 2**62})
    assert pipeline.post_raw([huge]) == 422  # a time the CRM cannot store is refused at the door
    pipeline.send(pipeline.message("user.created", "user:71", user(71)),
                  pipeline.message("user.created", "user:72", user(72)),
                  pipeline.message("enrolment.created", "enrolment:72:2", enrolment(72)))
    for _ in range(4):  # the sweeper and the workers keep running: a dead letter stays one
        pipeline.drain()
        subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env=pipeline.env, cwd=REPO,
                       capture_output=True, check=True)
        burst(pipeline)

    with db.session_scope(pipeline.database_url) as session:
        event = session.get(InboxEvent, broken)
        dead = [t for t in session.scalars(select(EventTransition).where(EventTransition.event_id == broken))
                if t.status == "failed"]
        assert (event.status, event.attempts, len(dead)) == ("failed", 1, 1)
        assert event.last_error.startswith("KeyError: ")
    assert huge["id"] not in {e.id for e in pipeline.events()}


def test_children_wait_for_a_learner_matched_by_email_and_then_link_to_that_contact(pipeline, sandbox):
    token = requests.post(f"{sandbox.url}/Api/access_token", timeout=5, json={
        "grant_type": "client_credentials", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret}).json()["access_token"]
    existing = requests.post(f"{sandbox.url}/Api/V8/module", timeout=5, headers={"Authorization": f"Bearer {token}"},
                             json={"data": {"type": "Contacts", "attributes": {
                                 "first_name": "Known", "last_name": "Customer",
                                 "email1": "student73@example.invalid"}}}).json()["data"]["id"]
    match = {"CONTACT_MATCH_BY_EMAIL": "true"}
    child = pipeline.message("enrolment.created", "enrolment:73:2", enrolment(73))
    pipeline.send(child)  # a backfill with several workers: the enrolment before its learner
    pipeline.drain(env=match)
    assert pipeline.status_of(child) == "waiting"
    assert sandbox.records("mdl_Enrolments") == []
    status = subprocess.run([sys.executable, "-m", "crmsync", "status"], env=pipeline.env, cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    assert f"waiting for user:73 of site {SITE['id']} to reach the CRM: 1" in status  # the operator sees why
    assert "oldest not yet applied: none" not in status
    pipeline.send(pipeline.message("user.created", "user:73", user(73)))
    pipeline.drain(env=match)

    assert pipeline.status_of(child) == "applied"
    enrolled = sandbox.records("mdl_Enrolments")[0]
    assert enrolled["mdl_enrolments_contactscontacts_ida"] == existing


def test_a_child_left_waiting_after_its_parent_reached_the_crm_is_released_by_the_sweeper(pipeline, sandbox):
    """Two workers at once: the learner's job reached the CRM and released the children waiting for it; the
    enrolment's job, which had found no Contact, committed its wait after that, and its worker died before it
    looked again. Nobody is left to release it: the sweeper does."""
    pipeline.send(pipeline.message("user.created", "user:74", user(74)))
    pipeline.drain()
    child = pipeline.message("enrolment.created", "enrolment:74:2", enrolment(74))
    pipeline.send(child)
    with db.session_scope(pipeline.database_url) as session:  # the state that leaves behind
        event = session.get(InboxEvent, child["id"])
        event.status, event.waiting_for = EventStatus.WAITING, "user:74"
        event.updated_at = utcnow() - timedelta(minutes=5)
    subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env=pipeline.env, cwd=REPO, capture_output=True,
                   check=True)
    pipeline.drain()

    assert pipeline.status_of(child) == "applied"
    [enrolled] = sandbox.records("mdl_Enrolments")
    assert enrolled["mdl_enrolments_contactscontacts_ida"] == contact(sandbox, 74)["id"]


def test_a_restore_and_a_reinstall_of_moodle_duplicate_nothing_and_go_back_on_nothing(pipeline, sandbox, tmp_path):
    state = tmp_path / "site.json"
    sites = set()
    for phase, name in (("install", "Installed"), ("restore", "Restored"), ("reinstall", "Reinstalled")):
        sent = subprocess.run(["php", "tests/php/tools/deliver_after_restore.php", phase, pipeline.url,
                               pipeline.secret, str(state)], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        sites.add(json.loads(sent.stdout)["site"])
        pipeline.drain()
        assert contact(sandbox, 3)["first_name"] == name  # the plugin's PHP built and signed it

    assert len(sites) == 1
    assert len(sandbox.records("Contacts")) == 1
    assert {e.status for e in pipeline.events()} == {"applied"}


def test_anonymised_learner_is_never_written_back(pipeline, sandbox):
    anonymise = {"CONSENT_WITHDRAWAL_POLICY": "anonymise"}
    pipeline.send(pipeline.message("user.created", "user:74", user(74, "Private")))
    pipeline.drain(env=anonymise)
    pipeline.send(pipeline.message("consent.updated", "consent:74:1", {
        "userid": 74, "policyversionid": 1, "policyid": 1, "policyname": "Marketing", "status": "withdrawn",
        "timemodified": 1795351200}))
    pipeline.drain(env=anonymise)
    assert contact(sandbox, 74)["first_name"] == "Deleted"
    assert contact(sandbox, 74)["email1"] == ""  # the package's e-mail hook lets the PATCH blank it
    sandbox.clear_calls()
    later = [pipeline.message("user.updated", "user:74", user(74, "Private", city="Berlin")),
             pipeline.message("course_access.updated", "course_access:74:2",
                              {"userid": 74, "courseid": 2, "lastaccess": 1795351300})]
    pipeline.send(*later)
    pipeline.drain(env=anonymise)

    anonymous = contact(sandbox, 74)
    assert (anonymous["first_name"], anonymous["last_name"], anonymous["primary_address_city"],
            anonymous["email1"]) == ("Deleted", "learner", "", "")
    assert pipeline.writes("Contacts") == 0


def test_after_consent_withdrawal_under_the_delete_policy_nothing_more_is_written_and_nothing_fails(pipeline,
                                                                                                    sandbox):
    delete = {"CONSENT_WITHDRAWAL_POLICY": "delete"}
    pipeline.send(pipeline.message("user.created", "user:75", user(75, "Gone")),
                  pipeline.message("grade.updated", "grade:75:47", grade(75, 47, 40.0)))
    pipeline.drain(env=delete)
    pipeline.send(pipeline.message("consent.updated", "consent:75:1", {
        "userid": 75, "policyversionid": 1, "status": "withdrawn", "timemodified": 1795351200}))
    pipeline.drain(env=delete)
    assert contact(sandbox, 75) is None
    sandbox.clear_calls()
    later = [pipeline.message("user.updated", "user:75", user(75, "Gone", city="Oslo")),
             pipeline.message("grade.updated", "grade:75:47", grade(75, 47, 90.0)),
             pipeline.message("enrolment.updated", "enrolment:75:2", enrolment(75))]
    pipeline.send(*later)
    pipeline.drain(env=delete)

    assert contact(sandbox, 75) is None
    assert [c for c in sandbox.calls() if c["method"] in ("POST", "PATCH")
            and c.get("module") in ("Contacts", "mdl_Grades", "mdl_Enrolments")] == []
    assert {pipeline.status_of(m) for m in later} <= {"applied", "skipped"}  # none is a dead letter


def test_a_changed_email_reaches_the_contact(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:76", user(76, email="old76@example.invalid")))
    pipeline.drain()
    pipeline.send(pipeline.message("user.updated", "user:76", user(76, email="new76@example.invalid")))
    pipeline.drain()
    assert contact(sandbox, 76)["email1"] == "new76@example.invalid"


def test_operators_are_told_of_an_outage_from_its_third_failure_until_the_crm_answers(pipeline, redis_client):
    from crmsync import pause

    def status() -> str:
        return subprocess.run([sys.executable, "-m", "crmsync", "status"], env=pipeline.env, cwd=REPO,
                              capture_output=True, text=True, check=True).stdout

    pause.start(redis_client, "POST module: SuiteCRM answered 503", longest=1)
    pause.start(redis_client, "POST module: SuiteCRM answered 503", longest=1)
    assert "connector: running" in status()  # two failures: the odd dropped call, not an outage
    pause.start(redis_client, "SuiteCRM refused the OAuth2 client: invalid_client", longest=1)
    assert "connector: paused, SuiteCRM unavailable: SuiteCRM refused the OAuth2 client" in status()
    pause.resolved(redis_client)  # the next successful write
    assert "connector: running" in status()
