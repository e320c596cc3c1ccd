"""The external functions the sandbox reproduces: name → parameter description and implementation.

Each implementation receives a Call (the store, the caller, the clock) and the validated
parameters, and returns what Moodle's function returns (None for functions that return null).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from moodle_sandbox.params import Single
from moodle_sandbox.store import Store

PLUGIN_VERSIONS = {"mod_attendance": "2024020500"}  # the recorded site's mod_attendance (MOODLE_403_STABLE)


@dataclass
class Call:
    store: Store
    user: dict  # the token's owner
    now: int
    config: dict

    def url(self, path: str) -> str:
        return self.config["siteurl"] + path


@dataclass
class Function:
    name: str
    parameters: Single
    run: Callable[[Call, dict], object]

    @property
    def version(self) -> str | None:
        for prefix, version in PLUGIN_VERSIONS.items():
            if self.name.startswith(prefix + "_"):
                return version
        return None


REGISTRY: dict[str, Function] = {}
# In Moodle's external_functions table (so callable when a service lists them) but not reproduced here.
NOT_REPRODUCED = {"core_course_get_courses", "core_course_create_courses",
                  "core_completion_get_activities_completion_status", "core_grades_get_gradeitems"}


def function(name: str, **parameters):
    def register(run):
        REGISTRY[name] = Function(name, Single(parameters), run)
        return run
    return register


def known(name: str) -> bool:
    return name in REGISTRY or name in NOT_REPRODUCED


def _load() -> None:
    from moodle_sandbox.functions import (  # noqa: F401 - importing registers them
        attendance,
        cohorts,
        courses,
        enrol,
        groups,
        reconcile,
        roles,
        site,
        users,
    )


_load()
