"""Fault drills. `make test` runs short versions; `make chaos` (--chaos-full) runs them longer and harder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis as redis_lib

from tests.chaos.drill import finish, send_in_batches, stream
from tests.connector.conftest import Pipeline
from tests.support import REPO, free_port, wait_for

# Full-size drills (make chaos) on a shared 2-core machine take minutes each.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture
def size(request):
    return (40, 6) if request.config.getoption("--chaos-full") else (10, 4)  # learners, versions each


@pytest.fixture
def drill_pipeline(sandbox, sqlite_url, redis_url, tmp_path):
    built = Pipeline(sandbox, sqlite_url, redis_url, tmp_path)
    yield built
    built.close()


def test_sandbox_faults(drill_pipeline, sandbox, size):
    deliveries, expected = stream(drill_pipeline, *size)
    sandbox.set_faults(error_rate=0.2, throttle_rate=0.05, db_failure_rate=0.05, reset_rate=0.03,
                       retry_after_seconds=1, seed=11)
    started = time.monotonic()
    accepted = send_in_batches(drill_pipeline, deliveries)
    sandbox.revoke_tokens()
    drill_pipeline.env["JOB_MAX_RETRIES"] = "30"
    result = finish("sandbox faults: 20 % 5xx, 429, resets, DB-failure bodies, token revocation", drill_pipeline,
                    sandbox, deliveries, expected, accepted, started)
    assert (result.lost, result.wrong, result.dead_lettered) == (0, 0, 0)


def test_worker_killed_mid_job(drill_pipeline, sandbox, size):
    deliveries, expected = stream(drill_pipeline, *size)
    sandbox.set_faults(latency_ms=300)
    started = time.monotonic()
    accepted = send_in_batches(drill_pipeline, deliveries)
    kills = 3 if size[0] > 10 else 1
    for _ in range(kills):
        worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=drill_pipeline.env, cwd=REPO,
                                  start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    sandbox.clear_faults()
    result = finish(f"worker kill -9 x{kills} mid-job", drill_pipeline, sandbox, deliveries, expected, accepted,
                    started)
    assert (result.lost, result.wrong) == (0, 0)


def test_redis_restart_loses_the_queue_not_the_events(drill_pipeline, sandbox, size, tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis():
        return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)

    server = start_redis()
    wait_for(lambda: _redis_up(url), 10, "redis-server to start", every=0.1)
    own = Pipeline(sandbox, drill_pipeline.database_url, url, tmp_path)
    try:
        deliveries, expected = stream(own, *size)
        half = len(deliveries) // 2
        started = time.monotonic()
        accepted = send_in_batches(own, deliveries[:half])
        server.terminate()  # the queue is gone: Redis keeps nothing on disk
        server.wait()
        accepted += send_in_batches(own, deliveries[half:])  # accepted as pending while Redis is down
        server = start_redis()
        while not _redis_up(url):
            time.sleep(0.1)
        result = finish("Redis restart (queue lost)", own, sandbox, deliveries, expected, accepted, started)
    finally:
        own.close()
        server.terminate()
        server.wait()
    assert (result.lost, result.wrong) == (0, 0)


def _redis_up(url: str) -> bool:
    try:
        return bool(redis_lib.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis_lib.ConnectionError:
        return False


def test_database_stopped_for_a_while(sandbox, postgres_database, redis_url, size, tmp_path):
    """The receiver answers 503 while PostgreSQL refuses connections; the sender retries; nothing is lost."""
    from sqlalchemy import create_engine, text

    from tests.conftest import TEST_POSTGRES_URL, _empty_tables

    _empty_tables(postgres_database)
    name = postgres_database.rsplit("/", 1)[1]
    admin = create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def database(up: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if up else "false"}'))
            if not up:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})

    own = Pipeline(sandbox, postgres_database, redis_url, tmp_path)
    try:
        deliveries, expected = stream(own, *size)
        half = len(deliveries) // 2
        started = time.monotonic()
        accepted = send_in_batches(own, deliveries[:half])
        database(False)
        refused = own.post_raw(deliveries[half:half + 5])
        restarter = threading.Timer(3, database, args=(True,))
        restarter.start()
        accepted += send_in_batches(own, deliveries[half:])  # retried until the database is back
        restarter.join()
        result = finish("database stopped (receiver answers 503, sender retries)", own, sandbox, deliveries,
                        expected, accepted, started)
    finally:
        database(True)
        own.close()
        admin.dispose()
    assert refused == 503
    assert (result.lost, result.wrong) == (0, 0)


def test_receiver_restarted_under_load(drill_pipeline, sandbox, size):
    deliveries, expected = stream(drill_pipeline, *size)
    started = time.monotonic()
    half = len(deliveries) // 2
    accepted = send_in_batches(drill_pipeline, deliveries[:half])
    drill_pipeline.restart_receiver(down_seconds=2)  # the sender retries while it is away
    accepted += send_in_batches(drill_pipeline, deliveries[half:])
    result = finish("receiver restarted under load", drill_pipeline, sandbox, deliveries, expected, accepted, started)
    assert (result.lost, result.wrong) == (0, 0)


def test_everything_at_once(drill_pipeline, sandbox, size, tmp_path):
    """Sandbox faults and token revocation, a receiver restart and a worker killed mid-job, together."""
    deliveries, expected = stream(drill_pipeline, *size, seed=5)
    sandbox.set_faults(error_rate=0.2, throttle_rate=0.05, reset_rate=0.03, db_failure_rate=0.05, latency_ms=100,
                       retry_after_seconds=1, seed=3)
    started = time.monotonic()
    half = len(deliveries) // 2
    accepted = send_in_batches(drill_pipeline, deliveries[:half])
    worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=drill_pipeline.env, cwd=REPO,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    drill_pipeline.restart_receiver(down_seconds=1)
    accepted += send_in_batches(drill_pipeline, deliveries[half:])
    sandbox.revoke_tokens()
    time.sleep(2)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    drill_pipeline.env["JOB_MAX_RETRIES"] = "30"
    result = finish("all at once: CRM faults, token revocation, receiver restart, worker kill -9", drill_pipeline,
                    sandbox, deliveries, expected, accepted, started)
    assert (result.lost, result.wrong, result.dead_lettered) == (0, 0, 0)


def _start_workers(pipeline: Pipeline, count: int, env: dict | None = None) -> list[subprocess.Popen]:
    """Long-running workers whose logs go to files (a pipe nobody reads would block them once full)."""
    workers = []
    for number in range(count):
        log = pipeline.tmp_path / f"worker-{number}-{time.monotonic_ns()}.log"
        with log.open("w") as out:
            worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env={**pipeline.env, **(env or {})},
                                      cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=out)
        worker.log_path = log
        workers.append(worker)
    return workers


def _stop_workers(workers: list[subprocess.Popen]) -> str:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return "".join(worker.log_path.read_text() for worker in workers)


def _stuck(pipeline: Pipeline) -> str:
    """What is left and why, for a drill that did not drain."""
    from crmsync import db
    from crmsync.models import SubjectState

    events = [e for e in pipeline.events() if e.status in ("pending", "queued", "waiting")]
    with db.session_scope(pipeline.database_url) as session:
        states = {e.subject: session.get(SubjectState, (e.site_id, e.subject)) for e in events[:5]}
    return f"{len(events)} left, e.g. " + "; ".join(
        f"{e.subject} {e.status} seq {e.sequence} attempts {e.attempts} error {e.last_error!r} state "
        f"{(s.last_sequence, s.claim_token, s.claim_expires, s.rewrite) if (s := states.get(e.subject)) else None}"
        for e in events[:5])


def test_redis_stopped_while_workers_are_busy(drill_pipeline, sandbox, size, tmp_path, request):
    """Redis goes away mid-job for a while; the same workers drain everything once it is back."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis():
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
        wait_for(lambda: _redis_up(url), 10, "redis-server")
        return server

    down_seconds = 60 if request.config.getoption("--chaos-full") else 5
    server = start_redis()
    own = Pipeline(sandbox, drill_pipeline.database_url, url, tmp_path)
    sandbox.set_faults(latency_ms=100)
    workers = _start_workers(own, 2)
    try:
        deliveries, expected = stream(own, *size)
        started = time.monotonic()
        accepted = send_in_batches(own, deliveries)
        wait_for(lambda: sum(e.status == "applied" for e in own.events()) >= 3, 60, "the workers to get busy")
        server.terminate()  # mid-job: the workers are applying events
        server.wait()
        time.sleep(down_seconds)
        assert all(w.poll() is None for w in workers), "a worker died with Redis"
        server = start_redis()
        wait_for(lambda: own.waiting() == 0, 120 + down_seconds, "the same workers to drain the queue")
        assert all(w.poll() is None for w in workers), "a worker died"
        sandbox.clear_faults()
        result = finish(f"Redis stopped {down_seconds}s while 2 workers were busy (no restart)", own, sandbox,
                        deliveries, expected, accepted, started)
    finally:
        _stop_workers(workers)
        own.close()
        server.terminate()
        server.wait()
    assert (result.lost, result.wrong, result.dead_lettered) == (0, 0, 0)


