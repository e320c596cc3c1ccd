"""Ingest: signed single messages and batches into the receiver, against a bare Flask app (baseline),
with the inbox on each database the product runs on (PostgreSQL in production, SQLite embedded)."""

from __future__ import annotations

from bench import harness, loadgen
from bench.report import table, verdict

DATABASES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def _combined(parts: list[loadgen.LoadResult]) -> loadgen.LoadResult:
    """Several runs as one: their requests over the time they took together."""
    statuses: dict[int, int] = {}
    for part in parts:
        for code, count in part.statuses.items():
            statuses[code] = statuses.get(code, 0) + count
    return loadgen.LoadResult(sum(p.requests for p in parts), sum(p.seconds for p in parts),
                              [latency for p in parts for latency in p.latencies], statuses)


def _interleaved(rounds: int, runs: list) -> list[loadgen.LoadResult]:
    """Each run's requests in `rounds` slices, taken in turn: a load that comes and goes (another
    session's tests on a shared machine) falls on the receiver and its baseline alike. A slice should
    give every client thread as many requests (batches: a multiple of rounds x threads), or the rate
    counts the threads that finish early as idle."""
    parts: list[list[loadgen.LoadResult]] = [[] for _ in runs]
    for index in range(rounds):
        for part, (url, requests_, threads) in zip(parts, runs, strict=True):
            part.append(loadgen.run(url, requests_[index::rounds], threads))
    return [_combined(part) for part in parts]


def measure(database: str, singles: int, batches: int, threads: int, rounds: int) -> list[tuple]:
    stack = harness.Stack(workers=0, database=database)
    baseline_process = None
    try:
        baseline_process, baseline_url = harness.start_baseline()
        warm = loadgen.presign(stack.secret, [loadgen.user_message(10_000_000 + n, n + 1) for n in range(200)])
        loadgen.run(stack.url, warm, threads)
        loadgen.run(baseline_url, warm, threads)
        rss_before = stack.receiver_rss()

        messages = loadgen.presign(stack.secret, [loadgen.user_message(n, n + 1) for n in range(singles)])
        batch_payloads = loadgen.presign(stack.secret, [
            [loadgen.user_message(1_000_000 + b * 100 + n, n + 1) for n in range(100)] for b in range(batches)])
        baseline, single, batched = _interleaved(rounds, [
            (baseline_url, messages, threads), (stack.url, messages, threads), (stack.url, batch_payloads, threads)])
        rss_after = stack.receiver_rss()
    finally:
        if baseline_process is not None:
            harness.stop_group(baseline_process)
        stack.stop()

    name = DATABASES[database]
    ok_statuses = single.statuses.get(202, 0) == singles and batched.statuses.get(202, 0) == batches
    ratio = single.rate / baseline.rate
    batch_events = batched.rate * 100
    p99, baseline_p99 = single.percentile(0.99), baseline.percentile(0.99)
    return [
        (f"{name}: single messages, requests/s", f"{single.rate:.0f}", f"{baseline.rate:.0f}", f"{ratio:.2f}",
         verdict(ratio >= 0.7, ">= 0.70 of baseline")),
        (f"{name}: single p50 latency, ms", f"{single.p50:.1f}", f"{baseline.p50:.1f}",
         f"{single.p50 / baseline.p50:.2f}", ""),
        (f"{name}: single p99 latency, ms", f"{p99:.1f}", f"{baseline_p99:.1f}", f"{p99 / baseline_p99:.2f}",
         verdict(p99 < 20, "< 20 ms")),
        (f"{name}: batches of 100, events/s", f"{batch_events:.0f}", f"{single.rate:.0f} (singles)",
         f"{batch_events / single.rate:.1f}", verdict(batch_events >= 10 * single.rate, ">= 10x singles")),
        (f"{name}: receiver worker RSS, MB (max)", f"{max(rss_after, default=0):.0f}",
         f"{max(rss_before, default=0):.0f} before", "", verdict(max(rss_after, default=0) < 100, "< 100 MB")),
        (f"{name}: all answered 202", str(ok_statuses), "", "", ""),
    ]


def run(singles: int = 2000, batches: int = 160, threads: int = 8, rounds: int = 4,
        databases: tuple[str, ...] = tuple(DATABASES)) -> str:
    rows = [row for database in databases for row in measure(database, singles, batches, threads, rounds)]
    return table("Ingest", f"gunicorn {harness.GUNICORN_WORKERS} workers x 4 threads (gthread), {threads} client "
                 f"threads with keep-alive, {singles} single messages, {batches} batches of 100, baseline and "
                 f"receiver in {rounds} interleaved rounds, inbox on each database (a local PostgreSQL server, "
                 "a SQLite file), local Redis", rows)


if __name__ == "__main__":
    print(run())
