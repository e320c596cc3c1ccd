"""A receiver app on a real database and a real Redis, and a signer like the plugin's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from crmsync import config
from receiver import create_app

ADMIN_TOKEN = "test-admin-token"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def message(sequence: int = 1, **changes) -> dict:
    body = {"id": str(uuid.uuid4()), "type": "course_access.updated", "occurred_at": "2026-11-22T10:00:00Z",
            "sequence": sequence, "subject": "course_access:3:2", "site": {"id": "site-1", "url": "http://m.test"},
            "moodle_event": None, "data": {"userid": 3, "courseid": 2, "lastaccess": 1795344000}}
    body.update(changes)
    return body


CRM_ID = "4f1c2a9be07d3c5a8e61"
CONTACT_ID = "7d0c5e2a-93b4-4c1e-9f1a-2b6d8e4c0a13"


def crm_message(sequence: int = 1, contact_id: str = CONTACT_ID, **changes) -> dict:
    """A contact.updated message as the SuiteCRM package sends it (docs/event-contract.md, "CRM → receiver")."""
    body = {"id": str(uuid.uuid4()), "type": "contact.updated", "occurred_at": "2026-12-01T09:30:00Z",
            "sequence": sequence, "subject": f"contact:{contact_id}", "crm": {"id": CRM_ID, "url": "https://crm.test"},
            "data": {"id": contact_id, "moodle": {"site_id": "site-1", "user_id": 3}, "changed": ["last_name"],
                     "fields": {"first_name": "Siobhán", "last_name": "O'Neil & Co", "email1": "s@example.org",
                                "description": "Line one\nline two"},
                     "date_modified": 1796117400, "deleted": False}}
    body.update(changes)
    return body


def signed(body: bytes | str, secret: str, webhook_id: str | None = None, at: datetime | None = None) -> dict:
    at = at or datetime.now(UTC)
    try:
        text = body if isinstance(body, str) else body.decode()
    except UnicodeDecodeError:  # the library signs text only; sign the raw bytes as the specification says
        webhook_id = webhook_id or str(uuid.uuid4())
        key = base64.b64decode(secret.removeprefix("whsec_"))
        content = f"{webhook_id}.{int(at.timestamp())}.".encode() + body
        signature = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    else:
        webhook_id = webhook_id or json.loads(text).get("id", str(uuid.uuid4()))
        signature = Webhook(secret).sign(webhook_id, at, text)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature, "Content-Type": "application/json"}


class Receiver:
    def __init__(self, database_url: str, redis_url: str, **settings):
        self.secret = new_secret()
        self.crm_secret = new_secret()
        environ = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "WEBHOOK_SECRETS": self.secret,
                   "CRM_WEBHOOK_SECRETS": self.crm_secret, "ADMIN_API_TOKENS": ADMIN_TOKEN, "LOG_FORMAT": "text",
                   **settings}
        self.settings = config.load(environ=environ, env_file=None)
        self.app = create_app(self.settings)
        self.client = self.app.test_client()

    def post(self, payload, secret: str | None = None, webhook_id: str | None = None, **kwargs):
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        headers = signed(body, secret or self.secret, webhook_id)
        headers.update(kwargs.pop("headers", {}))
        return self.client.post("/webhooks/moodle", data=body, headers=headers, **kwargs)

    def post_crm(self, payload, secret: str | None = None, webhook_id: str = "crm-batch", at: datetime | None = None,
                 **kwargs):
        """POST to /webhooks/crm, a list of messages as one batch, signed with the CRM's secret."""
        if isinstance(payload, list):
            payload = {"events": payload}
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        headers = signed(body, secret or self.crm_secret, webhook_id, at)
        headers.update(kwargs.pop("headers", {}))
        return self.client.post("/webhooks/crm", data=body, headers=headers, **kwargs)

    def admin(self, method: str, path: str, **kwargs):
        return self.client.open(f"/api/v1{path}", method=method,
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **kwargs)


@pytest.fixture
def receiver(database_url, redis_url):
    return Receiver(database_url, redis_url)


@pytest.fixture
def sqlite_receiver(sqlite_url, redis_url):
    """For checks made before anything is stored (headers, signatures): one engine is enough."""
    return Receiver(sqlite_url, redis_url)
