"""Against SuiteCRM's own write speed (`crmsync sandbox --preset`): the connector keeps to one write at a time
per CRM, and so holds the CRM's sequential write ceiling however many workers run.

The baseline of each preset is measured in the same run: one client writing one record after another
(what the CRM sustains at best), then four clients at once (what parallel writers get from it). The
connector's rate is the CRM's own: writes over the time from its first write to its last (the sandbox's
call log), for learners' first syncs (a lookup, which takes no write slot, and a create).
"""

from __future__ import annotations

import os
import threading

from bench import harness, loadgen
from bench.pipeline import WORKER_THREADS, drain
from bench.report import table, verdict
from crm_connector.suitecrm import SuiteCrmClient
from suitecrm_sandbox.testing import SandboxProcess

WRITES = ("POST", "PATCH", "DELETE")
PRESETS = ("search-index-on", "search-index-off")


def write_rate(calls: list[dict]) -> float:
    """Writes per second as the CRM saw them: from the end of its first write to the end of its last."""
    times = sorted(c["at"] for c in calls if c["method"] in WRITES)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def sequential_baseline(sandbox, writes: int) -> float:
    """One client, one write after another: the CRM's sequential write ceiling as a client sees it."""
    client = SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret)
    client.find("Leads", {"last_name": "none"})  # logged in before the clock starts
    sandbox.clear_calls()
    for n in range(writes):
        client.create("Leads", {"last_name": f"Sequential{n}"})
    return write_rate(sandbox.calls())


def parallel_clients(sandbox, clients: int, writes_each: int) -> float:
    pool = [SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret) for _ in range(clients)]
    for client in pool:
        client.find("Leads", {"last_name": "none"})
    barrier = threading.Barrier(clients)

    def write(client: SuiteCrmClient, index: int) -> None:
        barrier.wait()
        for n in range(writes_each):
            client.create("Leads", {"last_name": f"Parallel{index}-{n}"})

    sandbox.clear_calls()
    threads = [threading.Thread(target=write, args=(client, i)) for i, client in enumerate(pool)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return write_rate(sandbox.calls())


def connector(preset: str, events: int, workers: int, loops: int, max_writes: int) -> tuple[float, float, float]:
    """(CRM writes/s, writes per event, the sequential baseline) of `workers` workers of `loops` work loops
    each applying first syncs."""
    os.environ["CRM_MAX_CONCURRENT_WRITES"] = str(max_writes)  # the workers' environment (harness.Stack)
    try:
        stack = harness.Stack(workers=workers, worker_threads=loops)
    finally:
        del os.environ["CRM_MAX_CONCURRENT_WRITES"]
    try:
        stack.sandbox.set_faults(preset=preset)
        baseline = sequential_baseline(stack.sandbox, 30)
        stack.sandbox.clear_calls()
        signed = loadgen.presign(stack.secret, [[loadgen.user_message(n, n + 1) for n in range(events)]])
        loadgen.run(stack.url, signed, threads=1)
        drain(stack, events)
        calls = stack.sandbox.calls()
    finally:
        stack.stop()
    writes = sum(1 for c in calls if c["method"] in WRITES)
    return write_rate(calls), writes / events, baseline


def run(events: int = 150, workers: int = 4) -> str:
    rows = []
    for preset in PRESETS:
        with SandboxProcess() as sandbox:
            sandbox.set_faults(preset=preset)
            sequential = sequential_baseline(sandbox, 40)
            parallel = parallel_clients(sandbox, 4, 10)
        # With the limit, as many writers as the defaults give; without it, as many as the real server was
        # measured with (four clients at once), one loop per worker.
        limited, per_event, baseline = connector(preset, events, workers, WORKER_THREADS, 1)
        unlimited, _, unlimited_baseline = connector(preset, events, workers, 1, 0)
        rows += [
            (f"{preset}: one client, one write after another, writes/s", f"{sequential:.1f}", "", "", ""),
            (f"{preset}: four clients at once, writes/s in total", f"{parallel:.1f}", f"{sequential:.1f} (one client)",
             f"{parallel / sequential:.2f}", ""),
            (f"{preset}: connector, {workers} workers x {WORKER_THREADS} loops, CRM_MAX_CONCURRENT_WRITES=1, writes/s",
             f"{limited:.1f}",
             f"{baseline:.1f} (one client)", f"{limited / baseline:.2f}", verdict(limited >= 0.9 * baseline, ">= 0.90")),
            (f"{preset}: connector, {workers} workers x 1 loop, no limit (0), writes/s", f"{unlimited:.1f}",
             f"{unlimited_baseline:.1f} (one client)", f"{unlimited / unlimited_baseline:.2f}", ""),
            (f"{preset}: CRM writes per event", f"{per_event:.2f}", "", "", ""),
        ]
    return table("Against SuiteCRM's write speed", f"sandbox presets as measured on a real SuiteCRM 7.14.6; {events} "
                 f"learners' first syncs (a lookup and a create each) per connector row, {workers} workers with the default "
                 f"WORKER_THREADS={WORKER_THREADS} loops each, or one where the row says so, SQLite inbox; rates are the CRM's, "
                 "from its first write to its last", rows)


if __name__ == "__main__":
    print(run())
