"""Reconciliation over real parts: the Moodle sandbox's export_state and resend over HTTP, the SuiteCRM
sandbox over HTTP, the receiver and worker processes of the normal path, real Redis and a real database.

The CRM is first brought in step the way a backfill does it (every exported message through the receiver),
then made to diverge by hand; the report must list exactly what an admin would see.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import uuid

import pytest
import requests
from click.testing import CliRunner

from crm_connector.moodle.client import MoodleClient
from crm_connector.suitecrm import SuiteCrmClient
from crmsync import db
from crmsync.models import ReconcileRun, ReconcileStatus
from reconciler import moodle_state, report
from reconciler.commands import reconcile as reconcile_command
from reconciler.repair import repair
from reconciler.run import RunInProgress, reconcile
from tests.conftest import fresh_moodle

FAST = {"reconcile_moodle_rps": 1000.0, "reconcile_crm_rps": 1000.0}


@pytest.fixture
def moodle(moodle_process):
    return fresh_moodle(moodle_process, "recorded")


def exported(moodle, kind: str | None = None) -> list[dict]:
    client = MoodleClient(moodle.url, moodle.token)
    messages = []
    for each in (kind,) if kind else moodle_state.KINDS:
        fromid = 0
        while True:
            answer = client.export_state(each, fromid=fromid, limit=1000)
            messages += [json.loads(item["message"]) for item in answer["items"]]
            fromid = answer["nextfromid"]
            if not fromid:
                break
    return messages


def deliver(pipeline, messages: list[dict]) -> None:
    """As the plugin's outbox delivers them: fresh ids and sequences, signed, through the receiver."""
    fresh = []
    for message in messages:
        pipeline.sequence += 1
        fresh.append({**message, "id": str(uuid.uuid4()), "sequence": pipeline.sequence})
    pipeline.send(*fresh)
    pipeline.drain()


GONE = 90  # a learner of the sandbox's site who is deleted later, by a path that fires no event


@pytest.fixture
def in_step(pipeline, moodle):
    """The CRM as a backfill leaves it, and the settings a reconciliation of the Moodle sandbox reads."""
    moodle.seed(user=[{"id": GONE, "username": "leaver", "firstname": "Lea", "lastname": "Ver",
                       "email": "leaver@example.invalid", "timemodified": 1795344000}])
    messages = exported(moodle)
    deliver(pipeline, messages)
    site = messages[0]["site"]["id"]
    settings = pipeline.settings.replace(moodle_url=moodle.url, moodle_token=moodle.token, moodle_site_id=site,
                                         reconcile_page_size=1, **FAST)
    return settings, site


def found(settings, run_id: int) -> set[tuple]:
    with db.session_scope(settings.database_url) as session:
        return {(d.kind, d.key, d.field, d.moodle_value, d.crm_value)
                for d in report.differences(session, run_id)}


def crm(pipeline) -> SuiteCrmClient:
    return SuiteCrmClient(pipeline.sandbox.url, pipeline.sandbox.client_id, pipeline.sandbox.client_secret)


def contact_of(pipeline, uid: int) -> dict:
    return next(c for c in pipeline.sandbox.records("Contacts") if c.get("moodle_user_id_c") == str(uid))


def resent_messages(moodle) -> list[dict]:
    """What the plugin's outbox sends for the subjects resend recorded: each one's current state, or the
    deletion of a user who is gone (only `id` and `deleted`, as the plugin sends it)."""
    current = {m["subject"]: m for m in exported(moodle)}
    site = next(iter(current.values()))["site"]
    messages = []
    for row in moodle.records("local_crmsync_outbox"):
        if row["subject"] in current:
            messages.append(current[row["subject"]])
        else:
            assert row["subject"].startswith("user:"), row
            uid = int(row["subject"].split(":")[1])
            messages.append({"id": str(uuid.uuid4()), "type": "user.deleted", "occurred_at": "2026-12-02T01:00:00Z",
                             "sequence": 0, "subject": row["subject"], "site": site, "moodle_event": None,
                             "data": {"id": uid, "deleted": True}})
    return messages


