"""End to end (receiver → RQ → workers → sandbox) and coalescing, measured from the inbox's own times."""

from __future__ import annotations

import statistics
import threading
import time

from sqlalchemy import select

from bench import harness, loadgen
from bench.report import table, verdict
from crm_connector.suitecrm import SuiteCrmClient
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


DEFAULTS = config.load(environ={}, env_file=None)
MAX_CONCURRENT_WRITES = DEFAULTS.crm_max_concurrent_writes
WORKER_THREADS = DEFAULTS.worker_threads


def bare_clients_ceiling(sandbox, clients: int, learners: int) -> float:
    """What the sandbox sustains for the connector's calls with nothing of the connector around them: `clients`
    clients at once, each making a learner's first-sync calls (a lookup, then a create in one of the
    CRM_MAX_CONCURRENT_WRITES write slots), in events/s. This counts the sandbox's own time per call, which
    a ceiling worked out from its latency alone does not."""
    import redis

    pool = [SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret,
                           redis=redis.Redis.from_url(harness.BENCH_REDIS),
                           max_concurrent_writes=MAX_CONCURRENT_WRITES) for _ in range(clients)]
    for client in pool:
        list(client.find("Contacts", {"moodle_user_id_c": "none"}))  # logged in before the clock starts
    barrier = threading.Barrier(clients + 1)

    def sync(client: SuiteCrmClient, uids: range) -> None:
        barrier.wait()
        for uid in uids:
            list(client.find("Contacts", {"moodle_user_id_c": f"ceiling{uid}"},
                             fields=["moodle_site_id_c", "moodle_user_id_c", "moodle_site_c"]))
            client.create("Contacts", {"first_name": "Ceiling", "last_name": f"Learner{uid}",
                                       "moodle_user_id_c": f"ceiling{uid}"})

    threads = [threading.Thread(target=sync, args=(client, range(index, learners, clients)))
               for index, client in enumerate(pool)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return learners / (time.monotonic() - started)


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


def end_to_end(events: int = 300, offered_rate: float = 20.0, workers: int = 1, latency_ms: float = 20,
               other_threads: int = 1) -> str:
    """`workers` worker processes (the default: what `make run` and docker-compose.yml start), offered a steady
    rate and flat out, with the default WORKER_THREADS and with `other_threads` work loops each."""
    rows = []
    runs = ((f"offered {offered_rate:.0f} events/s", offered_rate, WORKER_THREADS), ("flat out", None, WORKER_THREADS),
            (f"WORKER_THREADS={other_threads}, offered {offered_rate:.0f} events/s", offered_rate, other_threads),
            (f"WORKER_THREADS={other_threads}, flat out", None, other_threads))
    for label, rate, threads in runs:
        loops = workers * threads
        stack = harness.Stack(workers=workers, sandbox_latency_ms=latency_ms, worker_threads=threads)
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
            applied_rate = events / (finished - started)
            worker_rss = max(stack.worker_rss(), default=0)
            if not rate:
                stack.stop_connector()  # the ceiling is measured on the same sandbox, with nothing else running
                ceiling = bare_clients_ceiling(stack.sandbox, loops, events)
                # Each event costs calls_per_event sequential CRM calls of latency_ms: that bounds a loop; and
                # CRM_MAX_CONCURRENT_WRITES writes at a time, each of latency_ms, bound them all.
                latency_bound = min(loops / (calls_per_event * latency_ms / 1000),
                                    MAX_CONCURRENT_WRITES / (writes_per_event * latency_ms / 1000))
        finally:
            stack.stop()
        baseline = rate or ceiling
        rows += [
            (f"{label}: applied events/s", f"{applied_rate:.1f}",
             f"{baseline:.1f} ({'offered' if rate else f'ceiling: {loops} bare clients'})",
             f"{applied_rate / baseline:.2f}", verdict(applied_rate >= 0.9 * baseline, ">= 0.90")),
            (f"{label}: acceptance → CRM p50/p95/p99, s",
             f"{statistics.median(latencies):.2f}/{_percentile(latencies, 0.95):.2f}/"
             f"{_percentile(latencies, 0.99):.2f}", "", "",
             verdict(_percentile(latencies, 0.95) < 2, "p95 < 2 s") if rate else ""),
            (f"{label}: CRM calls per event", f"{calls_per_event:.2f}", "", "", ""),
            (f"{label}: worker RSS, MB", f"{worker_rss:.0f}", "", "", verdict(worker_rss < 150, "< 150 MB")),
        ]
        if not rate:
            rows.append((f"{label}: applied events/s against the latency alone", f"{applied_rate:.1f}",
                         f"{latency_bound:.1f} (latency bound)", f"{applied_rate / latency_bound:.2f}", ""))
    return table("End to end", f"{workers} worker process{'es' if workers > 1 else ''} (the default), WORKER_THREADS="
                 f"{WORKER_THREADS} (the default) unless the row says otherwise, sandbox latency {latency_ms:.0f} ms "
                 f"per call, {events} events (first sync of distinct learners: a lookup and a create each), SQLite "
                 f"inbox, CRM_MAX_CONCURRENT_WRITES={MAX_CONCURRENT_WRITES}; the ceiling is as many bare clients as "
                 "the workers have loops, making the same calls with the same write limit on the same sandbox; the "
                 "latency bound is the lower of loops ÷ (calls per event × latency) and CRM_MAX_CONCURRENT_WRITES ÷ "
                 "(writes per event × latency)", rows)


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
