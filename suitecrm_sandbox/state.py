"""Everything one sandbox instance holds: storage, modules, clock, id queue, faults, write cap, call log."""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sandbox_kit.gate import Gate
from suitecrm_sandbox import modules as module_defs
from suitecrm_sandbox.channel import Channel, ChannelSettings
from suitecrm_sandbox.email import HOOK_MODULES
from suitecrm_sandbox.faults import Faults
from suitecrm_sandbox.store import Store
from suitecrm_sandbox.tokens import Clients, Tokens

CALL_LOG_LIMIT = 100_000


@dataclass
class Options:
    bare: bool = False  # the recorded SuiteCRM without this product's package
    package_version: str | None = None  # the package release installed (None: crm_schema.yaml's)
    # SuiteCRM 7.14.6 ignores email1 in a PATCH of a record that has an address; the package's
    # before_save hook on Contacts makes it take effect. None: as the mode says (ignored when bare).
    email1_patch_ignored: bool | None = None
    token_ttl: int = 3600
    # The package's CRM → receiver channel (suitecrm_sandbox/channel.py); None: not configured, as a
    # package without receiver_url, which records nothing.
    channel: ChannelSettings | None = None
    field_mapping_file: str | None = None  # the mapping the package was built with (None: the shipped one)

    def email_hook(self, module: str) -> bool:
        """Whether a PATCH of email1 on this module replaces a stored address (suitecrm_sandbox/email.py)."""
        ignored = self.bare if self.email1_patch_ignored is None else self.email1_patch_ignored
        return not ignored and module in HOOK_MODULES


@dataclass
class SandboxState:
    store: Store
    options: Options
    clients: Clients
    faults: Faults = field(default_factory=Faults)
    gate: Gate = field(default_factory=Gate)
    calls: deque = field(default_factory=lambda: deque(maxlen=CALL_LOG_LIMIT))

    def __post_init__(self):
        custom = None if self.options.bare else module_defs.package_schema(self.options.package_version)
        self.modules = module_defs.build(custom)
        self.meta_modules = module_defs.meta_modules(custom)
        self.tokens = Tokens(self.store, self.clients, self.options, self.now)
        self.channel = Channel(self.store, self._outbox_modules(custom), self.options.channel, self.now,
                               empty_values={name: module.attributes for name, module in self.modules.items()})
        self._frozen_now: float | None = None
        self._next_ids: deque[str] = deque()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writers = 0  # writes at the server now: in the slot or waiting for it
        self._next_write_at = 0.0  # monotonic time the next write may start
        self._writers_lock = threading.Lock()

    def _outbox_modules(self, custom) -> dict:
        if custom is None or self.options.channel is None:
            return {}  # no package, or its channel is not configured: nothing is recorded
        from crm_connector.mapping import DEFAULT_MAPPING
        from suitecrm_package.build import outbox_modules

        return outbox_modules(custom, Path(self.options.field_mapping_file or DEFAULT_MAPPING))

    def now(self) -> float:
        return self._frozen_now if self._frozen_now is not None else time.time()

    def set_clock(self, timestamp: float | None) -> None:
        self._frozen_now = timestamp

    def queue_ids(self, ids: list[str]) -> None:
        with self._lock:
            self._next_ids.extend(ids)

    def new_id(self) -> str:
        from suitecrm_sandbox.api import new_guid

        with self._lock:
            return self._next_ids.popleft() if self._next_ids else new_guid()

    @contextmanager
    def write_slot(self):
        """Writes one at a time, each starting `faults.write_seconds` after the one before it started, as
        SuiteCRM's search index paces them: a client writing one record after another gets `write_rate`
        whatever its own time per call, and every other writer waiting makes the next write slower."""
        if not self.faults.write_seconds(1):
            yield
            return
        with self._writers_lock:
            self._writers += 1
        try:
            with self._write_lock:
                wait = self._next_write_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with self._writers_lock:
                    seconds = self.faults.write_seconds(self._writers)
                self._next_write_at = time.monotonic() + seconds
                yield
        finally:
            with self._writers_lock:
                self._writers -= 1

    def reset(self) -> None:
        self.store.reset()
        self.calls.clear()
        with self._lock:
            self._next_ids.clear()