def gone_from_moodle(moodle) -> int:
    moodle.reset("recorded")  # the recorded site, without the leaver: no event was sent
    return GONE


def report_of(settings, run_id: int) -> list:
    with db.session_scope(settings.database_url) as session:
        return report.differences(session, run_id)


def run_of(settings, run_id: int) -> ReconcileRun:
    with db.session_scope(settings.database_url) as session:
        return session.get(ReconcileRun, run_id)


def learners(moodle) -> list[int]:
    """The Moodle users the export names (the synced people), lowest id first."""
    return sorted(int(m["data"]["id"]) for m in exported(moodle, "user"))


def test_what_was_changed_by_hand_is_reported_with_both_values_and_repair_puts_it_right(pipeline, moodle, in_step,
                                                                                       monkeypatch):
    settings, site = in_step
    assert found(settings, reconcile(settings)) == set(), "a backfilled CRM differs from Moodle"
    edited, deleted = learners(moodle)[:2]
    api = crm(pipeline)
    moodle_lastname = contact_of(pipeline, edited)["last_name"]
    api.update("Contacts", contact_of(pipeline, edited)["id"], {"last_name": "Edited by hand"})
    deleted_id = contact_of(pipeline, deleted)["id"]
    api.delete("Contacts", deleted_id)
    kept_id = contact_of(pipeline, edited)["id"]
    second = api.create("Contacts", {"last_name": "Again", "moodle_site_id_c": site,
                                     "moodle_user_id_c": str(edited)})["id"]
    stranger = api.create("Contacts", {"last_name": "Nobody", "moodle_site_id_c": site, "moodle_user_id_c": "777"})["id"]
    gone = gone_from_moodle(moodle)
    # A group created in Moodle whose event never arrived (the plugin was disabled).
    [group] = MoodleClient(moodle.url, moodle.token).create_groups([{"courseid": 2, "name": "Group C",
                                                                      "description": "", "idnumber": "GC"}])

    run_id = reconcile(settings)
    assert found(settings, run_id) == {
        ("field_differs", f"user:{edited}", "last_name", moodle_lastname, "Edited by hand"),
        ("missing_in_crm", f"user:{deleted}", None, None, None),
        ("duplicate_contact", f"user:{edited}", "id", kept_id, second),
        ("extra_in_crm", f"user:{gone}", None, None, None),
        ("unknown_moodle_user", "user:777", "moodle_user_id_c", None, "777"),
        ("missing_in_crm", f"group:{group['id']}", None, None, None),
    }
    run = run_of(settings, run_id)
    assert run.status == ReconcileStatus.DONE and run.counts == {
        "field_differs": {"user": 1}, "missing_in_crm": {"user": 1, "group": 1}, "duplicate_contact": {"user": 1},
        "extra_in_crm": {"user": 1}, "unknown_moodle_user": {"user": 1}}

    # A dry run says what it would do and changes nothing anywhere.
    requests.delete(f"{moodle.url}/__sandbox/calls", timeout=5)
    pipeline.sandbox.clear_calls()
    mark = settings.replace(reconcile_extra_records="mark")
    with db.session_scope(settings.database_url) as session:
        planned = repair(session, mark, run_id, dry_run=True)
    assert {a["action"] for a in planned} == {"resend", "none"}
    assert not [c for c in moodle.calls() if c.get("function") == "local_crmsync_resend"]
    assert not [c for c in pipeline.sandbox.calls() if c["method"] != "GET" and "/V8/" in c["path"]]
    with db.session_scope(settings.database_url) as session:
        assert all(d.repaired_at is None for d in report.differences(session, run_id))

    # The repair: Moodle resends the subjects, and they travel the normal path.
    with db.session_scope(settings.database_url) as session:
        done = repair(session, mark, run_id)
    resent = {a["subject"] for a in done if a["action"] == "resend"}
    assert resent == {f"user:{edited}", f"user:{deleted}", f"user:{gone}", f"group:{group['id']}"}
    pipeline.sandbox.clear_calls()
    contacts_before = len(pipeline.sandbox.records("Contacts"))
    deliver(pipeline, resent_messages(moodle))
    written = {c.get("module") for c in pipeline.sandbox.calls() if c["method"] != "GET" and "/V8/" in c["path"]}
    # The Contact deleted by hand comes back under a new id, and its learner's enrolments (with their course)
    # are written again to link to it (cascade.to_relink).
    assert written == {"Contacts", "mdl_Groups", "mdl_Enrolments", "mdl_Courses"}
    assert len(pipeline.sandbox.records("Contacts")) == contacts_before + 1
    back = contact_of(pipeline, deleted)["id"]
    links = [r["mdl_enrolments_contactscontacts_ida"] for r in pipeline.sandbox.records("mdl_Enrolments")
             if r["moodle_user_id"] == str(deleted)]
    assert back != deleted_id and links and set(links) == {back}
    assert {(d.kind, d.key) for d in report_of(settings, reconcile(settings))} == {
        ("duplicate_contact", f"user:{edited}"), ("unknown_moodle_user", "user:777")}, \
        "only the identity problems, which need a person, are left"
    assert crm(pipeline).get("Contacts", kept_id)["last_name"] == moodle_lastname
    # Nothing else was written: the identity problems are as they were.
    assert crm(pipeline).get("Contacts", second)["last_name"] == "Again"
    assert crm(pipeline).get("Contacts", stranger)["last_name"] == "Nobody"


