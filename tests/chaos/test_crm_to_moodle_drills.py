"""CRM → Moodle fault drills: the receiver away while the CRM sends, Moodle down or failing, a revoked token.

`make test` runs short versions; `--chaos-full` more learners and longer outages. Every drill ends by
comparing each learner's Moodle user with the CRM edits made, and counting Moodle writes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests

from moodle_sandbox.testing import MoodleSandboxProcess
from tests.connector.conftest import user
from tests.connector.crm_side import MOODLE_STATE_TIME, TwoWayPipeline
from tests.support import REPO

pytestmark = pytest.mark.timeout(1200)
ADMIN_TOKEN = "d" * 32
FIRST = 300


@pytest.fixture
def learners(request):
    return 12 if request.config.getoption("--chaos-full") else 3


@pytest.fixture
def moodle(learners):
    with MoodleSandboxProcess(token="feedfacefeedfacefeedfacefeedface", site="empty") as process:
        process.seed(user=[{"id": uid, "username": f"student{uid}", "firstname": "Alice", "lastname": "Anders",
                            "email": f"student{uid}@example.invalid", "timemodified": MOODLE_STATE_TIME}
                           for uid in range(FIRST, FIRST + learners)])
        yield process


@pytest.fixture
def two_way(sandbox, moodle, sqlite_url, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMIN_API_TOKENS", ADMIN_TOKEN)
    built = TwoWayPipeline(sandbox, moodle, sqlite_url, redis_url, tmp_path, monkeypatch)
    yield built
    built.close()


def synced(pipe: TwoWayPipeline, learners: int) -> list[int]:
    uids = list(range(FIRST, FIRST + learners))
    pipe.send(*[pipe.message("user.created", f"user:{uid}", user(uid)) for uid in uids])
    pipe.drain()
    return uids


def edits(pipe: TwoWayPipeline, uids: list[int]) -> list[dict]:
    """One CRM user's save per learner, as the package's outbox sends them."""
    when = int(time.time())
    return [pipe.crm_user_saves({"first_name": f"Edited{uid}", "department": "Sales"}, when, sequence=i + 1, uid=uid)
            for i, uid in enumerate(uids)]


def send_like_the_package(pipe: TwoWayPipeline, messages: list[dict], retry_seconds: float = 120) -> int:
    """The scheduler job: a batch is sent again (same message ids) until the receiver answers 2xx."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            response = pipe.post_crm(*messages)
            if response.status_code == 202:
                return response.json()["accepted"]
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the receiver never took the batch"
        time.sleep(0.3)


def admin(pipe: TwoWayPipeline, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, pipe.url.replace("/webhooks/moodle", f"/api/v1{path}"),
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10, **kwargs)


def moodle_names(pipe: TwoWayPipeline) -> dict[int, tuple[str, str]]:
    return {u["id"]: (u["firstname"], u["department"]) for u in pipe.moodle.records("user") if u["id"] >= FIRST}


def work_once(pipe: TwoWayPipeline) -> None:
    """One sweep and one burst worker: what the workers do in one round."""
    subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env=pipe.env, cwd=REPO, check=True,
                   capture_output=True)
    worker = subprocess.run([sys.executable, "-m", "crmsync", "worker", "--burst"], env=pipe.env, cwd=REPO,
                            capture_output=True, text=True)
    assert worker.returncode == 0, worker.stderr[-2000:]
    pipe.worker_log += worker.stderr


def test_a_crm_edit_made_while_the_receiver_is_down_reaches_moodle_exactly_once(two_way, learners, request):
    uids = synced(two_way, learners)
    messages = edits(two_way, uids)
    down = 6 if request.config.getoption("--chaos-full") else 2
    two_way.close()  # the receiver is down: the package keeps its rows and sends them again
    outage = threading.Thread(target=two_way.restart_receiver, args=(down,))
    outage.start()
    accepted = send_like_the_package(two_way, messages)
    outage.join()
    # A 202 the package never saw (a connection lost after the receiver stored the batch): sent again, stored once.
    assert send_like_the_package(two_way, messages) == 0
    assert accepted == len(messages)
    two_way.drain()

    assert moodle_names(two_way) == {uid: (f"Edited{uid}", "Sales") for uid in uids}
    assert two_way.moodle_updates() == len(uids), "every edit is written to Moodle exactly once"
    assert {e.status for e in two_way.events()} == {"applied"}


