"""RECONCILE_SCHEDULE: exactly one run enqueued when it is due, by whichever worker looks first.

The time is passed in (the workers' loop passes the clock's); nothing sleeps.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import pytest
import requests
from redis import Redis
from rq import Queue

from crm_connector.moodle.client import MoodleClient
from crmsync import config
from reconciler import moodle_state, schedule
from tests.reconciler.test_notify import smtp_server  # noqa: F401,F811 - a fixture


def settings(redis_url: str, **extra) -> config.Config:
    return config.load(environ={"REDIS_URL": redis_url, "QUEUE_NAME": "crmsync-test", "RECONCILE_SCHEDULE": "0 2 * * *",
                                "RECONCILE_WINDOW_HOURS": "4", **extra}, env_file=None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def queued(redis: Redis, cfg: config.Config) -> list:
    return [job for job in Queue(cfg.queue_name, connection=redis).get_jobs() if job.func_name == schedule.JOB_FUNCTION]


def test_one_run_is_enqueued_when_due_however_often_workers_look(redis_client, redis_url):
    cfg = settings(redis_url)
    assert schedule.tick(redis_client, cfg, at("2026-12-02 01:59:59")) is None
    assert queued(redis_client, cfg) == []
    job_id = schedule.tick(redis_client, cfg, at("2026-12-02 02:00:00"))
    assert job_id
    # Later rounds of the same worker, and another worker with a connection of its own, find it started.
    other_worker = Redis.from_url(redis_url)
    for now in ("2026-12-02 02:00:00", "2026-12-02 02:00:30", "2026-12-02 05:59:59"):
        assert schedule.tick(redis_client, cfg, at(now)) is None
        assert schedule.tick(other_worker, cfg, at(now)) is None
    [job] = queued(redis_client, cfg)
    assert job.id == job_id and job.args == ("schedule", at("2026-12-02 06:00:00").timestamp())
    assert schedule.active_job(redis_client) == job_id
    # Once that run is over, the rest of its window does not start it again.
    Queue(cfg.queue_name, connection=redis_client).empty()
    assert schedule.active_job(redis_client) is None
    assert schedule.tick(redis_client, cfg, at("2026-12-02 02:30:00")) is None


def test_workers_looking_at_the_same_moment_start_one_run(redis_client, redis_url):
    cfg = settings(redis_url)
    workers = 8
    barrier = threading.Barrier(workers)
    started: list[str | None] = []

    def look():
        connection = Redis.from_url(redis_url)
        barrier.wait()
        started.append(schedule.tick(connection, cfg, at("2026-12-02 02:00:10")))

    threads = [threading.Thread(target=look) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([job_id for job_id in started if job_id]) == 1
    assert len(queued(redis_client, cfg)) == 1


def test_a_worker_down_at_the_start_time_starts_it_late_but_only_within_the_window(redis_client, redis_url):
    cfg = settings(redis_url)
    assert schedule.tick(redis_client, cfg, at("2026-12-02 06:00:00")) is None  # the window closed unstarted
    assert queued(redis_client, cfg) == []
    assert schedule.tick(redis_client, cfg, at("2026-12-03 05:30:00"))  # the next night's, late


def test_a_run_still_going_at_the_next_start_is_not_doubled(redis_client, redis_url):
    cfg = settings(redis_url, RECONCILE_SCHEDULE="0 */2 * * *", RECONCILE_WINDOW_HOURS="1")
    first = schedule.tick(redis_client, cfg, at("2026-12-02 02:00:00"))
    assert first and schedule.tick(redis_client, cfg, at("2026-12-02 04:00:00")) is None
    assert [job.id for job in queued(redis_client, cfg)] == [first]
    with pytest.raises(schedule.AlreadyRunning):
        schedule.start(redis_client, cfg, "api")
    # The job died without a trace (its worker killed, Redis restored): the next start is not blocked by it.
    Queue(cfg.queue_name, connection=redis_client).empty()
    assert schedule.active_job(redis_client) is None
    assert schedule.tick(redis_client, cfg, at("2026-12-02 06:00:00"))


def test_the_schedule_is_read_in_its_time_zone(redis_client, redis_url):
    cfg = settings(redis_url, RECONCILE_TIMEZONE="Europe/Paris")
    assert schedule.tick(redis_client, cfg, at("2026-12-02 00:59:00")) is None
    assert schedule.tick(redis_client, cfg, at("2026-12-02 01:00:00"))  # 02:00 in Paris, winter time


def test_no_schedule_no_run(redis_client, redis_url):
    cfg = settings(redis_url, RECONCILE_SCHEDULE="")
    assert schedule.tick(redis_client, cfg, at("2026-12-02 02:00:00")) is None
    assert queued(redis_client, cfg) == []


# --- the job, over the real parts ------------------------------------------------------------------------

class TickingClock:
    """run_slice's clock: a second passes each time it is read (the run reads it once per page)."""

    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def reconcilable(sandbox, sqlite_url, redis_url, tmp_path, smtp_server, monkeypatch):  # noqa: F811
    """The CRM in step with the Moodle sandbox as a backfill leaves it, then one CRM-side edit; the
    settings the worker's jobs read (e-mail to the test's SMTP server), and the SMTP server's inbox."""
    from crm_connector import runtime
    from crm_connector.suitecrm import SuiteCrmClient
    from moodle_sandbox.testing import MoodleSandboxProcess
    from tests.connector.conftest import Pipeline

    port, inbox = smtp_server
    pipeline = Pipeline(sandbox, sqlite_url, redis_url, tmp_path)
    with MoodleSandboxProcess(token="5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e") as moodle:
        moodle.issue_token("crm_sync", 2, token=moodle.token)
        messages = []
        client = MoodleClient(moodle.url, moodle.token)
        for kind in moodle_state.KINDS:
            messages += [json.loads(item["message"]) for item in client.export_state(kind, limit=1000)["items"]]
        for message in messages:
            pipeline.sequence += 1
            message.update(id=str(uuid.uuid4()), sequence=pipeline.sequence)
        pipeline.send(*messages)
        pipeline.drain()
        site = messages[0]["site"]["id"]
        learner = next(c for c in sandbox.records("Contacts") if c.get("moodle_user_id_c"))
        SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret).update(
            "Contacts", learner["id"], {"last_name": "Edited by hand"})
        cfg = pipeline.settings.replace(
            moodle_url=moodle.url, moodle_token=moodle.token, moodle_site_id=site, reconcile_page_size=1,
            reconcile_moodle_rps=1000.0, reconcile_crm_rps=1000.0, reconcile_email_to=("ops@example.org",),
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="crmsync@example.org", smtp_starttls=False)
        monkeypatch.setattr(runtime, "settings", lambda: cfg)  # what the worker's jobs read
        try:
            yield cfg, pipeline, moodle, inbox, learner
        finally:
            pipeline.close()


