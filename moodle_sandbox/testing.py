"""Run a Moodle sandbox in a child process and steer it: used by the test suite and the benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MoodleSandboxProcess:
    """A `crmsync moodle-sandbox` child process on a free loopback port."""

    token: str = "sandbox-moodle-token"
    database: str = ":memory:"
    site: str = "recorded"
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=_free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.url}/webservice/rest/server.php"

    def start(self) -> MoodleSandboxProcess:
        args = [sys.executable, "-m", "crmsync", "moodle-sandbox", "--bind", f"127.0.0.1:{self.port}",
                "--database", self.database, "--site", self.site, *self.extra_args]
        # The token goes through the environment: a command line is visible to every local user.
        self._process = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True,
                                         env={**os.environ, "MOODLE_SANDBOX_TOKEN": self.token})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Moodle sandbox exited: {self._process.stderr.read()}")
            try:
                requests.get(f"{self.url}/__sandbox/faults", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise TimeoutError("Moodle sandbox did not start")

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()

    def __enter__(self) -> MoodleSandboxProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # --- steering ---------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.url}/__sandbox/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def set_faults(self, **settings) -> dict:
        return self._admin("PUT", "faults", json=settings)

    def clear_faults(self) -> dict:
        return self._admin("DELETE", "faults")

    def records(self, table: str) -> list[dict]:
        return self._admin("GET", f"records/{table}")

    def seed(self, **tables: list[dict]) -> dict:
        return self._admin("POST", "seed", json=tables)

    def reset(self, site: str = "recorded") -> None:
        self._admin("POST", "reset", json={"site": site})

    def calls(self) -> list[dict]:
        return self._admin("GET", "calls")

    def freeze_clock(self, now: float | None) -> None:
        self._admin("PUT", "clock", json={"now": now})

    def issue_token(self, service: str = "crm_sync", userid: int = 2, token: str | None = None) -> str:
        return self._admin("POST", "tokens", json={"service": service, "userid": userid, "token": token})["token"]

    def revoke_tokens(self) -> None:
        self._admin("POST", "revoke-tokens")

    def set_service(self, shortname: str, **changes) -> dict:
        return self._admin("PUT", f"services/{shortname}", json=changes)

    def hold(self, function: str, count: int = 1) -> None:
        """The next `count` calls of the web-service function wait inside the sandbox until `release()`."""
        self._admin("PUT", "gate", json={"function": function, "count": count})

    def wait_until_held(self, count: int = 1, timeout: float = 60) -> None:
        held = requests.get(f"{self.url}/__sandbox/gate", params={"wait_for": count, "timeout": timeout},
                            timeout=timeout + 10).json()["held"]
        if held < count:
            raise TimeoutError(f"only {held} of {count} calls reached the sandbox's gate")

    def release(self) -> None:
        self._admin("DELETE", "gate")
