"""CRM_MAX_CONCURRENT_WRITES: all processes writing one CRM share its write slots (a Redis semaphore).

Two clients stand for two worker processes: each has its own HTTP session and its own view of the
slots, and only Redis joins them. The sandbox's gate holds a write inside the CRM; the other client's
write must wait for a slot (it blocks on the wake-up list) instead of reaching the CRM.
"""

from __future__ import annotations

import threading
import time

import requests

from crm_connector.suitecrm import SuiteCrmClient


def client(sandbox, redis_client, limit: int) -> SuiteCrmClient:
    return SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret, timeout=30, redis=redis_client,
                          max_concurrent_writes=limit)


def held_now(sandbox) -> int:
    return requests.get(f"{sandbox.url}/__sandbox/gate", params={"wait_for": 0, "timeout": 0}, timeout=10).json()["held"]


def wait_for_a_waiting_writer(redis_client, timeout: float = 30) -> None:
    """Until a client blocks on the slots' wake-up list: a condition, polled, not a guess at a duration."""
    deadline = time.monotonic() + timeout
    while not any(c.get("cmd") == "blpop" for c in redis_client.client_list()):
        assert time.monotonic() < deadline, "no writer waited for a write slot"
        time.sleep(0.05)


def write_in_thread(crm: SuiteCrmClient, name: str, done: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: done.append(crm.create("Contacts", {"last_name": name})["id"]))
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_one_slot_and_goes_on_when_it_is_free(sandbox, redis_client):
    first, second = client(sandbox, redis_client, 1), client(sandbox, redis_client, 1)
    first.find("Contacts", {"last_name": "x"})  # log in before the gate is armed: reads take no slot
    sandbox.hold("POST", "Contacts", count=2)
    done: list = []
    threads = [write_in_thread(first, "First", done)]
    try:
        sandbox.wait_until_held(1)
        threads.append(write_in_thread(second, "Second", done))
        wait_for_a_waiting_writer(redis_client)
        assert held_now(sandbox) == 1  # the second write waits for the slot, not inside the CRM
    finally:
        sandbox.release()
    for thread in threads:
        thread.join(timeout=60)
    assert len(done) == 2
    assert sorted(r["last_name"] for r in sandbox.records("Contacts")) == ["First", "Second"]


def test_two_slots_let_two_writes_into_the_crm_at_once(sandbox, redis_client):
    first, second = client(sandbox, redis_client, 2), client(sandbox, redis_client, 2)
    first.find("Contacts", {"last_name": "x"})
    sandbox.hold("POST", "Contacts", count=2)
    done: list = []
    threads = [write_in_thread(first, "First", done), write_in_thread(second, "Second", done)]
    try:
        sandbox.wait_until_held(2)
    finally:
        sandbox.release()
    for thread in threads:
        thread.join(timeout=60)
    assert len(done) == 2


def test_a_slot_whose_holder_died_is_free_once_its_lease_ran_out(sandbox, redis_client):
    crm = client(sandbox, redis_client, 1)
    redis_client.zadd(crm.write_slots.key, {"a-killed-worker": time.time() - 1})  # its lease is over
    assert crm.create("Contacts", {"last_name": "After"})["id"]
    assert redis_client.zcard(crm.write_slots.key) == 0  # released after the write, the dead one swept


def test_no_limit_takes_no_slot(sandbox, redis_client):
    crm = client(sandbox, redis_client, 0)
    sandbox.hold("POST", "Contacts", count=1)
    done: list = []
    thread = write_in_thread(crm, "Free", done)
    try:
        sandbox.wait_until_held(1)
        assert redis_client.zcard(crm.write_slots.key) == 0
    finally:
        sandbox.release()
    thread.join(timeout=60)
    assert len(done) == 1
