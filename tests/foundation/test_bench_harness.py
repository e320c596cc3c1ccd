"""`make bench` on a loaded machine: a slow first answer is waited for, and a failed start-up leaves nothing running."""

from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bench import harness


class _SlowFirstAnswer(BaseHTTPRequestHandler):
    """The first request hangs past the client's patience (a receiver still importing); later ones answer."""

    release = threading.Event()
    requests_seen = 0

    def do_GET(self):
        type(self).requests_seen += 1
        if type(self).requests_seen == 1:
            self.release.wait(10)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_a_receiver_whose_first_answer_is_slow_is_waited_for():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFirstAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        harness.wait_http(f"http://127.0.0.1:{server.server_port}/healthz", timeout=9, attempt_timeout=0.3)
        assert _SlowFirstAnswer.requests_seen >= 2  # the first try timed out and was not taken as a failure
    finally:
        _SlowFirstAnswer.release.set()
        server.shutdown()


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(autouse=True)
def _own_redis_database(redis_url, monkeypatch):
    """A stack empties its Redis database: the test's own, not the benchmarks' default."""
    monkeypatch.setattr(harness, "BENCH_REDIS", redis_url)


def test_a_start_up_that_fails_stops_everything_it_started(monkeypatch):
    started = []
    start_process, start_sandbox = harness.Stack._start, harness.SandboxProcess.start

    def record_process(stack, args):
        process = start_process(stack, args)
        started.append(process)
        return process

    def record_sandbox(sandbox):
        started.append(start_sandbox(sandbox)._process)
        return sandbox

    def never_answers(url, *args, **kwargs):
        raise TimeoutError(f"nothing answered at {url}")

    monkeypatch.setattr(harness.Stack, "_start", record_process)
    monkeypatch.setattr(harness.SandboxProcess, "start", record_sandbox)
    monkeypatch.setattr(harness, "wait_http", never_answers)
    with pytest.raises(TimeoutError):
        harness.Stack(workers=1)
    assert len(started) == 2  # the sandbox and the receiver were running when the wait gave up
    for process in started:
        assert process.poll() is not None
        assert _gone(process.pid)


# Stands in for a start-up that is slow (imports on a loaded machine): it forks a helper that ignores
# SIGTERM, as a gunicorn worker busy with a request may, waits, then becomes the real command.
SLOW_START = """
import os, signal, sys, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(60)
time.sleep(float(sys.argv[1]))
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def _group_members(pgid: int) -> set[int]:
    members = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()  # noqa: PTH123, SIM115
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.add(int(entry))
    return members


def _slow_start(monkeypatch, delay: float) -> list:
    started = []
    start_process = harness.Stack._start

    def slowly(stack, args):
        process = start_process(stack, [sys.executable, "-c", SLOW_START, str(delay), *args[1:]])
        started.append(process)
        return process

    monkeypatch.setattr(harness.Stack, "_start", slowly)
    monkeypatch.setattr(harness, "STOP_GRACE", 2)
    return started


def test_a_slow_start_up_is_waited_for_and_stopping_leaves_no_process(monkeypatch):
    started = _slow_start(monkeypatch, delay=3)
    stack = harness.Stack(workers=1)
    try:
        assert requests.get(f"http://127.0.0.1:{stack.port}/healthz", timeout=10).status_code == 200
        groups = {process.pid: _group_members(process.pid) for process in started}
        # The receiver answered, so it is past its slow start: gunicorn, its workers and the helper.
        assert len(groups[started[0].pid]) >= 4
    finally:
        stack.stop()
    for pgid, members in groups.items():
        assert _group_members(pgid) == set()
        assert all(_gone_process(pid) for pid in members)


def test_a_start_up_slower_than_the_timeout_fails_and_leaves_no_process(monkeypatch):
    started = _slow_start(monkeypatch, delay=120)
    monkeypatch.setattr(harness, "STARTUP_TIMEOUT", 3)
    with pytest.raises(TimeoutError):
        harness.Stack(workers=1)
    assert len(started) == 1  # the receiver never answered, so no worker was started
    assert _group_members(started[0].pid) == set()
    assert started[0].poll() is not None


def _gone_process(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]  # noqa: PTH123, SIM115
    except OSError:
        return True
    return state == "Z"


def test_the_backfill_bench_calls_memory_flat_only_when_the_second_half_stays_near_the_first():
    from bench import backfill

    def growth(samples):
        return next(row for row in backfill.memory_rows("worker", samples, 150) if "growth" in row[0])

    assert growth([60, 92, 95, 98]) == ("worker RSS growth, second half over first half, MB", "+6", "", "",
                                        "flat: <= 10 MB: met")
    assert growth([60, 70, 90, 120])[1:] == ("+50", "", "", "flat: <= 10 MB: MISSED")
    assert backfill.memory_rows("worker", [], 150)[0][-1] == "< 150 MB: MISSED"


def test_the_backfill_bench_stops_midway_starts_again_and_prints_its_table(monkeypatch, tmp_path):
    from bench import backfill

    started = []
    start_process = harness.Stack._start

    def record_process(stack, args):
        started.append(start_process(stack, args))
        return started[-1]

    monkeypatch.setattr(harness.Stack, "_start", record_process)
    printed = backfill.run(learners=2, stop_midway=True, directory=tmp_path / "backfill", every=1,
                           preset="search-index-off")
    assert "sandbox --preset search-index-off" in printed
    assert "| 32 / 0 / 0 " in printed  # 2 learners x 16 events: all applied
    for process, limit in (("worker", 150), ("receiver", 100)):
        size = next(line for line in printed.splitlines() if f"{process} RSS first / max / last" in line)
        assert f"< {limit} MB: met" in size
    assert "all, none failed: met" in printed
    assert next(line for line in printed.splitlines() if "events applied twice" in line).split("|")[2].strip() == "0"
    assert len(started) == 2 * 5  # receiver and 4 workers, twice: all of them stopped
    assert all(_gone(process.pid) for process in started)


def test_a_backfill_resumed_counts_only_the_events_of_its_own_run(tmp_path):
    from bench import backfill

    directory = tmp_path / "backfill"
    backfill.run(learners=1, directory=directory, every=1, preset="search-index-off")
    again = backfill.run(learners=1, directory=directory, every=1, preset="search-index-off")
    events = next(line for line in again.splitlines() if line.startswith("| events "))
    assert "16 (0 in this run)" in events  # all done by the first run: none applied again, no rate of 16
    assert next(line for line in again.splitlines() if "events applied twice" in line).split("|")[2].strip() == "0"
