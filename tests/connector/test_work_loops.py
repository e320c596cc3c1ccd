"""WORKER_THREADS: one worker process applies that many subjects at once, and stops as a worker should.

The sandbox's gate holds the learners' lookups inside the CRM: only a process with that many work loops
can have them all there at once. Nothing is decided by timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from redis import Redis
from rq import Worker

from tests.connector.conftest import Pipeline, user
from tests.support import REPO


@pytest.fixture
def sqlite_pipeline(sandbox, sqlite_url, redis_url, tmp_path):
    built = Pipeline(sandbox, sqlite_url, redis_url, tmp_path)
    yield built
    built.close()


def start_worker(pipeline: Pipeline, threads: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], cwd=REPO, start_new_session=True,
                            env={**pipeline.env, "WORKER_THREADS": str(threads), "LOG_LEVEL": "INFO"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def send_learners(pipeline: Pipeline, uids: range) -> list[dict]:
    messages = [pipeline.message("user.created", f"user:{uid}", user(uid)) for uid in uids]
    pipeline.send(*messages)
    return messages


def test_one_worker_process_applies_as_many_learners_at_once_as_it_has_work_loops(sqlite_pipeline):
    sandbox = sqlite_pipeline.sandbox
    sandbox.hold("GET", "Contacts", count=3)  # each learner's first sync looks for its Contact first
    worker = start_worker(sqlite_pipeline, threads=3)
    try:
        messages = send_learners(sqlite_pipeline, range(70, 73))
        sandbox.wait_until_held(3)  # three lookups inside the CRM at once: three jobs of one process
    finally:
        sandbox.release()
    try:
        sqlite_pipeline.drain()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.communicate(timeout=60)
    assert [sqlite_pipeline.status_of(m) for m in messages] == ["applied"] * 3
    assert sorted(c["moodle_user_id_c"] for c in sandbox.records("Contacts")) == ["70", "71", "72"]


def test_a_stopped_worker_finishes_the_jobs_in_its_hands_first(sqlite_pipeline):
    sandbox = sqlite_pipeline.sandbox
    sandbox.hold("GET", "Contacts", count=2)
    worker = start_worker(sqlite_pipeline, threads=2)
    try:
        messages = send_learners(sqlite_pipeline, range(80, 82))
        sandbox.wait_until_held(2)
        os.killpg(worker.pid, signal.SIGTERM)  # while both of its loops wait inside the CRM
    finally:
        sandbox.release()
    log = worker.communicate(timeout=60)[1]
    assert worker.returncode == 0, log[-3000:]
    # Not handed back to the sweeper: both jobs ran to the end before the process left.
    assert [sqlite_pipeline.status_of(m) for m in messages] == ["applied"] * 2
    assert "stopping after the jobs in progress" in log


def test_an_idle_worker_stops_at_once_and_leaves_no_registered_loop(sqlite_pipeline):
    redis = Redis.from_url(sqlite_pipeline.redis_url)
    worker = start_worker(sqlite_pipeline, threads=4)
    try:
        sqlite_pipeline.send(sqlite_pipeline.message("user.created", "user:90", user(90)))
        deadline = time.monotonic() + 60
        while sqlite_pipeline.waiting():  # the loops are listening: one of them took the job
            assert worker.poll() is None and time.monotonic() < deadline, "the worker applied nothing"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
    worker.communicate(timeout=30)  # idle loops notice the stop within seconds, not at RQ's 7-minute wait
    assert worker.returncode == 0
    assert not [w for w in Worker.all(connection=redis) if w.pid == worker.pid]
