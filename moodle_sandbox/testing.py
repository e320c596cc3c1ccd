"""Run a Moodle sandbox in a child process and steer it: used by the test suite and the benchmarks."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import requests

from sandbox_kit.child import SandboxChild, free_port


@dataclass
class MoodleSandboxProcess(SandboxChild):
    """A `crmsync moodle-sandbox` child process on a free loopback port."""

    token: str = "sandbox-moodle-token"
    database: str = ":memory:"
    site: str = "recorded"
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/webservice/rest/server.php"

    def start(self) -> MoodleSandboxProcess:
        args = [sys.executable, "-m", "crmsync", "moodle-sandbox", "--bind", f"127.0.0.1:{self.port}",
                "--database", self.database, "--site", self.site, *self.extra_args]
        # The token goes through the environment: a command line is visible to every local user.
        return self._spawn(args, {**os.environ, "MOODLE_SANDBOX_TOKEN": self.token})

    # --- steering ---------------------------------------------------------------------------------
    def records(self, table: str) -> list[dict]:
        return self._admin("GET", f"records/{table}")

    def seed(self, **tables: list[dict]) -> dict:
        return self._admin("POST", "seed", json=tables)

    def reset(self, site: str = "recorded") -> None:
        self._admin("POST", "reset", json={"site": site})

    def set_site_policy(self, userid: int, agreed: bool) -> None:
        self._admin("PUT", "site-policy", json={"userid": userid, "agreed": agreed})

    def freeze_clock(self, now: float | None) -> None:
        self._admin("PUT", "clock", json={"now": now})

    def issue_token(self, service: str = "crm_sync", userid: int = 2, token: str | None = None) -> str:
        return self._admin("POST", "tokens", json={"service": service, "userid": userid, "token": token})["token"]

    def revoke_tokens(self) -> None:
        self._admin("POST", "revoke-tokens")

    def set_config(self, **changes) -> dict:
        return self._admin("PUT", "config", json=changes)

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
