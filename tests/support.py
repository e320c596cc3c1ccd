"""Helpers the test suites share: free ports, background servers, paths."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.harness import stop_group

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str, explain=lambda: "", every: float = 0.2) -> None:
    """Until condition() holds; fails the test after `timeout` seconds, saying what it waited for."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}; {explain()}"
        time.sleep(every)


def wait_for_http(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # refused, or accepted but too slow on a loaded machine: not up yet
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout}s")


@contextmanager
def background_process(args: list[str], env: dict[str, str] | None = None, ready_url: str | None = None,
                       cwd: Path = REPO, timeout: float = 20.0):
    """Run a server process for the duration of a test; stop it with SIGTERM, then SIGKILL."""
    full_env = {**os.environ, **(env or {})}
    process = subprocess.Popen(args, env=full_env, cwd=cwd, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if ready_url:
            wait_for_http(ready_url, timeout=timeout, process=process)
        yield process
    finally:
        if process.poll() is None:
            stop_group(process, grace=10)


def receiver_in_thread(settings):
    """The receiver app (with these settings) served over real HTTP from a thread of the test: the server
    (shutdown() stops it) and its base URL."""
    import threading

    from werkzeug.serving import make_server

    from receiver import create_app

    server = make_server("127.0.0.1", free_port(), create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"
