"""End to end (receiver → RQ → workers → sandbox) and coalescing, measured from the inbox's own times."""

from __future__ import annotations

import statistics
import time

from sqlalchemy import select

from bench import harness, loadgen
from bench.report import table, verdict
from crmsync import config, db
from crmsync.models import EventTransition, InboxEvent


def drain(stack: harness.Stack, total: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session_scope(stack.database_url) as session:
            waiting = session.query(InboxEvent).filter(InboxEvent.status.in_(["pending", "queued"])).count()
        if waiting == 0:
            return time.monotonic()
        time.sleep(0.2)
    raise TimeoutError(f"events still waiting after {timeout}s")


MAX_CONCURRENT_WRITES = config.load(environ={}, env_file=None).crm_max_concurrent_writes  # the default


def _latencies(stack: harness.Stack) -> list[float]:
    with db.session_scope(stack.database_url) as session:
        rows = session.execute(select(InboxEvent.received_at, EventTransition.at)
                               .join(EventTransition, EventTransition.event_id == InboxEvent.id)
                               .where(EventTransition.status == "applied")).all()
    return [(done - received).total_seconds() for received, done in rows]


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def _writes(stack: harness.Stack) -> int:
    return sum(1 for c in stack.sandbox.calls() if c["method"] in ("POST", "PATCH", "DELETE"))


def _calls(stack: harness.Stack) -> int:
    return len(stack.sandbox.calls())


def end_to_end(events: int = 300, offered_rate: float = 20.0, workers: int = 2, latency_ms: float = 20) -> str:
    rows = []
    for label, rate in ((f"offered {offered_rate:.0f} events/s", offered_rate), ("flat out", None)):
        stack = harness.Stack(workers=workers, sandbox_latency_ms=latency_ms)
        try:
            signed = loadgen.presign(stack.secret, [loadgen.user_message(n, n + 1) for n in range(events)])
            started = time.monotonic()
            if rate:
                for index, request in enumerate(signed):
                    delay = started + index / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    loadgen.run(stack.url, [request], threads=1)
            else:
                loadgen.run(stack.url, signed, threads=4)
            finished = drain(stack, events)
            latencies = sorted(_latencies(stack))
            calls_per_event = _calls(stack) / events
            writes_per_event = _writes(stack) / events
            # Each event costs calls_per_event sequential CRM calls of latency_ms: that bounds a worker; and
            # CRM_MAX_CONCURRENT_WRITES (1) writes at a time, each of latency_ms, bound them all.
            ceiling = min(workers / (calls_per_event * latency_ms / 1000),
                          MAX_CONCURRENT_WRITES / (writes_per_event * latency_ms / 1000))
            applied_rate = events / (finished - started)
            worker_rss = max(stack.worker_rss(), default=0)
        finally:
            stack.stop()
        rows += [
            (f"{label}: applied events/s", f"{applied_rate:.1f}", f"{(rate or ceiling):.1f} "
             f"({'offered' if rate else 'ceiling'})", f"{applied_rate / (rate or ceiling):.2f}",
             verdict(applied_rate >= 0.9 * (rate or ceiling), ">= 0.90")),
            (f"{label}: acceptance → CRM p50/p95/p99, s",
             f"{statistics.median(latencies):.2f}/{_percentile(latencies, 0.95):.2f}/"
             f"{_percentile(latencies, 0.99):.2f}", "", "",
             verdict(_percentile(latencies, 0.95) < 2, "p95 < 2 s") if rate else ""),
            (f"{label}: CRM calls per event", f"{calls_per_event:.2f}", "", "", ""),
            (f"{label}: worker RSS, MB", f"{worker_rss:.0f}", "", "", verdict(worker_rss < 150, "< 150 MB")),
        ]
    return table("End to end", f"{workers} workers, sandbox latency {latency_ms:.0f} ms per call, {events} events "
                 "(first sync of distinct learners: a lookup and a create each), SQLite inbox; the ceiling is the lower of "
                 "workers ÷ (calls per event × latency) and CRM_MAX_CONCURRENT_WRITES ÷ (writes per event × latency)", rows)


def coalescing(learners: int = 20, updates: int = 10, workers: int = 2) -> str:
    stack = harness.Stack(workers=workers)
    try:
        steady = [loadgen.user_message(n, 1) for n in range(learners)]
        loadgen.run(stack.url, loadgen.presign(stack.secret, steady), threads=4)
        drain(stack, learners)
        stack.sandbox.clear_calls()
        sequence = 1
        steady_updates = []
        for n in range(learners):
            sequence += 1
            steady_updates.append(loadgen.user_message(n, sequence, firstname="Steady"))
        for message in loadgen.presign(stack.secret, steady_updates):
            loadgen.run(stack.url, [message], threads=1)
        drain(stack, learners)
        steady_writes = _writes(stack) / learners
        stack.sandbox.clear_calls()
        burst = [loadgen.user_message(n, 1000 + k, firstname="Burst") for k in range(updates) for n in range(learners)]
        loadgen.run(stack.url, loadgen.presign(stack.secret, [burst]), threads=1)
        drain(stack, len(burst))
        burst_writes = _writes(stack) / len(burst)
    finally:
        stack.stop()
    return table("Coalescing", f"{learners} learners, bursts of {updates} updates each in one batch, {workers} workers",
                 [("steady state: CRM writes per event", f"{steady_writes:.2f}", "1.00", f"{steady_writes:.2f}",
                   verdict(steady_writes <= 1.0, "<= 1.0")),
                  ("bursts: CRM writes per event", f"{burst_writes:.2f}", "1.00", f"{burst_writes:.2f}",
                   verdict(burst_writes <= 0.2, "<= 0.2"))])


if __name__ == "__main__":
    print(end_to_end())
    print(coalescing())
