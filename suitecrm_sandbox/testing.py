"""Run a sandbox in a child process and steer it: used by the test suite and the benchmarks."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import requests

from sandbox_kit.child import SandboxChild, free_port


@dataclass
class SandboxProcess(SandboxChild):
    """A `crmsync sandbox` child process on a free loopback port."""

    bare: bool = False
    package_version: str | None = None  # an earlier package release (None: crm_schema.yaml's)
    database: str = ":memory:"
    client_id: str = "crmsync-sandbox"
    client_secret: str = "sandbox-secret"
    grants: str = "client_credentials,password,refresh_token"
    username: str = "admin"
    password: str = "sandbox-password"
    extra_args: list[str] = field(default_factory=list)
    # The package's CRM → receiver channel: where CRM users' Contact changes go, signed with crm_secret.
    crm_receiver_url: str | None = None
    crm_secret: str | None = None
    port: int = field(default_factory=free_port)

    def start(self) -> SandboxProcess:
        args = [sys.executable, "-m", "crmsync", "sandbox", "--bind", f"127.0.0.1:{self.port}",
                "--database", self.database, "--client-id", self.client_id, "--client-secret", self.client_secret,
                "--client-grants", self.grants, "--username", self.username, "--password", self.password,
                *(["--bare"] if self.bare else []),
                *(["--package-version", self.package_version] if self.package_version else []),
                *(["--crm-receiver-url", self.crm_receiver_url] if self.crm_receiver_url else []), *self.extra_args]
        # The channel's secret goes through the environment: a command line is visible to every local user.
        env = {**os.environ, **({"SANDBOX_CRM_SECRET": self.crm_secret} if self.crm_secret else {})}
        return self._spawn(args, env)

    # --- steering ---------------------------------------------------------------------------------
    def records(self, module: str) -> list[dict]:
        return self._admin("GET", f"records/{module}")

    def clear_calls(self) -> None:
        self._admin("DELETE", "calls")

    def reset(self) -> None:
        self._admin("POST", "reset")

    def hold(self, method: str, module: str, count: int = 1) -> None:
        """The next `count` such requests wait inside the sandbox until `release()`."""
        self._admin("PUT", "gate", json={"method": method, "module": module, "count": count})

    def wait_until_held(self, count: int = 1, timeout: float = 60) -> None:
        held = requests.get(f"{self.url}/__sandbox/gate", params={"wait_for": count, "timeout": timeout},
                            timeout=timeout + 10).json()["held"]
        if held < count:
            raise TimeoutError(f"only {held} of {count} requests reached the sandbox's gate")

    def release(self) -> None:
        self._admin("DELETE", "gate")

    def revoke_tokens(self) -> None:
        self._admin("POST", "revoke-tokens")

    def freeze_clock(self, iso: str | None) -> None:
        self._admin("PUT", "clock", json={"now": iso})

    def queue_ids(self, ids: list[str]) -> None:
        self._admin("POST", "next-ids", json={"ids": ids})

    def token(self, state: str = "valid") -> str:
        return self._admin("POST", "tokens", json={"state": state})["access_token"]

    def crm_channel(self) -> dict:
        """The outbox as the package's Moodle sync page shows it (waiting, failed, last delivery, rows)."""
        return self._admin("GET", "crm-channel")

    def deliver_now(self) -> dict:
        """"Send now": deliver everything waiting, also what waits for a retry."""
        return self._admin("POST", "crm-channel/deliver")

    def retry_failed(self) -> dict:
        return self._admin("POST", "crm-channel/retry-failed")
