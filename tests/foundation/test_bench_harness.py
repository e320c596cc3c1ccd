"""`make bench` on a loaded machine: a slow first answer is waited for, and a failed start-up leaves nothing running."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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