def test_crm_down_longer_than_every_retry(drill_pipeline, sandbox, size):
    """SuiteCRM refuses connections far past the events' retries; they pause, none is dead-lettered."""
    short = {"JOB_MAX_RETRIES": "1", "JOB_RETRY_BASE_SECONDS": "1", "JOB_RETRY_MAX_SECONDS": "1",
             "CRM_PAUSE_SECONDS": "2"}
    drill_pipeline.env.update(short)
    deliveries, expected = stream(drill_pipeline, *size)
    workers = _start_workers(drill_pipeline, 2)
    try:
        started = time.monotonic()
        sandbox.stop()
        accepted = send_in_batches(drill_pipeline, deliveries)
        time.sleep(30 if size[0] > 10 else 8)  # many times the retry window at this scale
        assert not any(e.status == "failed" for e in drill_pipeline.events())
        sandbox.start()
        wait_for(lambda: drill_pipeline.waiting() == 0, 180, "the queue to drain by itself")
    finally:
        _stop_workers(workers)
    result = finish("SuiteCRM down for many retry windows (workers pause)", drill_pipeline, sandbox, deliveries,
                    expected, accepted, started)
    assert (result.lost, result.wrong, result.dead_lettered) == (0, 0, 0)


@pytest.mark.parametrize("engine", ["postgres_database", "mariadb_database"])
def test_several_workers_under_sustained_load(engine, sandbox, redis_url, size, tmp_path, request):
    """Three forking workers on a production database: right records, and not one database error logged."""
    from tests.conftest import _empty_tables

    url = request.getfixturevalue(engine)
    _empty_tables(url)
    own = Pipeline(sandbox, url, redis_url, tmp_path)
    sandbox.set_faults(latency_ms=20)
    workers = _start_workers(own, 3, {"LOG_LEVEL": "INFO", "SWEEP_INTERVAL_SECONDS": "1"})
    try:
        learners, versions = size
        deliveries, expected = stream(own, learners * 3, versions, seed=9)
        started = time.monotonic()
        accepted = send_in_batches(own, deliveries, pause=0.05)
        wait_for(lambda: own.waiting() == 0, 600, "the workers to drain the queue", lambda: _stuck(own))
    finally:
        logs = _stop_workers(workers)
        own.close()
    result = finish(f"3 workers under sustained load on {engine.split('_')[0]}", own, sandbox, deliveries, expected,
                    accepted, started)
    database_errors = [line for line in logs.splitlines()
                       if any(s in line for s in ("OperationalError", "InterfaceError", "ProgrammingError",
                                                  "prepared statement", "transaction in progress",
                                                  "server closed the connection", "can't change 'autocommit'",
                                                  "Lost connection", "Commands out of sync", "Deadlock"))]
    assert database_errors == []
    assert (result.lost, result.wrong, result.dead_lettered) == (0, 0, 0)