class Stopped(Exception):
    """The process running a reconciliation stopped (a deploy, a crash), forced after a chosen page."""


ONE_ENGINE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@ONE_ENGINE
def test_an_interrupted_run_goes_on_from_its_checkpoint_and_finds_each_difference_once(pipeline, moodle, in_step):
    settings, _site = in_step
    edited = learners(moodle)[0]
    crm(pipeline).update("Contacts", contact_of(pipeline, edited)["id"], {"first_name": "Changed"})
    crm(pipeline).update("mdl_Courses", next(c["id"] for c in pipeline.sandbox.records("mdl_Courses")),
                         {"shortname": "RENAMED"})
    whole = run_of(settings, reconcile(settings))  # the same comparison, not interrupted

    def stop_in_the_crm_phase(progress):
        if progress.phase == "crm" and progress.name == "mdl_Courses":
            raise Stopped()

    with pytest.raises(Stopped):
        reconcile(settings, progress=stop_in_the_crm_phase)
    stopped = run_of(settings, whole.id + 1)
    assert stopped.status == ReconcileStatus.INTERRUPTED and stopped.checkpoint["phase"] == "crm"
    before = dict(stopped.requests)

    resumed_id = reconcile(settings)
    resumed = run_of(settings, resumed_id)
    assert resumed_id == stopped.id and resumed.status == ReconcileStatus.DONE
    # Nothing was read twice: the two parts together made the requests of the whole comparison.
    assert resumed.requests == whole.requests and before["moodle"] == whole.requests["moodle"]
    assert found(settings, resumed_id) == found(settings, whole.id) and len(report_of(settings, resumed_id)) == 2

    # What an admin reads: `crmsync reconcile report` as CSV, and the summary `crmsync reconcile` ends with.
    env = {**pipeline.env, "MOODLE_URL": moodle.url, "MOODLE_TOKEN": moodle.token, "MOODLE_SITE_ID": settings.moodle_site_id,
           "RECONCILE_MOODLE_RPS": "1000", "RECONCILE_CRM_RPS": "1000"}
    runner, obj = CliRunner(), {"env_file": str(pipeline.tmp_path / "no.env")}
    shown = runner.invoke(reconcile_command, ["report", str(resumed_id), "--format", "csv"], obj=obj, env=env)
    assert shown.exit_code == 0, shown.output
    assert {(row["kind"], row["field"], row["crm_value"]) for row in csv.DictReader(io.StringIO(shown.output))} == {
        ("field_differs", "first_name", "Changed"), ("field_differs", "shortname", "RENAMED")}
    again = runner.invoke(reconcile_command, [], obj=obj, env=env)
    assert again.exit_code == 0, again.output
    assert re.search(r"^field_differs\s+1\s+1\s+2$", again.stdout, re.M), again.stdout