def test_moodle_failing_retries_then_dead_letters_with_moodles_answer_and_a_replay_applies_it(two_way, moodle,
                                                                                              learners):
    uids = synced(two_way, learners)
    moodle.set_faults(error_rate=1.0, error_statuses=[500], functions=["core_user_update_users"])
    two_way.env["JOB_MAX_RETRIES"] = "2"
    two_way.send_crm(*edits(two_way, uids))
    two_way.drain(timeout=180)

    crm_events = [e for e in two_way.events() if e.type == "contact.updated"]
    assert {e.status for e in crm_events} == {"failed"}
    assert all("core_user_update_users: Moodle answered 500" in e.last_error for e in crm_events)
    assert set(moodle_names(two_way).values()) == {("Alice", "")}
    calls = [c for c in moodle.calls() if c["function"] == "core_user_update_users"]
    assert len(calls) == len(uids) * 3  # the first try and two retries each

    moodle.clear_faults()
    assert admin(two_way, "POST", "/events/replay", json={"filter": {"status": "failed"}}).json() == {
        "replayed": len(uids)}
    two_way.drain()
    assert moodle_names(two_way) == {uid: (f"Edited{uid}", "Sales") for uid in uids}


def test_moodle_unreachable_pauses_writes_to_moodle_only_and_drains_once_it_is_back(two_way, moodle, learners):
    uids = synced(two_way, learners)
    moodle.set_faults(error_rate=1.0, error_statuses=[503])
    two_way.send_crm(*edits(two_way, uids))
    for _ in range(3):
        work_once(two_way)
        time.sleep(2.5)  # MOODLE_PAUSE_SECONDS: the next round finds the pause over and asks Moodle again
    assert not [e for e in two_way.events() if e.status == "failed"], "an outage dead-letters nothing"
    assert admin(two_way, "GET", "/stats").json()["moodle_paused"] == "core_user_update_users: Moodle answered 503"

    # Meanwhile Moodle → CRM goes on: a Moodle outage never pauses writes to the CRM.
    two_way.send(two_way.message("user.updated", f"user:{uids[0]}", user(uids[0], lastname="Moodle-side",
                                                                         timemodified=MOODLE_STATE_TIME + 1)))
    work_once(two_way)
    assert two_way.contact(uids[0])["last_name"] == "Moodle-side"

    moodle.clear_faults()
    two_way.drain()
    assert moodle_names(two_way) == {uid: (f"Edited{uid}", "Sales") for uid in uids}
    assert admin(two_way, "GET", "/stats").json()["moodle_paused"] is None


def test_a_revoked_moodle_token_is_one_clear_error_for_the_operator_and_loses_nothing(two_way, moodle, learners):
    uids = synced(two_way, learners)
    moodle.revoke_tokens()
    two_way.send_crm(*edits(two_way, uids))
    for _ in range(2):
        work_once(two_way)
        time.sleep(2.5)

    errors = [line for line in two_way.worker_log.splitlines() if '"level": "ERROR"' in line]
    assert len(errors) == 1, errors
    assert "Moodle unavailable" in errors[0] and "refused the web-service token" in errors[0]
    assert moodle.token not in two_way.worker_log
    status = subprocess.run([sys.executable, "-m", "crmsync", "status"], env=two_way.env, cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    assert "writes to Moodle: paused, Moodle unavailable: core_user_update_users: Moodle refused the web-service " \
           "token" in status
    assert "connector: running" in status  # writes to the CRM are not paused
    assert {e.status for e in two_way.events() if e.type == "contact.updated"} <= {"pending", "queued"}

    moodle.issue_token("crm_sync", 2, token=moodle.token)  # the Moodle admin gives the token back
    two_way.drain()
    assert moodle_names(two_way) == {uid: (f"Edited{uid}", "Sales") for uid in uids}
    assert "writes to Moodle: running" in subprocess.run(
        [sys.executable, "-m", "crmsync", "status"], env=two_way.env, cwd=REPO, capture_output=True, text=True,
        check=True).stdout
