"""A sandbox in a child process on a free loopback port, and the steering calls every sandbox answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SandboxChild:
    """Start, stop and steer a sandbox process; subclasses say how to start theirs (`port`, `start`)."""

    port: int
    name = "sandbox"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], env: dict[str, str]):
        """Start `args` and wait until its steering API answers; secrets go in `env`, never in `args`."""
        self._process = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self._process.stderr.read()}")
            try:
                requests.get(f"{self.url}/__sandbox/faults", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not start")

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def _admin(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.url}/__sandbox/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def set_faults(self, **settings) -> dict:
        return self._admin("PUT", "faults", json=settings)

    def clear_faults(self) -> dict:
        return self._admin("DELETE", "faults")

    def calls(self) -> list[dict]:
        return self._admin("GET", "calls")
