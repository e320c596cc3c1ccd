"""Replays the transcripts recorded from a real SuiteCRM 7.14.6 with a Module Builder package
installed (fixtures/suitecrm-v8-7.14.6-custom-module) against the sandbox started with that package
frozen (suitecrm_sandbox/data/packages/module-builder-2026-11-22.yaml), in order, as
test_contract.py does for the bare CRM: recorded ids queued, clock frozen, only new access tokens
normalised; status, content type and body must be identical.
"""

from __future__ import annotations

import json

import pytest

from suitecrm_sandbox.testing import SandboxProcess
from tests.sandbox.test_contract import CLIENT_ID, SECRET, Replayer, assert_answered_as_recorded
from tests.support import FIXTURES

TRANSCRIPTS = FIXTURES / "suitecrm-v8-7.14.6-custom-module"
PACKAGE = "module-builder-2026-11-22"
RECORDED_MINUTE = "2026-11-22T11:03:00+00:00"  # every datetime the server set


def _transcripts() -> list[dict]:
    names = [line.split("\t")[0] for line in (TRANSCRIPTS / "INDEX.tsv").read_text().splitlines()[1:] if line.strip()]
    # This recording redacted the client secret as "<redacted>"; the replayer fills in "<client-secret>".
    return [json.loads((TRANSCRIPTS / name).read_text().replace('"client_secret": "<redacted>"',
                                                                '"client_secret": "<client-secret>"')) | {"file": name}
            for name in names]


TRANSCRIPT_LIST = _transcripts()


@pytest.fixture(scope="module")
def replayer():
    with SandboxProcess(package_version=PACKAGE, client_id=CLIENT_ID, client_secret=SECRET,
                        grants="client_credentials") as sandbox:
        sandbox.freeze_clock(RECORDED_MINUTE)
        yield Replayer(sandbox)


def test_every_listed_transcript_is_replayed():
    assert len(TRANSCRIPT_LIST) == len(list(TRANSCRIPTS.glob("[0-9][0-9]_*.json"))) == 56


@pytest.mark.parametrize("transcript", TRANSCRIPT_LIST, ids=[t["file"] for t in TRANSCRIPT_LIST])
def test_sandbox_answers_like_suitecrm_with_a_module_builder_package(replayer, transcript):
    replayer.expect_generated_id(transcript)
    assert_answered_as_recorded(replayer.send(transcript), transcript["response"])
