"""A message signed by the plugin's PHP signer verifies with the Python standardwebhooks library."""

import base64
import json
import os
import subprocess
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support import REPO


def php_sign(secret: str, message_id: str, timestamp: int, body: str) -> dict:
    result = subprocess.run(["php", "tests/php/tools/sign_message.php", secret, message_id, str(timestamp)],
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
