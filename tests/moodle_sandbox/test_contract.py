"""Replays all 44 web-service transcripts recorded from a real Moodle 4.3 against the Moodle sandbox.

The sandbox starts with the recorded site's data (moodle_sandbox/data/recorded.json, ids as
recorded), its clock frozen at the moment of the last recorded write, and the transcripts are sent
in their recorded order (they build on each other: 06 creates user 7, 13 enrols it, 32 unenrols
it). Status, content type and body must be identical; nothing in the bodies is normalised.

Only the request's placeholders are filled in: `<ws-token>` is the crm_sync service's token, except
for the mod_attendance calls, which the recorded site's crm_sync service does not list (01's
functions): they were made with a token of Moodle's mobile service, where mod_attendance
declares its functions; `<password>` is any password.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from moodle_sandbox.state import recorded_data
from moodle_sandbox.testing import MoodleSandboxProcess
from tests.support import FIXTURES

TRANSCRIPTS = FIXTURES / "moodle-4.3-ws"
LAST_RECORDED_WRITE = 1795345068  # 42 updates session 2; 43 shows this as its lasttaken and timemodified


def _transcripts() -> list[dict]:
    names = [line.split("\t")[0] for line in (TRANSCRIPTS / "INDEX.tsv").read_text().splitlines()[1:] if line.strip()]
    return [json.loads((TRANSCRIPTS / name).read_text()) | {"file": name} for name in names]


TRANSCRIPT_LIST = _transcripts()


@pytest.fixture(scope="module")
def moodle():
    with MoodleSandboxProcess() as sandbox:
        sandbox.freeze_clock(LAST_RECORDED_WRITE)
        # The recorded service, without the plugin's functions the sandbox adds (01 lists the service's functions).
        recorded = next(s for s in recorded_data()["external_services"] if s["shortname"] == "crm_sync")
        sandbox.set_service("crm_sync", functions=recorded["functions"])
        yield sandbox


@pytest.fixture(scope="module")
def mobile_token(moodle):
    return moodle.issue_token("moodle_mobile_app", userid=2)


def test_every_transcript_is_replayed():
    assert len(TRANSCRIPT_LIST) == len(list(TRANSCRIPTS.glob("[0-9][0-9]_*.json"))) == 44


@pytest.mark.parametrize("transcript", TRANSCRIPT_LIST, ids=[t["file"] for t in TRANSCRIPT_LIST])
def test_sandbox_answers_like_moodle(moodle, mobile_token, transcript):
    request = transcript["request"]
    token = mobile_token if any(v.startswith("mod_attendance_") for k, v in request["params"] if k == "wsfunction") \
        else moodle.token
    params = [(k, {"<ws-token>": token, "<password>": "Replay#2026"}.get(v, v)) for k, v in request["params"]]
    assert request["content-type"] == "application/x-www-form-urlencoded"
    response = requests.request(request["method"], moodle.url + request["path"], params=request["query"],
                                data=params, timeout=10)
    expected = transcript["response"]
    assert response.status_code == expected["status"]
    assert response.headers["Content-Type"] == expected["content-type"]
    if expected["body_kind"] == "json":
        assert response.json() == expected["body"]
    else:
        assert response.text == expected["body"]


# --- the plugin's reconciliation functions, recorded from a real Moodle 4.3 with the plugin installed ---------------
RECONCILE = Path(__file__).parent / "recorded" / "reconcile"
RECONCILE_LIST = [json.loads((RECONCILE / line.split("\t")[0]).read_text()) | {"file": line.split("\t")[0]}
                  for line in (RECONCILE / "INDEX.tsv").read_text().splitlines()[1:] if line.strip()]
# The real Moodle stored the notification for its admin (mdl_notifications) yet answered sent 0: message_send()
# returned false there (not in PHPUnit, where messages are redirected). Not understood yet: the sandbox answers
# what the plugin means (1), and this replay fails until the plugin's count and Moodle agree.


@pytest.fixture(scope="module")
def recorded_plugin_site():
    """A sandbox holding what the recorded Moodle held (site.json, from its exports) and its service user's token."""
    described = json.loads((RECONCILE / "site.json").read_text())
    with MoodleSandboxProcess() as sandbox:
        sandbox.reset("empty")
        sandbox.set_config(**described["config"])
        present = {u["id"] for u in sandbox.records("user")}  # the empty site's guest and admin
        tables = described["tables"] | {"user": [u for u in described["tables"]["user"] if u["id"] not in present]}
        sandbox.seed(**tables)
        service_user = next(u for u in tables["user"] if u["username"] == "crmsync")
        sandbox.token = sandbox.issue_token("crm_sync", userid=service_user["id"])
        yield sandbox


def _answers_as_recorded(moodle, transcript: dict) -> None:
    """The transcript's request, its `<ws-token>` the service's token, gets the recorded status, type and body."""
    request = transcript["request"]
    params = [(k, moodle.token if v == "<ws-token>" else v) for k, v in request["params"]]
    response = requests.request(request["method"], moodle.url + request["path"], params=request["query"],
                                data=params, timeout=10)
    expected = transcript["response"]
    assert (response.status_code, response.headers["Content-Type"]) == (expected["status"], expected["content-type"])
    assert response.json() == expected["body"]


def test_every_reconciliation_transcript_is_replayed():
    assert len(RECONCILE_LIST) == len(list(RECONCILE.glob("[0-9][0-9]_*.json"))) == 11


@pytest.mark.parametrize("transcript", RECONCILE_LIST, ids=[t["file"] for t in RECONCILE_LIST])
def test_sandbox_answers_the_reconciliation_functions_like_moodle(recorded_plugin_site, transcript):
    moodle = recorded_plugin_site
    moodle.freeze_clock(transcript["clock"])  # the exported messages' occurred_at and ids name the export's time
    _answers_as_recorded(moodle, transcript)


# --- core_role_assign_roles / core_role_unassign_roles, recorded from a real Moodle 4.3 as the CRM sync service's user -
ROLES = Path(__file__).parent / "recorded" / "roles"
ROLES_LIST = [json.loads((ROLES / line.split("\t")[0]).read_text()) | {"file": line.split("\t")[0]}
              for line in (ROLES / "INDEX.tsv").read_text().splitlines()[1:] if line.strip()]


@pytest.fixture(scope="module")
def recorded_roles_site():
    """The recorded course, its learners and roles, and the service's user holding the guide's role (site.json); the
    recorded Moodle ran without developer debugging, so its errors carry no debuginfo."""
    described = json.loads((ROLES / "site.json").read_text())
    with MoodleSandboxProcess() as sandbox:
        sandbox.reset("empty")
        sandbox.set_config(debugdeveloper=False)
        sandbox.seed(**described["tables"])
        sandbox.token = sandbox.issue_token("crm_sync", userid=next(
            u["id"] for u in described["tables"]["user"] if u["username"] == "crmsync"))
        yield sandbox


def test_every_roles_transcript_is_replayed():
    assert len(ROLES_LIST) == len(list(ROLES.glob("[0-9][0-9]_*.json"))) == 12


@pytest.mark.parametrize("transcript", ROLES_LIST, ids=[t["file"] for t in ROLES_LIST])
def test_sandbox_assigns_and_unassigns_roles_like_moodle(recorded_roles_site, transcript):
    moodle = recorded_roles_site
    _answers_as_recorded(moodle, transcript)
