"""Faults of the CRM and of the workers end in the right final state, with nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.connector.conftest import user
from tests.support import REPO


def names(sandbox) -> dict[str, str]:
    return {r["moodle_user_id_c"]: r["first_name"] for r in sandbox.records("Contacts")}


def test_errors_throttling_and_garbage_bodies_are_retried_to_the_right_state(pipeline, sandbox):
    sandbox.set_faults(error_rate=0.2, throttle_rate=0.05, db_failure_rate=0.05, retry_after_seconds=1, seed=7)
    messages = [pipeline.message("user.updated", f"user:{uid}", user(uid, f"Learner{uid}")) for uid in range(10, 20)]
    pipeline.send(*messages)
    # Enough retries that a 30 % failure rate per call cannot exhaust them (that path has its own test); a 429
    # pauses work, here for a second instead of 30 (pauses have their own tests).
    pipeline.drain(timeout=180, env={"JOB_MAX_RETRIES": "20", "CRM_PAUSE_SECONDS": "1"})
    sandbox.clear_faults()

    assert names(sandbox) == {str(uid): f"Learner{uid}" for uid in range(10, 20)}
    events = pipeline.events()
    assert {e.status for e in events} == {"applied"}
    assert any(e.attempts > 1 for e in events), "the injected faults should have forced retries"


def test_a_revoked_token_is_replaced(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:21", user(21, "Before")))
    pipeline.drain()
    sandbox.revoke_tokens()
    pipeline.send(pipeline.message("user.updated", "user:21", user(21, "After")))
    pipeline.drain()
    assert names(sandbox)["21"] == "After"
    assert {e.status for e in pipeline.events()} == {"applied"}


def test_a_rejected_write_is_a_dead_letter_and_replays_after_the_fix(pipeline, sandbox, tmp_path):
    broken = tmp_path / "mapping.yaml"
    broken.write_text("contact:\n  first_name: firstname\n  last_name: lastname\n  nickname: username\n")
    message = pipeline.message("user.created", "user:22", user(22, "Dora"))
    pipeline.send(message)
    pipeline.drain(env={"FIELD_MAPPING_FILE": str(broken)})

    failed = next(e for e in pipeline.events() if e.id == message["id"])
    assert failed.status == "failed"
    assert "Property nickname in Contact module is invalid" in failed.last_error  # the CRM's own answer
    assert "22" not in names(sandbox)

    replay = subprocess.run([sys.executable, "-m", "crmsync", "replay", "--status", "failed"], env=pipeline.env,
                            cwd=REPO, capture_output=True, text=True)
    assert replay.returncode == 0, replay.stderr
    assert "1 events queued again" in replay.stdout
    pipeline.drain()
    assert pipeline.status_of(message) == "applied"
    assert names(sandbox)["22"] == "Dora"


@pytest.mark.slow
def test_a_worker_killed_mid_job_loses_nothing(pipeline, sandbox):
    sandbox.set_faults(latency_ms=5000)
    pipeline.env["SUBJECT_LEASE_SECONDS"] = "3"  # how long the killed worker's subject stays claimed
    message = pipeline.message("user.created", "user:23", user(23, "Survivor"))
    pipeline.send(message)
    worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=pipeline.env, cwd=REPO,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while next(e for e in pipeline.events() if e.id == message["id"]).attempts == 0:
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-request
        worker.wait()
    sandbox.clear_faults()
    assert pipeline.status_of(message) == "queued"

    pipeline.drain(timeout=240)
    assert pipeline.status_of(message) == "applied"
    assert names(sandbox)["23"] == "Survivor"


def test_exhausted_retries_end_as_a_dead_letter(pipeline, sandbox):
    # A 500 may be about this request; 502/503/504 mean the CRM is away, which pauses instead (test_guarantees).
    pipeline.send(pipeline.message("user.created", "user:25", user(25)))
    pipeline.drain()  # logged in: the shared token is cached, so only the write below meets the 500s
    sandbox.set_faults(error_rate=1.0, error_statuses=[500])
    message = pipeline.message("user.created", "user:24", user(24))
    pipeline.send(message)
    pipeline.drain(env={"JOB_MAX_RETRIES": "1"})
    sandbox.clear_faults()
    failed = next(e for e in pipeline.events() if e.id == message["id"])
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert "500" in failed.last_error


def test_hanging_crm_calls_time_out_and_are_retried(pipeline, sandbox):
    sandbox.set_faults(hang_rate=0.3, hang_seconds=4, seed=5)
    messages = [pipeline.message("user.updated", f"user:{uid}", user(uid, f"Slow{uid}")) for uid in range(40, 45)]
    pipeline.send(*messages)
    pipeline.drain(timeout=240, env={"SUITECRM_TIMEOUT_SECONDS": "1", "JOB_MAX_RETRIES": "20"})
    sandbox.clear_faults()
    assert {uid: names(sandbox).get(str(uid)) for uid in range(40, 45)} == {uid: f"Slow{uid}" for uid in range(40, 45)}
    events = pipeline.events()
    assert {e.status for e in events} == {"applied"}
    # The client gave up after 1 s on the hanging calls, and those events succeeded on a later attempt.
    assert any("timed out" in (e.last_error or "") and e.attempts > 1 for e in events)
