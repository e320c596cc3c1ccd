"""A cap on requests per second, one per system a reconciliation reads (RECONCILE_MOODLE_RPS, _CRM_RPS)."""

from __future__ import annotations

import time
from collections.abc import Callable


class RequestPacer:
    """Spaces requests at least 1/rate seconds apart: never more than `rate` in any one second.

    The clock and the sleep are parameters so a test can count requests against a clock it drives
    instead of timing them.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self.next_at: float | None = None
        self.count = 0

    def wait(self) -> None:
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval
        self.count += 1
