"""Holding chosen API requests until a test lets them go: the barrier that forces an interleaving.

A test arms the gate for the next N writes of a module; those requests wait inside the sandbox
(the client sees a slow CRM) until the test, having made the other side of the race happen,
opens it. Nothing is decided by timing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

HOLD_LIMIT_SECONDS = 120  # a forgotten gate opens by itself


@dataclass
class Trap:
    method: str
    module: str
    remaining: int


class Gate:
    def __init__(self):
        self._condition = threading.Condition()
        self._trap: Trap | None = None
        self._held = 0
        self._open_generation = 0

    def arm(self, method: str, module: str, count: int) -> None:
        with self._condition:
            self._trap = Trap(method.upper(), module, count)

    def open(self) -> None:
        with self._condition:
            self._trap = None
            self._open_generation += 1
            self._condition.notify_all()

    def held(self) -> int:
        with self._condition:
            return self._held

    def wait_here(self, method: str, module: str | None) -> None:
        """Block this request if it is one the gate is armed for."""
        with self._condition:
            trap = self._trap
            if trap is None or trap.remaining <= 0 or trap.method != method or trap.module != module:
                return
            trap.remaining -= 1
            generation = self._open_generation
            self._held += 1
            self._condition.notify_all()
            try:
                self._condition.wait_for(lambda: self._open_generation != generation, timeout=HOLD_LIMIT_SECONDS)
            finally:
                self._held -= 1

    def wait_until_held(self, count: int, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self._held >= count, timeout=timeout)


def add_gate_routes(blueprint, gate_of) -> None:
    """The steering routes both sandboxes answer alike: how many calls the gate holds, and opening it."""
    from flask import jsonify, request

    @blueprint.get("/gate")
    def gate_status():
        """How many calls the gate holds; `?wait_for=N&timeout=S` answers once N are held (or the time is up)."""
        gate = gate_of()
        wanted = request.args.get("wait_for", type=int)
        if wanted:
            gate.wait_until_held(wanted, min(request.args.get("timeout", 30.0, type=float), 120.0))
        return jsonify({"held": gate.held()})

    @blueprint.delete("/gate")
    def open_gate():
        gate_of().open()
        return jsonify({"open": True})
