"""A fault drill: a known stream of messages (creates, updates, out-of-order and duplicate deliveries),
a fault while it flows, and at the end every field of every CRM record compared with the state the
stream implies. Lost events and wrong records must both be zero."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from tests.connector.conftest import Pipeline, user

FIELDS = ("first_name", "last_name", "email1", "moodle_username_c", "moodle_status_c")


@dataclass
class DrillResult:
    name: str
    sent: int
    accepted: int
    applied: int
    skipped: int
    dead_lettered: int
    lost: int
    wrong: int
    drain_seconds: float

    def table_row(self) -> str:
        return (f"| {self.name} | {self.sent} | {self.accepted} | {self.applied} | {self.skipped} | "
                f"{self.dead_lettered} | {self.lost} | {self.wrong} | {self.drain_seconds:.1f} |")


HEADER = ("| drill | sent | accepted | applied | skipped (stale) | dead-lettered | lost | CRM records wrong | "
          "drain s |\n|---|---|---|---|---|---|---|---|---|")


def stream(pipeline: Pipeline, learners: int, updates: int, seed: int = 1) -> tuple[list[dict], dict[str, dict]]:
    """Messages in delivery order (shuffled, with duplicates) and the expected Contact per learner."""
    rng = random.Random(seed)
    messages, expected = [], {}
    for uid in range(100, 100 + learners):
        for version in range(updates):
            state = user(uid, f"V{version}", suspended=(version % 3 == 2))
            messages.append(pipeline.message("user.updated", f"user:{uid}", state))
        final = messages[-1]["data"]
        expected[str(uid)] = {"first_name": final["firstname"], "last_name": final["lastname"],
                              "email1": final["email"], "moodle_username_c": final["username"],
                              "moodle_status_c": "suspended" if final["suspended"] else "active"}
    deliveries = messages + rng.sample(messages, k=len(messages) // 5)  # 20 % delivered twice
    rng.shuffle(deliveries)  # and out of order
    return deliveries, expected


def send_in_batches(pipeline: Pipeline, deliveries: list[dict], size: int = 10, retry_seconds: float = 60,
                    pause: float = 0.0) -> int:
    """Send like the plugin: a batch that is not acknowledged is sent again until it is. Returns 202s' new events."""
    accepted = 0
    for start in range(0, len(deliveries), size):
        batch = deliveries[start:start + size]
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                accepted += pipeline.send(*batch)["accepted"]
                break
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        time.sleep(pause)
    return accepted


def finish(name: str, pipeline: Pipeline, sandbox, deliveries: list[dict], expected: dict, accepted: int,
           started: float) -> DrillResult:
    pipeline.drain(timeout=300)
    drained = time.monotonic() - started
    events = pipeline.events()
    unique_ids = {m["id"] for m in deliveries}
    stored = {e.id: e for e in events}
    contacts = {r["moodle_user_id_c"]: r for r in sandbox.records("Contacts")}
    wrong = sum(1 for uid, fields in expected.items()
                if uid not in contacts or any(contacts[uid].get(k) != v for k, v in fields.items()))
    wrong += len(set(contacts) - set(expected))
    result = DrillResult(
        name=name, sent=len(deliveries), accepted=accepted,
        applied=sum(1 for e in events if e.status == "applied"),
        skipped=sum(1 for e in events if e.status == "skipped"),
        dead_lettered=sum(1 for e in events if e.status == "failed"),
        lost=len(unique_ids - set(stored)) + sum(1 for e in events if e.status in ("pending", "queued")),
        wrong=wrong, drain_seconds=drained)
    print(f"\n{HEADER}\n{result.table_row()}")
    return result
