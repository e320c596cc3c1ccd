"""Injected faults, reproducible from a seed: what a flaky SuiteCRM does to its clients."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields

DB_FAILURE_BODY = ('{\n    "errors": {\n        "status": 400,\n        "title": null,\n        "detail": '
                   '"Database failure. Please refer to suitecrm.log for details."\n    }\n}'
                   'Database failure. Please refer to suitecrm.log for details.')
WRITE_RATE_PRESETS = {"search-index-on": 13.0, "search-index-off": 45.0}


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
    write_rate: float = 0.0  # writes per second the server sustains (0: unlimited)
    seed: int | None = None


class Faults:
    """Current fault settings and the seeded random source that decides which call gets which fault."""

    def __init__(self):
        self._lock = threading.Lock()
        self.configure({})

    def configure(self, changes: dict) -> FaultSettings:
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known - {"write_rate_preset"}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        changes = dict(changes)
        preset = changes.pop("write_rate_preset", None)
        if preset is not None:
            if preset not in WRITE_RATE_PRESETS:
                raise ValueError(f"write_rate_preset must be one of {', '.join(WRITE_RATE_PRESETS)}")
            changes["write_rate"] = WRITE_RATE_PRESETS[preset]
        with self._lock:
            self.settings = FaultSettings(**changes)
            self._random = random.Random(self.settings.seed)
        return self.settings

    @property
    def write_rate(self) -> float:
        return self.settings.write_rate

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