@ONE_ENGINE
def test_two_runs_never_overlap(pipeline, moodle, in_step):
    settings, _site = in_step
    inside, go_on, finished = threading.Event(), threading.Event(), []

    def hold_after_the_first_page(progress):
        if progress.page == 1:
            inside.set()
            assert go_on.wait(60)

    first = threading.Thread(target=lambda: finished.append(reconcile(settings, progress=hold_after_the_first_page)))
    first.start()
    try:
        assert inside.wait(60)
        with pytest.raises(RunInProgress):
            reconcile(settings, trigger="api")
    finally:
        go_on.set()
        first.join(60)
    assert finished and run_of(settings, finished[0]).status == ReconcileStatus.DONE
    assert reconcile(settings) == finished[0] + 1  # once it is done, the next one starts


class Clock:
    """Time the pacing waits on, moved on by its sleeps only: requests are counted, never timed."""

    def __init__(self):
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@ONE_ENGINE
def test_requests_to_each_system_are_capped_per_second(pipeline, moodle, in_step):
    settings, _site = in_step
    settings = settings.replace(reconcile_moodle_rps=2.0, reconcile_crm_rps=4.0)
    requests.delete(f"{moodle.url}/__sandbox/calls", timeout=5)
    pipeline.sandbox.clear_calls()
    clock = Clock()
    run = run_of(settings, reconcile(settings, clock=clock.time, sleep=clock.sleep))
    moodle_requests = sum(1 for c in moodle.calls() if c.get("function") == "local_crmsync_export_state")
    crm_requests = sum(1 for c in pipeline.sandbox.calls() if "/Api/V8/" in c["path"])
    assert run.requests == {"moodle": moodle_requests, "crm": crm_requests} and moodle_requests > 10
    # The phases run one after the other, each system's requests at most its cap per second.
    assert clock.now >= (moodle_requests - 1) / 2.0 + (crm_requests - 1) / 4.0


@ONE_ENGINE
def test_a_crm_owned_field_moodle_lost_is_written_to_moodle_again_from_the_crm(sandbox, moodle, database_url,
                                                                              redis_url, tmp_path, monkeypatch):
    from tests.connector.conftest import SITE
    from tests.connector.crm_side import TwoWayPipeline, now

    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("contact:\n  first_name: {moodle: firstname, owner: shared}\n  last_name: lastname\n"
                       "  email1: email\n  moodle_username_c: username\n"
                       "  department: {moodle: department, owner: crm}\n")
    moodle.set_config(siteurl=SITE["url"], crmsync_siteid=SITE["id"])  # the site the pipeline's helpers name
    two_way = TwoWayPipeline(sandbox, moodle, database_url, redis_url, tmp_path, monkeypatch,
                             FIELD_MAPPING_FILE=str(mapping))
    try:
        learner = learners(moodle)[0]
        deliver(two_way, exported(moodle))
        two_way.send_crm(two_way.crm_user_saves({"department": "Sales"}, now(), uid=learner))
        two_way.drain()
        assert two_way.moodle_user(learner)["department"] == "Sales"
        # An admin changes it in Moodle by a path that fires no event; the CRM owns it.
        MoodleClient(moodle.url, moodle.token).update_users([{"id": learner, "department": "Support"}])
        settings = two_way.settings.replace(moodle_url=moodle.url, moodle_token=moodle.token,
                                            moodle_site_id=SITE["id"], field_mapping_file=str(mapping), **FAST)

        run_id = reconcile(settings)
        [difference] = report_of(settings, run_id)
        assert (difference.kind, difference.field, difference.moodle_value, difference.crm_value,
                difference.owner) == ("field_differs", "department", "Support", "Sales", "crm")
        with db.session_scope(settings.database_url) as session:
            [action] = repair(session, settings, run_id)
        assert action["action"] == "rewrite_crm"
        two_way.drain()
        assert two_way.moodle_user(learner)["department"] == "Sales"
        assert report_of(settings, reconcile(settings)) == []
    finally:
        two_way.close()
