"""No body or header a client can send makes the receiver fail with a 5xx (503 is deliberate, for the DB)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.receiver.conftest import Receiver, message, signed

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


def test_unsigned_garbage_never_causes_a_server_error(sqlite_url, redis_url):
    receiver = Receiver(sqlite_url, redis_url)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=st.binary(max_size=2000), webhook_id=header_values, timestamp=header_values, signature=header_values,
           content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", ""]))
    def check(body, webhook_id, timestamp, signature, content_type):
        headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature,
                   "Content-Type": content_type}
        response = receiver.client.post("/webhooks/moodle", data=body, headers=headers)
        assert response.status_code < 500

    check()


def test_signed_but_malformed_messages_never_cause_a_server_error(sqlite_url, redis_url):
    """Even with a valid signature, whatever the JSON holds gets a 4xx or a 202, never a 5xx."""
    receiver = Receiver(sqlite_url, redis_url)
    base = message()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(changes=st.dictionaries(st.sampled_from(sorted(base)), json_values, max_size=3),
           batch=st.booleans())
    def check(changes, batch):
        document = {**message(), **changes}
        payload = {"events": [document]} if batch else document
        body = json.dumps(payload)
        webhook_id = str(document.get("id")) if not batch else "batch"
        response = receiver.client.post("/webhooks/moodle", data=body, headers=signed(body, receiver.secret,
                                                                                      webhook_id or "x"))
        assert response.status_code in (202, 400, 413, 422), response.get_data(as_text=True)

    check()
