"""Replays every folder of transcripts this project recorded from a real SuiteCRM 7.14.6
(tests/sandbox/recorded/README.md) against the sandbox, started as the CRM was when the folder was
recorded: bare, or with the package at the release INDEX.tsv's first line names. Status, content
type and body must be identical.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from suitecrm_sandbox.testing import SandboxProcess
from tests.sandbox.test_contract import CLIENT_ID, SECRET, Replayer, _normalise

RECORDED = Path(__file__).with_name("recorded")
HEADER = re.compile(r"# recorded (?P<minute>\S+) against (?:bare|package (?P<version>\d+\.\d+\.\d+))(?: \(.*\))?")
FOLDERS = sorted(path.parent.name for path in RECORDED.glob("*/INDEX.tsv"))


@dataclass(frozen=True)
class Recording:
    minute: str  # every datetime in an answer was set to it
    bare: bool
    package_version: str | None
    transcripts: list[dict]

    @property
    def client_id(self) -> str:
        """The OAuth2 client the recording logged in with."""
        token = next(t for t in self.transcripts if t["request"]["path"].endswith("access_token"))
        return (token["request"]["body"] or {}).get("client_id", CLIENT_ID)


@cache
def load(folder: str) -> Recording:
    lines = (RECORDED / folder / "INDEX.tsv").read_text().splitlines()
    header = HEADER.fullmatch(lines[0])
    assert header, f"{folder}/INDEX.tsv: first line must be '# recorded <minute> against bare|package <version>'"
    names = [line.split("\t")[0] for line in lines[1:] if line.strip()]
    assert len(names) == len(list((RECORDED / folder).glob("[0-9][0-9]_*.json"))), f"{folder}: INDEX.tsv lists every file"
    transcripts = [json.loads((RECORDED / folder / name).read_text()) | {"file": name} for name in names]
    return Recording(header["minute"], header["version"] is None, header["version"], transcripts)


@cache
def replayed(folder: str) -> list[tuple[str, tuple, tuple]]:
    """(file, recorded answer, sandbox answer) for each call, answers as (status, content type, body)."""
    recording = load(folder)
    with SandboxProcess(bare=recording.bare, package_version=recording.package_version,
                        client_id=recording.client_id, client_secret=SECRET, grants="client_credentials") as sandbox:
        sandbox.freeze_clock(recording.minute)
        replayer = Replayer(sandbox)
        results = []
        for transcript in recording.transcripts:
            replayer.expect_generated_id(transcript)
            response = replayer.send(transcript)
            expected = transcript["response"]
            results.append((transcript["file"],
                            (expected["status"], expected["headers"]["content-type"], _normalise(expected["body"])),
                            (response.status_code, response.headers["Content-Type"], _body(response))))
        return results


def _body(response) -> object:
    try:
        return _normalise(response.json())
    except ValueError:
        return response.text


def test_every_folder_is_replayed():
    assert {"email1-bare", "email1-package", "email1-encoding"} <= set(FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS)
def test_sandbox_answers_like_the_recorded_suitecrm(folder):
    for name, expected, got in replayed(folder):
        assert got == expected, f"{folder}/{name}"
