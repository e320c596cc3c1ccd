"""Processes the benchmarks start (receiver, baseline, workers, sandbox) and what they measure about them."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from crmsync import db
from sandbox_kit.child import free_port
from suitecrm_sandbox.testing import SandboxProcess

REPO = Path(__file__).resolve().parent.parent
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
# The server a PostgreSQL run makes its throwaway database on (dropped when the stack stops).
BENCH_POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
GUNICORN_WORKERS = 2
# How long a process may take to answer its first request: generous, since a loaded machine (another
# session's tests, a core kept busy) can make gunicorn's imports take tens of seconds.
STARTUP_TIMEOUT = 180
# After SIGTERM, how long a process group has to exit before it is killed.
STOP_GRACE = 15


def rss_mb(pid: int) -> float:
    """Resident memory of one process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def wait_http(url: str, timeout: float | None = None, attempt_timeout: float = 5) -> None:
    """Until `url` answers (at most STARTUP_TIMEOUT seconds); a slow first answer on a loaded machine is
    "not yet", not a failure."""
    timeout = STARTUP_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=attempt_timeout)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError(f"nothing answered at {url} within {timeout:.0f}s")


def stop_group(process: subprocess.Popen, grace: float | None = None) -> None:
    """End a process started with start_new_session and everything in its group (gunicorn's workers):
    SIGTERM, then SIGKILL to whatever is left after `grace` (STOP_GRACE) seconds, whether or not the
    leader exited."""
    grace = STOP_GRACE if grace is None else grace
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


class _PostgresDatabase:
    """A database of the stack's own on the PostgreSQL server at BENCH_POSTGRES_URL."""

    def __init__(self):
        from sqlalchemy import create_engine, text

        self.name = f"crmsync_bench_{os.getpid()}_{os.urandom(3).hex()}"
        self._admin = create_engine(BENCH_POSTGRES, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = BENCH_POSTGRES.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        from sqlalchemy import text

        db.forget_engines()
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


@dataclass
class Stack:
    """Receiver (gunicorn), N workers and a sandbox, on a fresh database (a SQLite file, or with
    database="postgresql" a throwaway PostgreSQL database) and a Redis database of their own."""

    workers: int = 2
    sandbox_latency_ms: float = 0
    write_rate: float = 0
    database: str = "sqlite"
    worker_threads: int | None = None  # WORKER_THREADS of each worker; None: the default
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self):
        import redis

        redis.Redis.from_url(BENCH_REDIS).flushdb()
        self.tmp = Path(tempfile.mkdtemp(prefix="crmsync-bench-"))
        self.sandbox = None
        self._postgres = _PostgresDatabase() if self.database == "postgresql" else None
        try:
            self.database_url = self._postgres.url if self._postgres else f"sqlite:///{self.tmp / 'bench.db'}"
            db.upgrade(self.database_url)
            self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
            self.sandbox = SandboxProcess().start()
            self._start_stack()
        except BaseException:
            self.stop()  # a failed start-up leaves nothing running
            raise

    def _start_stack(self) -> None:
        faults = {"latency_ms": self.sandbox_latency_ms, "write_rate": self.write_rate}
        self.sandbox.set_faults(**faults)
        self.port = free_port()
        self.env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": BENCH_REDIS,
                    "WEBHOOK_SECRETS": self.secret, "BIND": f"127.0.0.1:{self.port}",
                    "WEB_CONCURRENCY": str(GUNICORN_WORKERS), "SUITECRM_URL": self.sandbox.url,
                    "SUITECRM_CLIENT_ID": self.sandbox.client_id, "SUITECRM_CLIENT_SECRET": self.sandbox.client_secret,
                    "LOG_LEVEL": "WARNING", "SWEEP_INTERVAL_SECONDS": "5"}
        if self.worker_threads is not None:
            self.env["WORKER_THREADS"] = str(self.worker_threads)
        self.receiver = self._start([sys.executable, "-m", "crmsync", "serve"])
        wait_http(f"http://127.0.0.1:{self.port}/healthz")
        self.worker_processes = [self._start([sys.executable, "-m", "crmsync", "worker"])
                                 for _ in range(self.workers)]
        self.url = f"http://127.0.0.1:{self.port}/webhooks/moodle"

    def _start(self, args: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(args, env=self.env, cwd=self.tmp, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def receiver_rss(self) -> list[float]:
        return [rss_mb(pid) for pid in children(self.receiver.pid)]

    def worker_rss(self) -> list[float]:
        return [rss_mb(p.pid) for p in self.worker_processes]

    def stop_connector(self) -> None:
        """Stop the receiver and the workers; the sandbox and the database stay."""
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)  # all at once, so their grace periods overlap
            except ProcessLookupError:
                pass
        for process in self.processes:
            stop_group(process)
        self.processes = []

    def stop(self) -> None:
        self.stop_connector()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._postgres is not None:
            self._postgres.drop()


def start_baseline() -> tuple[subprocess.Popen, str]:
    """The bare Flask app under the same gunicorn settings as the receiver."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:receiver.gunicorn_config", "--bind", f"127.0.0.1:{port}",
         "--workers", str(GUNICORN_WORKERS), "bench.baseline_app:app"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
    except BaseException:
        stop_group(process, grace=0)
        raise
    return process, f"http://127.0.0.1:{port}/webhooks/moodle"
