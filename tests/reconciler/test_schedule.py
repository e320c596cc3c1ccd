"""RECONCILE_SCHEDULE: exactly one run enqueued when it is due, by whichever worker looks first.

The time is passed in (the workers' loop passes the clock's); nothing sleeps.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import Queue

from crmsync import config
from reconciler import schedule


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
