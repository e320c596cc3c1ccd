"""Injected faults, reproducible from a seed: what a flaky Moodle (or the proxy in front of it) does to clients."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields


@dataclass
class FaultSettings:
    latency_ms: float = 0.0  # fixed added latency
    latency_jitter_ms: float = 0.0  # plus uniform 0..jitter
    error_rate: float = 0.0  # share of web-service calls answered with one of error_statuses, empty body
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    throttle_rate: float = 0.0  # share answered 429 with Retry-After (a rate-limiting proxy)
    retry_after_seconds: int = 1
    reset_rate: float = 0.0  # share whose connection is reset without an answer
    hang_rate: float = 0.0  # share that hang for hang_seconds before answering 504
    hang_seconds: float = 30.0
    functions: list[str] = field(default_factory=list)  # only calls of these functions (empty: every call)
    seed: int | None = None


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self.configure({})

    def configure(self, changes: dict) -> FaultSettings:
        unknown = set(changes) - {f.name for f in fields(FaultSettings)}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self.settings = FaultSettings(**changes)
            self._random = random.Random(self.settings.seed)
        return self.settings

    def as_dict(self) -> dict:
        return asdict(self.settings)

    def draw(self, function: str | None) -> tuple[str | None, float, int]:
        """(fault or None, latency in seconds, error status) for the next call of `function`."""
        s = self.settings
        if s.functions and function not in s.functions:
            return None, 0.0, 0
        with self._lock:
            latency = (s.latency_ms + self._random.uniform(0, s.latency_jitter_ms)) / 1000
            roll = self._random.random()
            status = self._random.choice(s.error_statuses) if s.error_statuses else 500
        for name, share in (("reset", s.reset_rate), ("hang", s.hang_rate), ("throttle", s.throttle_rate),
                            ("error", s.error_rate)):
            if roll < share:
                return name, latency, status
            roll -= share
        return None, latency, status

    @staticmethod
    def sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
