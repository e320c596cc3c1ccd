"""Only correctly signed, fresh messages get in; the answer to anything else says nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks.webhooks as library

from receiver.signatures import SignatureVerifier
from tests.receiver.conftest import Receiver, message, new_secret, signed


def test_valid_signature_is_accepted(receiver):
    assert receiver.post(message()).status_code == 202


def test_wrong_secret_is_refused_without_detail(receiver):
    response = receiver.post(message(), secret=new_secret())
    assert response.status_code == 401
    assert response.json == {"error": "invalid signature"}


def test_tampered_body_is_refused(receiver):
    body = json.dumps(message())
    headers = signed(body, receiver.secret)
    response = receiver.client.post("/webhooks/moodle", data=body.replace("1795344000", "1795344001"),
                                    headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize("minutes", [-6, 6])
def test_timestamp_outside_five_minutes_is_refused(receiver, minutes):
    body = json.dumps(message())
    headers = signed(body, receiver.secret, at=datetime.now(UTC) + timedelta(minutes=minutes))
    assert receiver.client.post("/webhooks/moodle", data=body, headers=headers).status_code == 401


def test_missing_headers_are_refused(receiver):
    response = receiver.client.post("/webhooks/moodle", json=message())
    assert response.status_code == 401


def test_replayed_delivery_is_acknowledged_once(receiver):
    body = message()
    first, second = receiver.post(body), receiver.post(body)
    assert first.json["accepted"] == 1
    assert second.status_code == 202 and second.json["duplicates"] == 1 and second.json["accepted"] == 0


def test_rotation_accepts_old_and_new_secret_until_the_old_is_removed(database_url, redis_url):
    old, new = new_secret(), new_secret()
    both = Receiver(database_url, redis_url, WEBHOOK_SECRETS=f"{new},{old}")
    assert both.post(message(), secret=old).status_code == 202
    assert both.post(message(), secret=new).status_code == 202
    only_new = Receiver(database_url, redis_url, WEBHOOK_SECRETS=new)
    assert only_new.post(message(), secret=old).status_code == 401


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.fromtimestamp(1614265330, tz)


def test_standard_webhooks_reference_vector(monkeypatch):
    """The specification's example message verifies at its own time (the library's clock is frozen)."""
    monkeypatch.setattr(library, "datetime", _FrozenClock)
    verifier = SignatureVerifier(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    verifier.verify(b'{"test": 2432232314}', headers)
    from receiver.errors import InvalidSignature

    with pytest.raises(InvalidSignature):
        verifier.verify(b'{"test": 2432232315}', headers)
    with pytest.raises(InvalidSignature):
        verifier.verify(b'{"test": 2432232314}', {**headers, "webhook-signature": "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="})
