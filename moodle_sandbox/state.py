"""Everything one Moodle sandbox holds: the site's tables, tokens, clock, faults, gate and call log."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from moodle_sandbox import model
from moodle_sandbox.faults import Faults
from moodle_sandbox.store import Store
from sandbox_kit.gate import Gate  # the same barrier: hold chosen calls until a test opens it

RECORDED = Path(__file__).parent / "data" / "recorded.json"
CALL_LOG_LIMIT = 100_000


# The plugin's own functions, which the plugin's upgrade adds to its service: the sandbox stands for a Moodle with
# the plugin installed, whose CRM sync service lists them besides the recorded ones.
PLUGIN_FUNCTIONS = ("local_crmsync_export_state", "local_crmsync_resend", "local_crmsync_notify_admins")
# Core functions the plugin's service lists (moodle_plugin/db/services.php) that the recorded service did not.
PLUGIN_SERVICE_CORE_FUNCTIONS = ("core_role_assign_roles", "core_role_unassign_roles")


def recorded_site() -> dict[str, list[dict]]:
    """The recorded Moodle 4.3 site's rows, table by table (ids as recorded), the plugin's functions in crm_sync."""
    site = recorded_data()
    for service in site["external_services"]:
        if service["shortname"] == "crm_sync":
            service["functions"] = service["functions"] + list(PLUGIN_SERVICE_CORE_FUNCTIONS + PLUGIN_FUNCTIONS)
    return site


def recorded_data() -> dict[str, list[dict]]:
    """The recorded site's rows exactly as recorded."""
    data = json.loads(RECORDED.read_text())
    return {table: rows for table, rows in data.items() if isinstance(rows, list)}


def empty_site() -> dict[str, list[dict]]:
    """Only what every Moodle has: site settings, roles, the guest and admin users, the front page, services."""
    site = recorded_site()
    kept = {"config", "role", "external_services", "user_info_field"}
    return {t: rows for t, rows in site.items() if t in kept} | {
        "user": [u for u in site["user"] if u["username"] in ("guest", "admin")],
        "course": [c for c in site["course"] if c["id"] == 1]}


@dataclass
class SandboxState:
    store: Store
    faults: Faults = field(default_factory=Faults)
    gate: Gate = field(default_factory=Gate)
    calls: deque = field(default_factory=lambda: deque(maxlen=CALL_LOG_LIMIT))

    def __post_init__(self):
        self._frozen_now: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._frozen_now if self._frozen_now is not None else time.time()

    def set_clock(self, timestamp: float | None) -> None:
        self._frozen_now = timestamp

    def config(self) -> dict:
        return self.store.get("config", 1)

    def set_config(self, changes: dict) -> dict:
        """Change site settings (siteurl, crmsync_siteid, crmsync_profilefields, ...)."""
        with self.store.transaction():
            config = self.config() | changes
            self.store.update("config", config)
        return config

    def seed(self, tables: dict[str, list[dict]]) -> dict[str, int]:
        """Adds rows (with their ids, or the tables' next ones); one transaction."""
        with self.store.transaction():
            for table, rows in tables.items():
                for row in rows:
                    self.store.insert(table, model.complete(table, row))
        return {table: len(rows) for table, rows in tables.items()}

    def reset(self, tables: dict[str, list[dict]]) -> None:
        with self.store.transaction():
            tokens = self.store.all("external_tokens")
            self.store.reset()
            self.seed(tables)
            for token in tokens:  # the operator's tokens keep working across a reset
                if self.store.first("external_services", id=token["serviceid"]):
                    self.store.insert("external_tokens", token)
        self.calls.clear()

    def issue_token(self, service: str, user_id: int, token: str | None = None) -> str:
        """A token for the user on the service (by shortname), as Manage tokens creates one."""
        found = self.store.first("external_services", shortname=service)
        if found is None:
            raise ValueError(f"no service {service!r}")
        if self.store.get("user", user_id) is None:
            raise ValueError(f"no user {user_id}")
        token = token or secrets.token_hex(16)
        existing = self.store.first("external_tokens", token=token)
        if existing:
            self.store.delete("external_tokens", existing["id"])
        self.store.insert("external_tokens", {"token": token, "userid": user_id, "serviceid": found["id"]})
        return token

    def revoke_tokens(self) -> None:
        with self.store.transaction():
            for token in self.store.all("external_tokens"):
                self.store.delete("external_tokens", token["id"])

    def token_owner(self, token: str | None) -> dict | None:
        """The token's user with its service, or None for an unknown token or a disabled service."""
        row = self.store.first("external_tokens", token=token) if token else None
        if row is None:
            return None
        service = self.store.get("external_services", row["serviceid"])
        user = self.store.get("user", row["userid"])
        if not service or not service["enabled"] or not user or user["deleted"]:
            return None
        return user | {"service": service}
