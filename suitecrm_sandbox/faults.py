"""Injected faults, reproducible from a seed: what a flaky SuiteCRM does to its clients."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields

DB_FAILURE_BODY = ('{\n    "errors": {\n        "status": 400,\n        "title": null,\n        "detail": '
                   '"Database failure. Please refer to suitecrm.log for details."\n    }\n}'
                   'Database failure. Please refer to suitecrm.log for details.')
# What a real SuiteCRM 7.14.6 on 2 cores sustained (../shared/DESIGN.md): with its search index on (the
# default) 13 writes/s from one sequential client and about 5/s in total from four parallel ones (each
# write waits for the index, and the waiting makes every write slower); with it off about 43/s.
# write_contention k: with n writers at the server at once each write takes (1 + k(n - 1)) / write_rate,
# so four writers get 13 / (1 + 3k) = 5/s at k = 0.53.
PRESETS = {"search-index-on": {"write_rate": 13.0, "write_contention": 0.53},
           "search-index-off": {"write_rate": 43.0, "write_contention": 0.0}}


@dataclass
class FaultSettings:
    latency_ms: float = 0.0  # fixed added latency
    latency_jitter_ms: float = 0.0  # plus uniform 0..jitter
    error_rate: float = 0.0  # share of API calls answered with one of error_statuses
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    throttle_rate: float = 0.0  # share answered 429 with Retry-After
    retry_after_seconds: int = 1
    reset_rate: float = 0.0  # share whose connection is reset without an answer
    hang_rate: float = 0.0  # share that hang for hang_seconds before answering 504
    hang_seconds: float = 30.0
    db_failure_rate: float = 0.0  # share answered 400 with the JSON-plus-text DB failure body
    write_rate: float = 0.0  # writes per second the server sustains, one after another (0: unlimited)
    write_contention: float = 0.0  # how much each further concurrent writer slows every write (above)
    seed: int | None = None


def preset_settings(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])


class Faults:
    """Current fault settings and the seeded random source that decides which call gets which fault."""

    def __init__(self):
        self._lock = threading.Lock()
        self._base: dict = {}  # the CRM's own speed (`crmsync sandbox --preset`): kept under every fault change
        self.configure({})

    def set_base(self, settings: dict) -> FaultSettings:
        """Settings every later `configure` starts from, as a real CRM's speed stays whatever faults come."""
        self._base = dict(settings)
        return self.configure({})

    def configure(self, changes: dict) -> FaultSettings:
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known - {"preset"}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        changes = dict(changes)
        preset = changes.pop("preset", None)
        if preset is not None:
            changes = {**preset_settings(preset), **changes}
        with self._lock:
            self.settings = FaultSettings(**{**self._base, **changes})
            self._random = random.Random(self.settings.seed)
        return self.settings

    def write_seconds(self, writers: int) -> float:
        """How long one write holds the server's write slot while `writers` writes are at the server (0: no cap)."""
        s = self.settings
        if not s.write_rate:
            return 0.0
        return (1 + s.write_contention * max(0, writers - 1)) / s.write_rate

    def as_dict(self) -> dict:
        return asdict(self.settings)

    def draw(self) -> tuple[str | None, float]:
        """(fault to inject or None, latency in seconds) for the next API call."""
        s = self.settings
        with self._lock:
            latency = (s.latency_ms + self._random.uniform(0, s.latency_jitter_ms)) / 1000
            roll = self._random.random()
        for name, share in (("reset", s.reset_rate), ("hang", s.hang_rate), ("throttle", s.throttle_rate),
                            ("error", s.error_rate), ("db_failure", s.db_failure_rate)):
            if roll < share:
                return name, latency
            roll -= share
        return None, latency

    def error_status(self) -> int:
        with self._lock:
            return self._random.choice(self.settings.error_statuses)

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
