"""What operators see of a real worker process: its metrics after real work, where it listens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.connector.conftest import Pipeline, user
from tests.support import REPO, free_port


@pytest.fixture
def sqlite_pipeline(sandbox, sqlite_url, redis_url, tmp_path):
    built = Pipeline(sandbox, sqlite_url, redis_url, tmp_path)
    yield built
    built.close()


def test_a_worker_serves_the_counts_of_the_work_it_did(sqlite_pipeline):
    port = free_port()
    worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], cwd=REPO, start_new_session=True,
                              env={**sqlite_pipeline.env, "WORKER_METRICS_PORT": str(port), "LOG_LEVEL": "DEBUG",
                                   "LOG_FORMAT": "json"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        sqlite_pipeline.send(sqlite_pipeline.message("user.created", "user:80", user(80)),
                             sqlite_pipeline.message("user.created", "user:81", user(81)),
                             sqlite_pipeline.message("user.updated", "user:81", user(81, "Newer")))
        deadline = time.monotonic() + 60
        while sqlite_pipeline.waiting():
            assert time.monotonic() < deadline, "the worker did not apply the events"
            time.sleep(0.2)
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert _listening_addresses(port) == {"127.0.0.1"}  # loopback by default, not every interface
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        log = worker.communicate(timeout=30)[1]

    lines = [line for line in log.splitlines() if line.strip()]
    assert any("applied event" in json.loads(line)["message"] for line in lines)
    for line in lines:
        json.loads(line)  # RQ's own lines too
    for private in ("Anders", "student80@example.invalid", "student81", sqlite_pipeline.secret,
                    sqlite_pipeline.sandbox.client_secret):
        assert private not in log, private

    applied = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("crmsync_events_total{") and 'outcome="applied"' in line}
    assert sum(applied.values()) == 2.0  # user:80, and user:81's newest state (the older one coalesced)
    writes = next(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("crmsync_crm_writes_total "))
    assert writes == 2.0
    assert "crmsync_apply_seconds_count" in metrics


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the IPv4 sockets listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _remote, state = line.split()[1:4]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found
