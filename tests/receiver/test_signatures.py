"""Only correctly signed, fresh messages get in; the answer to anything else says nothing more."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks.webhooks as library

from receiver.errors import InvalidSignature
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


def test_standard_webhooks_reference_vector():
    """The specification's example message verifies at its own time, and nothing else does."""
    verifier = SignatureVerifier(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], clock=lambda: 1614265330)
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    verifier.verify(b'{"test": 2432232314}', headers)
    # Several signatures, unknown versions and undecodable entries: the valid v1 one still counts.
    verifier.verify(b'{"test": 2432232314}', {**headers, "webhook-signature":
                                              "v2,abc v1,%%% v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="})

    with pytest.raises(InvalidSignature):
        verifier.verify(b'{"test": 2432232315}', headers)
    with pytest.raises(InvalidSignature):
        verifier.verify(b'{"test": 2432232314}', {**headers, "webhook-signature": "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="})
    with pytest.raises(InvalidSignature):
        SignatureVerifier(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], clock=lambda: 1614265330 + 301).verify(
            b'{"test": 2432232314}', headers)


def test_our_verifier_and_the_standardwebhooks_library_agree():
    """The receiver computes the HMAC itself (over bytes); for UTF-8 bodies it must agree with the library."""
    secret = new_secret()
    body = json.dumps(message(site={"id": "sïte-ü", "url": "http://m.test"}), ensure_ascii=False)
    headers = signed(body, secret)
    SignatureVerifier([secret]).verify(body.encode(), headers)
    library.Webhook(secret).verify(body, headers)


@pytest.mark.parametrize("signature", ["v1", "v1,", "v1,not base64!", ",", "v1,a,b", "", " ", "v1,=" * 50])
def test_malformed_signature_headers_are_401(sqlite_receiver, signature):
    body = json.dumps(message())
    headers = {**signed(body, sqlite_receiver.secret), "webhook-signature": signature}
    assert sqlite_receiver.client.post("/webhooks/moodle", data=body, headers=headers).status_code == 401


@pytest.mark.parametrize("timestamp", ["nan", "inf", "-1", "1e10", "1614265330.5", "９９", "9" * 400])
def test_malformed_timestamps_are_401(sqlite_receiver, timestamp):
    body = json.dumps(message())
    headers = {**signed(body, sqlite_receiver.secret), "webhook-timestamp": timestamp}
    assert sqlite_receiver.client.post("/webhooks/moodle", data=body, headers=headers).status_code == 401


def test_a_signed_body_that_is_not_utf8_is_400_saying_so(receiver):
    body = json.dumps(message()).encode().replace(b"site-1", b"site-\xff")
    response = receiver.post(body, webhook_id=str(uuid.uuid4()))
    assert response.status_code == 400 and "UTF-8" in response.json["error"]


def test_an_unsigned_body_that_is_not_utf8_is_still_401(sqlite_receiver):
    headers = {**signed("{}", sqlite_receiver.secret), "webhook-signature": "v1,AAAA"}
    assert sqlite_receiver.client.post("/webhooks/moodle", data=b"\xff\xfe", headers=headers).status_code == 401


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "gzip, identity"])
def test_compressed_bodies_are_415_saying_why(sqlite_receiver, encoding):
    response = sqlite_receiver.post(message(), headers={"Content-Encoding": encoding})
    assert response.status_code == 415 and "Content-Encoding" in response.json["error"]


def test_identity_content_encoding_is_fine(receiver):
    assert receiver.post(message(), headers={"Content-Encoding": "identity"}).status_code == 202


@pytest.mark.parametrize("webhook_id, reason", [
    ("x" * 10_000, "longer than 64"), ("x" * 65, "longer than 64"),
    ("id with spaces", "printable ASCII"), ("idé", "printable ASCII"), ("id\x7f", "printable ASCII"),
])
def test_malformed_webhook_ids_are_400_saying_why(sqlite_receiver, webhook_id, reason):
    body = json.dumps({"events": [message()]})
    response = sqlite_receiver.client.post("/webhooks/moodle", data=body, headers={
        **signed(body, sqlite_receiver.secret, webhook_id="ok"), "webhook-id": webhook_id})
    assert response.status_code == 400 and reason in response.json["error"]
