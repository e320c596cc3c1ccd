"""The CRM → Moodle pipeline over real parts: the receiver's /webhooks/crm over HTTP, worker processes, the
SuiteCRM sandbox and the Moodle sandbox (over real HTTP), real Redis and databases."""

from __future__ import annotations

import base64
import html
import json
import os
import time
import uuid
from datetime import UTC, datetime

import requests
from standardwebhooks import Webhook

from crm_connector.mapping import record_id
from tests.connector.conftest import SITE, Pipeline, user

CRM = {"id": "4f1c2a9be07d3c5a8e61", "url": "http://crm.test"}
LEARNER = 50
MOODLE_STATE_TIME = 1795344000  # timemodified of the learner state user() builds


class TwoWayPipeline(Pipeline):
    """Pipeline (Moodle → CRM) plus the CRM's channel and a Moodle sandbox to write to."""

    def __init__(self, sandbox, moodle, database_url: str, redis_url: str, tmp_path, monkeypatch, **env):
        self.crm_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.moodle = moodle
        # Pipeline builds the receiver's and the workers' settings from the process environment.
        for name, value in {"CRM_WEBHOOK_SECRETS": self.crm_secret, "MOODLE_URL": moodle.url,
                            "MOODLE_TOKEN": moodle.token, "MOODLE_TIMEOUT_SECONDS": "3",
                            "MOODLE_PAUSE_SECONDS": "2", "MOODLE_LATE_WRITE_SECONDS": "3", **env}.items():
            monkeypatch.setenv(name, value)
        super().__init__(sandbox, database_url, redis_url, tmp_path)

    @property
    def crm_url(self) -> str:
        return self.url.replace("/webhooks/moodle", "/webhooks/crm")

    def contact_id(self, uid: int = LEARNER) -> str:
        return record_id(SITE["id"], f"user:{uid}")

    def crm_message(self, sequence: int, fields: dict, changed: list[str], date_modified: int,
                    uid: int = LEARNER, message_type: str = "contact.updated") -> dict:
        contact = self.contact_id(uid)
        return {"id": str(uuid.uuid4()), "type": message_type, "occurred_at": "2026-12-01T10:00:00Z",
                "sequence": sequence, "subject": f"contact:{contact}", "crm": CRM,
                "data": {"id": contact, "moodle": {"site_id": SITE["id"], "user_id": uid}, "changed": changed,
                         "fields": fields, "date_modified": date_modified,
                         "deleted": message_type == "contact.deleted"}}

    def post_crm(self, *messages: dict) -> requests.Response:
        body = json.dumps({"events": list(messages)})
        batch_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        headers = {"webhook-id": batch_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(self.crm_secret).sign(batch_id, now, body),
                   "Content-Type": "application/json"}
        return requests.post(self.crm_url, data=body.encode(), headers=headers, timeout=10)

    def send_crm(self, *messages: dict) -> dict:
        response = self.post_crm(*messages)
        assert response.status_code == 202, response.text
        return response.json()

    def crm_user_saves(self, changes: dict, date_modified: int, sequence: int = 1, uid: int = LEARNER) -> dict:
        """A CRM user's save of the learner's Contact (through the V8 API, as the edit form does) and the
        contact.updated the package's outbox sends for it: the record's state, the fields it changed."""
        from crm_connector.suitecrm import SuiteCrmClient

        crm = SuiteCrmClient(self.sandbox.url, self.sandbox.client_id, self.sandbox.client_secret, timeout=10)
        crm.update("Contacts", self.contact_id(uid), changes)
        return self.crm_message(sequence, crm_fields(self.contact(uid)), sorted(changes), date_modified, uid)

    def crm_event(self, message_type: str = "contact.updated") -> tuple[str, str | None, str]:
        """(status, last error, last history detail) of the one CRM event of this type."""
        from sqlalchemy import select

        from crmsync import db
        from crmsync.models import InboxEvent

        with db.session_scope(self.database_url) as session:
            [event] = session.scalars(select(InboxEvent).where(InboxEvent.type == message_type)).all()
            return event.status, event.last_error, event.history[-1].detail

    def moodle_user(self, uid: int = LEARNER) -> dict:
        return next(u for u in self.moodle.records("user") if u["id"] == uid)

    def contact(self, uid: int = LEARNER) -> dict:
        return next(c for c in self.sandbox.records("Contacts") if c["moodle_user_id_c"] == str(uid))

    def moodle_updates(self) -> int:
        return sum(1 for c in self.moodle.calls() if c.get("function") == "core_user_update_users")

    def echo(self, uid: int = LEARNER) -> dict:
        """The user.updated Moodle sends for its user's current state (the plugin's observer)."""
        row = self.moodle_user(uid)
        state = user(uid, row["firstname"], lastname=row["lastname"], email=row["email"],
                     timemodified=int(row["timemodified"]), username=row["username"])
        for name in ("phone1", "phone2", "department", "city", "country", "idnumber", "address", "institution"):
            if row.get(name) is not None:
                state[name] = row[name]
        return self.message("user.updated", f"user:{uid}", state)


def crm_fields(contact: dict, **changes) -> dict:
    """The mapped Contact fields as the package sends them: the record's values, decoded into plain text
    (SuiteCRM keeps them HTML-encoded)."""
    names = ("first_name", "last_name", "email1", "phone_work", "phone_mobile", "department",
             "primary_address_street", "primary_address_city", "primary_address_country", "moodle_username_c",
             "moodle_idnumber_c")
    return {name: html.unescape(str(contact.get(name) or "")) for name in names} | changes


def now() -> int:
    return int(time.time())
