"""A message signed by the plugin's PHP signer verifies with the Python standardwebhooks library."""

import base64
import json
import os
import subprocess
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from receiver.errors import InvalidSignature
from receiver.signatures import SignatureVerifier
from tests.support import REPO


def php_sign(secret: str, message_id: str, timestamp: int, body: str, *previous: str) -> dict:
    result = subprocess.run(["php", "tests/php/tools/sign_message.php", secret, message_id, str(timestamp), *previous],
                            input=body, capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("body", ['{"type":"user.updated","data":{"firstname":"Zoë"}}', "{}", '{"events":[]}'])
def test_php_signature_verifies_in_python(body):
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    headers = php_sign(secret, "msg-1", int(time.time()), body)
    Webhook(secret).verify(body.encode(), headers, json_parse=False)


def test_tampered_body_fails_verification():
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    headers = php_sign(secret, "msg-2", int(time.time()), '{"grade":50}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"grade":90}', headers, json_parse=False)


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def test_during_a_rotation_the_receiver_accepts_with_the_new_or_the_old_secret():
    """The plugin signs with both secrets while the replaced one is valid: `v1,<new> v1,<old>`."""
    new, old, body = _secret(), _secret(), '{"events":[{"type":"user.updated"}]}'
    headers = php_sign(new, "batch-1", int(time.time()), body, old)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body.encode(), headers, json_parse=False)  # the receiver already updated
    Webhook(old).verify(body.encode(), headers, json_parse=False)  # the receiver not updated yet
    SignatureVerifier([old]).verify(body.encode(), headers)  # the receiver's own verifier, WEBHOOK_SECRETS=old
    SignatureVerifier([new, old]).verify(body.encode(), headers)
    with pytest.raises(InvalidSignature):
        SignatureVerifier([_secret()]).verify(body.encode(), headers)

