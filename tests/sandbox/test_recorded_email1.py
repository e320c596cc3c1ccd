"""Replays the e-mail transcripts recorded from a real SuiteCRM 7.14.6 (tests/sandbox/recorded/README.md)
against the sandbox: bare, as SuiteCRM itself answers, and with the package, whose before_save hook
makes a written email1 take effect. Status, content type and body must be identical.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from suitecrm_sandbox.testing import SandboxProcess
from tests.sandbox.test_contract import CLIENT_ID, SECRET, Replayer, _normalise

RECORDED = Path(__file__).with_name("recorded")
SETS = {"email1-bare": True, "email1-package": False, "email1-encoding": False}  # folder → served bare


def _load(folder: str) -> tuple[str, list[dict]]:
    lines = (RECORDED / folder / "INDEX.tsv").read_text().splitlines()
    minute = lines[0].split()[2]  # "# recorded <minute> against <mode>"
    names = [line.split("\t")[0] for line in lines[1:] if line.strip()]
    assert len(names) == len(list((RECORDED / folder).glob("[0-9][0-9]_*.json")))
    return minute, [json.loads((RECORDED / folder / name).read_text()) | {"file": name} for name in names]


def _replay(folder: str, bare: bool) -> list[tuple[str, tuple, tuple]]:
    minute, transcripts = _load(folder)
    with SandboxProcess(bare=bare, client_id=CLIENT_ID, client_secret=SECRET, grants="client_credentials") as sandbox:
        sandbox.freeze_clock(minute)
        replayer = Replayer(sandbox)
        results = []
        for transcript in transcripts:
            response = replayer.send(transcript)
            expected = transcript["response"]
            results.append((transcript["file"],
                            (expected["status"], expected["headers"]["content-type"], _normalise(expected["body"])),
                            (response.status_code, response.headers["Content-Type"], _normalise(response.json()))))
        return results


@cache
def _replayed(folder: str) -> list[tuple[str, tuple, tuple]]:
    return _replay(folder, SETS[folder])


def _call(transcript: dict) -> tuple:
    """What a call asked, without the record ids (new for every recording)."""
    body = transcript["request"]["body"] or {}
    attributes = body.get("data", {}).get("attributes") if isinstance(body.get("data"), dict) else body
    return transcript["file"], transcript["request"]["method"], transcript["request"]["query"], attributes


def test_both_sets_make_the_same_calls():
    bare, package = (_load(folder)[1] for folder in ("email1-bare", "email1-package"))
    assert [_call(t) for t in bare] == [_call(t) for t in package]


@pytest.mark.parametrize("folder", sorted(SETS))
def test_sandbox_answers_like_the_recorded_suitecrm(folder):
    for name, expected, got in _replayed(folder):
        assert got == expected, f"{folder}/{name}"


def _email1_after(folder: str, name: str) -> str:
    [(_, _, (_, _, body))] = [r for r in _replayed(folder) if r[0] == name]
    return body["data"]["attributes"]["email1"]


def test_with_the_package_a_patched_email1_takes_effect():
    assert _email1_after("email1-package", "05_get_after_change.json") == "b@example.invalid"
    assert _email1_after("email1-package", "13_get_after_blank.json") == ""
    # SuiteCRM alone ignores it.
    assert _email1_after("email1-bare", "05_get_after_change.json") == "a@example.invalid"
    assert _email1_after("email1-bare", "13_get_after_blank.json") == "a@example.invalid"
