"""`crmsync backfill-progress`: what waits, what is done, the rate and the time left, read from the inbox."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.connector.conftest import Pipeline, enrolment, user
from tests.support import REPO


@pytest.fixture
def sqlite_pipeline(sandbox, sqlite_url, redis_url, tmp_path):
    pipe = Pipeline(sandbox, sqlite_url, redis_url, tmp_path)
    yield pipe
    pipe.close()


def progress(pipeline, *args: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "crmsync", "backfill-progress", *args], env=pipeline.env, cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    return shown.stdout


def test_it_counts_what_waits_and_what_was_applied_and_ends_when_nothing_waits(sqlite_pipeline):
    pipeline = sqlite_pipeline
    pipeline.send(pipeline.message("user.created", "user:70", user(70)),
                  pipeline.message("enrolment.created", "enrolment:70:2", enrolment(70)))
    before = progress(pipeline, "--once")
    assert re.search(r"waiting 2 \(queued \d+, for a parent \d+\) · applied 0 ", before), before
    assert "left unknown" in before  # nothing has finished yet: no rate to go by

    pipeline.drain()
    after = progress(pipeline)  # without --once it prints until nothing waits: here at once
    assert len(after.splitlines()) == 1
    assert re.search(r"waiting 0 .* applied 2 · skipped 0 · failed 0 · ([0-9.e-]+) events/s · left 0m 00s", after), after
    assert float(re.search(r"([0-9.e-]+) events/s", after).group(1)) > 0
