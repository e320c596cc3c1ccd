"""Standard Webhooks verification over the raw body, with several secrets for rotation.

The HMAC is computed here over the bytes as received: the standardwebhooks library decodes the body
as UTF-8 first, so a correctly signed body that is not UTF-8 could not be told from a forged one
(it must be a 400 saying what is wrong, not a 401). The specification's reference vector and the
plugin's PHP signer check this code (tests/receiver/test_signatures.py, tests/plugin).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from receiver.errors import InvalidSignature

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (unpadded base64 allowed, as the library does)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    if not key:
        raise ValueError("webhook secret may not be empty")
    return key


class SignatureVerifier:
    """Accepts a message signed with any of the active secrets within ±5 minutes of our clock."""

    def __init__(self, secrets: Sequence[str], clock: Callable[[], float] = time.time):
        self._keys = [secret_key(secret) for secret in secrets]
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not self._keys:
            raise InvalidSignature("no WEBHOOK_SECRETS configured")
        msg_id, timestamp, signatures = (headers.get(name, "") for name in
                                         ("webhook-id", "webhook-timestamp", "webhook-signature"))
        if not (msg_id and timestamp and signatures):
            raise InvalidSignature("missing headers")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise InvalidSignature("malformed webhook-timestamp")
        skew = self._clock() - int(timestamp)
        if skew > TOLERANCE_SECONDS:
            raise InvalidSignature("timestamp too old")
        if skew < -TOLERANCE_SECONDS:
            raise InvalidSignature("timestamp too new")
        presented = _v1_signatures(signatures)
        if not presented:
            raise InvalidSignature("no v1 signature")
        # Header values reach WSGI as latin-1; encoding back gives the bytes the sender signed.
        content = msg_id.encode("latin-1", "replace") + b"." + timestamp.encode() + b"." + body
        for key in self._keys:
            expected = hmac.new(key, content, hashlib.sha256).digest()
            if any(hmac.compare_digest(expected, candidate) for candidate in presented):
                return
        raise InvalidSignature("no matching signature")


def _v1_signatures(header: str) -> list[bytes]:
    """The decodable `v1,<base64>` entries of a space-separated webhook-signature header."""
    found = []
    for entry in header.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found
