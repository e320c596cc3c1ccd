"""Replays every recorded SuiteCRM 7.14.6 transcript against the sandbox and compares the answers.

The sandbox is started bare (as the recorded CRM was) with the recorded OAuth client, its clock
frozen at the recording's minute, and told which ids to hand out where the real server generated
them; then status, content type and body must be identical. Only new access tokens are normalised.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import requests

from suitecrm_sandbox.testing import SandboxProcess
from tests.support import FIXTURES

TRANSCRIPTS = FIXTURES / "suitecrm-v8-7.14.6"
CLIENT_ID = "5638431d-1136-def3-7800-6b02c4e0aa08"
SECRET = "contract-secret"
RECORDED_MINUTE = "2026-11-22T10:32:00+00:00"


def _transcripts() -> list[dict]:
    names = [line.split("\t")[0] for line in (TRANSCRIPTS / "INDEX.tsv").read_text().splitlines() if line.strip()]
    return [json.loads((TRANSCRIPTS / name).read_text()) | {"file": name} for name in names]


def _ids_by_first_name() -> dict[str, str]:
    listing = json.loads((TRANSCRIPTS / "61_list_page_size_only_over_20_records.json").read_text())
    return {r["attributes"]["first_name"]: r["id"] for r in listing["response"]["body"]["data"]}


def _normalise(body):
    if isinstance(body, dict):
        return {k: ("<jwt>" if k == "access_token" else _normalise(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [_normalise(v) for v in body]
    return body


class Replayer:
    def __init__(self, sandbox: SandboxProcess):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.ids = _ids_by_first_name()
        self.token = None

    def api(self, method: str, path: str, body: dict | None = None):
        return self.session.request(method, f"{self.sandbox.url}{path}", json=body, timeout=10,
                                    headers={"Authorization": f"Bearer {self.token}"})

    def create_unrecorded(self, first: str, last: str, email: str | None, moodle_id: str, at: str) -> None:
        """Records the README says were created between transcripts, with the ids they later show."""
        self.sandbox.freeze_clock(at)
        attributes = {"first_name": first, "last_name": last, "moodle_user_id_c": moodle_id}
        if email:
            attributes["email1"] = email
        response = self.api("POST", "/Api/V8/module", {"data": {"type": "Contacts", "id": self.ids[first],
                                                                  "attributes": attributes}})
        assert response.status_code == 201, response.text
        self.sandbox.freeze_clock(RECORDED_MINUTE)

    def before(self, transcript: dict) -> None:
        number = int(transcript["file"][:2])
        if number == 24:
            self.create_unrecorded("Edsger", "Dijkstra", "edsger@example.org", "45", "2026-11-22T10:32:00+00:00")
            self.create_unrecorded("Barbara", "Liskov", "barbara@example.org", "46", "2026-11-22T10:32:01+00:00")
            self.create_unrecorded("Donald", "Knuth", "donald@example.org", "47", "2026-11-22T10:32:02+00:00")
        if number == 60:
            for n in range(20):
                self.create_unrecorded(f"Bulk{n:02d}", "Filler", None, str(1000 + n), RECORDED_MINUTE)
        self.expect_generated_id(transcript)

    def expect_generated_id(self, transcript: dict) -> None:
        """Where the real server chose a record's id, the sandbox is told to choose the same."""
        response = transcript["response"]
        request = transcript["request"]
        if request["method"] == "POST" and response["status"] == 201 and isinstance(response["body"], dict):
            data = response["body"].get("data")
            if isinstance(data, dict) and "id" in data and "id" not in (request["body"] or {}).get("data", {}):
                self.sandbox.queue_ids([data["id"]])

    def send(self, transcript: dict) -> requests.Response:
        request = transcript["request"]
        headers = dict(request["headers"])
        authorization = headers.get("Authorization", "")
        if "<access-token>" in authorization:
            headers["Authorization"] = f"Bearer {self.token}"
        elif "exp in the past" in authorization:
            headers["Authorization"] = f"Bearer {self.sandbox.token('expired_jwt')}"
        elif authorization.startswith("Bearer <"):
            headers["Authorization"] = f"Bearer {self.sandbox.token('expired_in_db')}"
        body = request["body"]
        data = None
        if isinstance(body, dict):
            body = json.loads(json.dumps(body).replace("<client-secret>", SECRET))
            if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                data = urlencode(body)
            else:
                data = json.dumps(body)
        query = urlencode(list(request["query"].items()), safe="[],%")
        url = f"{self.sandbox.url}{request['path']}" + (f"?{query}" if query else "")
        response = self.session.request(request["method"], url, data=data, headers=headers, timeout=10)
        if request["path"].endswith("access_token") and response.status_code == 200 and self.token is None:
            self.token = response.json()["access_token"]
        return response


@pytest.fixture(scope="module")
def replayer():
    with SandboxProcess(bare=True, client_id=CLIENT_ID, client_secret=SECRET, grants="client_credentials",
                        username="admin", password="Admin_pw_123") as sandbox:
        sandbox.freeze_clock(RECORDED_MINUTE)
        yield Replayer(sandbox)


TRANSCRIPT_LIST = _transcripts()


def test_every_listed_transcript_is_replayed():
    assert len(TRANSCRIPT_LIST) == len(list(TRANSCRIPTS.glob("[0-9][0-9]_*.json"))) == 61


@pytest.mark.parametrize("transcript", TRANSCRIPT_LIST, ids=[t["file"] for t in TRANSCRIPT_LIST])
def test_sandbox_answers_like_suitecrm(replayer, transcript):
    replayer.before(transcript)
    assert_answered_as_recorded(replayer.send(transcript), transcript["response"])


def assert_answered_as_recorded(response, expected: dict) -> None:
    """Status, content type and body as the real server answered (tokens and new ids normalised)."""
    assert response.status_code == expected["status"]
    assert response.headers["Content-Type"] == expected["headers"]["content-type"]
    if isinstance(expected["body"], str):
        assert response.text == expected["body"]
    else:
        assert _normalise(response.json()) == _normalise(expected["body"])