def work_off(cfg: config.Config, redis: Redis) -> None:
    """A connector worker in this process, until the queue is empty (continuations included)."""
    from rq import SimpleWorker

    SimpleWorker([Queue(cfg.queue_name, connection=redis)], connection=redis).work(burst=True)


def test_a_scheduled_run_stops_at_its_window_end_the_next_goes_on_from_there_and_the_admins_are_told(
        reconcilable, redis_client, monkeypatch):
    from crmsync import db
    from crmsync.models import ReconcileRun
    from reconciler import report
    from reconciler.run import reconcile

    cfg, pipeline, moodle, inbox, learner = reconcilable
    whole = reconcile(cfg)  # the same comparison in one go, for its requests
    with db.session_scope(cfg.database_url) as session:
        whole_requests = session.get(ReconcileRun, whole).requests
    clock = TickingClock(start=1_000_000.0)
    monkeypatch.setattr(schedule, "clock", clock)
    monkeypatch.setattr(schedule, "SLICE_SECONDS", 5)  # a continuation every few pages

    schedule.start(redis_client, cfg, "schedule", deadline=clock.now + 8)
    work_off(cfg, redis_client)
    with db.session_scope(cfg.database_url) as session:
        stopped = report.latest(session)
        assert stopped.id == whole + 1 and stopped.status == "interrupted" and stopped.checkpoint
        assert stopped.finished_at is None and 0 < stopped.requests["moodle"] < whole_requests["moodle"]
    assert inbox.messages == [] and schedule.active_job(redis_client) is None  # the window closed: nothing queued

    schedule.start(redis_client, cfg, "schedule", deadline=clock.now + 10_000)  # the next night
    work_off(cfg, redis_client)
    with db.session_scope(cfg.database_url) as session:
        done = report.latest(session)
        assert done.id == stopped.id and done.status == "done"  # the same run, gone on with, not a new one
        assert done.requests == whole_requests  # nothing was read twice
        assert [(d.kind, d.key, d.crm_value) for d in report.differences(session, done.id)] == [
            ("field_differs", f"user:{learner['moodle_user_id_c']}", "Edited by hand")]
        finished = done.finished_at.timestamp()
    assert Queue(cfg.queue_name, connection=redis_client).count == 0 and schedule.active_job(redis_client) is None

    # The admins are told: one e-mail, a Moodle notification to each site admin, the gauges of every process.
    [(recipients, mail)] = inbox.messages
    assert recipients == ["ops@example.org"] and b"1 difference found" in mail
    notices = moodle.records("local_crmsync_notifications")
    assert notices and {n["subject"] for n in notices} == {
        f"Moodle ⇄ SuiteCRM reconciliation: 1 difference found (site {cfg.moodle_site_id}, run {done.id})"}
    metrics = requests.get(pipeline.url.replace("/webhooks/moodle", "/metrics"), timeout=10).text
    assert 'crmsync_reconcile_differences{entity="user",kind="field_differs"} 1.0' in metrics
    assert 'crmsync_reconcile_differences{entity="grade",kind="missing_in_crm"} 0.0' in metrics
    [last_run] = [line for line in metrics.splitlines() if line.startswith("crmsync_reconcile_last_run_timestamp")]
    assert float(last_run.split()[1]) == pytest.approx(finished)
