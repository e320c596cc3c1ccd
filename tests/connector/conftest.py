"""The whole pipeline over real parts: receiver over HTTP, real Redis and database, worker processes, sandbox."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from crmsync import config, db
from crmsync.models import InboxEvent, SubjectState
from receiver import create_app
from tests.support import REPO, receiver_in_thread

SITE = {"id": "test-site", "url": "http://moodle.test"}


class Pipeline:
    def __init__(self, sandbox, database_url: str, redis_url: str, tmp_path):
        self.sandbox, self.database_url, self.redis_url, self.tmp_path = sandbox, database_url, redis_url, tmp_path
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "WEBHOOK_SECRETS": self.secret, "SUITECRM_URL": sandbox.url,
                    "SUITECRM_CLIENT_ID": sandbox.client_id, "SUITECRM_CLIENT_SECRET": sandbox.client_secret,
                    "SUITECRM_TIMEOUT_SECONDS": "3", "JOB_RETRY_BASE_SECONDS": "1", "JOB_RETRY_MAX_SECONDS": "2",
                    "JOB_MAX_RETRIES": "6", "SWEEP_INTERVAL_SECONDS": "1", "SWEEP_GRACE_SECONDS": "2",
                    # A sandbox slowed by a loaded machine finishes a timed-out request within seconds.
                    "CRM_LATE_WRITE_SECONDS": "3",
                    "LOG_LEVEL": "WARNING",
                    # A queue of its own: a worker some earlier test left behind cannot take this test's jobs.
                    "QUEUE_NAME": f"test-{uuid.uuid4().hex[:12]}"}
        self.settings = config.load(environ=self.env, env_file=None)
        self.server, base = receiver_in_thread(self.settings)
        self.url = f"{base}/webhooks/moodle"
        self.sequence = 0
        self.worker_log = ""

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def restart_receiver(self, down_seconds: float) -> None:
        """Stop the receiver, wait, and start a new one on the same port (as a redeploy does)."""
        port = self.server.server_port
        self.close()
        time.sleep(down_seconds)
        self.server = make_server("127.0.0.1", port, create_app(self.settings), threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post_raw(self, messages: list[dict]) -> int:
        """POST a signed batch and return the status, whatever it is."""
        return self._post(messages).status_code

    def message(self, message_type: str, subject: str, data: dict, sequence: int | None = None) -> dict:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        return {"id": str(uuid.uuid4()), "type": message_type, "occurred_at": "2026-11-22T10:00:00Z",
                "sequence": sequence, "subject": subject, "site": SITE, "moodle_event": None, "data": data}

    def send(self, *messages: dict) -> dict:
        response = self._post(list(messages))
        assert response.status_code == 202, response.text
        return response.json()

    def _post(self, messages: list[dict]) -> requests.Response:
        """A signed batch, as the plugin sends it."""
        body = json.dumps({"events": messages})
        batch_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        headers = {"webhook-id": batch_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(self.secret).sign(batch_id, now, body),
                   "Content-Type": "application/json"}
        return requests.post(self.url, data=body.encode(), headers=headers, timeout=10)

    def drain(self, timeout: float = 60, env: dict | None = None, settle_rewrites: bool = True) -> None:
        """Run burst workers until no event is waiting (retries are scheduled, so it may take rounds), and
        until no subject waits to be written again after a timed-out write (CRM_LATE_WRITE_SECONDS)."""
        deadline = time.monotonic() + timeout
        while self.waiting() or (settle_rewrites and self.rewrites_due()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.waiting()} events still waiting; workers said:\n{self.worker_log[-3000:]}")
            subprocess.run([sys.executable, "-m", "crmsync", "sweep"], env={**self.env, **(env or {})}, cwd=REPO,
                           capture_output=True, check=True)
            worker = subprocess.run([sys.executable, "-m", "crmsync", "worker", "--burst"],
                                    env={**self.env, **(env or {})}, cwd=REPO, capture_output=True, text=True)
            assert worker.returncode == 0, worker.stderr[-3000:]
            self.worker_log += worker.stderr
            if self.waiting():
                time.sleep(0.5)

    def events(self) -> list[InboxEvent]:
        with db.session_scope(self.database_url) as session:
            return list(session.scalars(select(InboxEvent).order_by(InboxEvent.sequence)).all())

    def waiting(self) -> int:
        return sum(1 for e in self.events() if e.status in ("pending", "queued"))

    def rewrites_due(self) -> int:
        """Subjects whose CRM record may show an older state than applied (a timed-out write may land late)."""
        with db.session_scope(self.database_url) as session:
            return len(session.scalars(select(SubjectState.subject).where(SubjectState.rewrite.is_(True))).all())

    def status_of(self, message: dict) -> str:
        return next(e.status for e in self.events() if e.id == message["id"])

    def writes(self, module: str) -> int:
        return sum(1 for c in self.sandbox.calls() if c["method"] in ("POST", "PATCH", "DELETE")
                   and c.get("module") == module and "relationships" not in c["path"])


@pytest.fixture
def pipeline(sandbox, database_url, redis_url, tmp_path):
    built = Pipeline(sandbox, database_url, redis_url, tmp_path)
    yield built
    built.close()


def user(uid: int, firstname: str = "Alice", **changes) -> dict:
    return {"id": uid, "username": f"student{uid}", "firstname": firstname, "lastname": "Anders",
            "email": f"student{uid}@example.invalid", "suspended": False, "deleted": False,
            "timemodified": 1795344000, **changes}


def enrolment(uid: int, cid: int = 2, status: str = "active", roles=("student",)) -> dict:
    return {"userid": uid, "courseid": cid, "course": {"id": cid, "shortname": "CRM101",
                                                       "fullname": "CRM Sync Test Course"},
            "status": status, "enrolments": [] if status == "deleted" else [
                {"id": 1, "enrolid": 1, "method": "manual", "status": "active", "timestart": 1795344000,
                 "timeend": 0}], "roles": list(roles), "groups": [{"id": 1, "name": "Group A"}]}
