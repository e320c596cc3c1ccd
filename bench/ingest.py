"""Ingest: signed single messages and batches into the receiver, against a bare Flask app (baseline)."""

from __future__ import annotations

import os
import signal

from bench import harness, loadgen
from bench.report import table, verdict


def run(singles: int = 2000, batches: int = 40, threads: int = 8) -> str:
    stack = harness.Stack(workers=0)
    baseline_process = None
    try:
        baseline_process, baseline_url = harness.start_baseline()
        warm = loadgen.presign(stack.secret, [loadgen.user_message(10_000_000 + n, n + 1) for n in range(200)])
        loadgen.run(stack.url, warm, threads)
        loadgen.run(baseline_url, warm, threads)
        rss_before = stack.receiver_rss()

        messages = [loadgen.user_message(n, n + 1) for n in range(singles)]
        baseline = loadgen.run(baseline_url, loadgen.presign(stack.secret, messages), threads)
        single = loadgen.run(stack.url, loadgen.presign(stack.secret, messages), threads)
        batch_payloads = [[loadgen.user_message(1_000_000 + b * 100 + n, n + 1) for n in range(100)]
                          for b in range(batches)]
        batched = loadgen.run(stack.url, loadgen.presign(stack.secret, batch_payloads), threads)
        rss_after = stack.receiver_rss()
    finally:
        if baseline_process is not None:
            os.killpg(baseline_process.pid, signal.SIGTERM)
        stack.stop()

    ok_statuses = single.statuses.get(202, 0) == singles and batched.statuses.get(202, 0) == batches
    ratio = single.rate / baseline.rate
    batch_events = batched.rate * 100
    rows = [
        ("single messages, requests/s", f"{single.rate:.0f}", f"{baseline.rate:.0f}", f"{ratio:.2f}",
         verdict(ratio >= 0.7, ">= 0.70 of baseline")),
        ("single p50 latency, ms", f"{single.p50:.1f}", f"{baseline.p50:.1f}", f"{single.p50 / baseline.p50:.2f}", ""),
        ("single p99 latency, ms", f"{single.percentile(0.99):.1f}", f"{baseline.percentile(0.99):.1f}",
         f"{single.percentile(0.99) / baseline.percentile(0.99):.2f}", verdict(single.percentile(0.99) < 20, "< 20 ms")),
        ("batches of 100, events/s", f"{batch_events:.0f}", f"{single.rate:.0f} (singles)",
         f"{batch_events / single.rate:.1f}", verdict(batch_events >= 10 * single.rate, ">= 10x singles")),
        ("receiver worker RSS, MB (max)", f"{max(rss_after, default=0):.0f}", f"{max(rss_before, default=0):.0f} before",
         "", verdict(max(rss_after, default=0) < 100, "< 100 MB")),
        ("all answered 202", str(ok_statuses), "", "", ""),
    ]
    return table("Ingest", f"gunicorn {harness.GUNICORN_WORKERS} workers x 4 threads (gthread), {threads} client "
                 f"threads with keep-alive, {singles} single messages, {batches} batches of 100, SQLite inbox, "
                 "local Redis", rows)


if __name__ == "__main__":
    print(run())
