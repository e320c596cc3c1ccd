"""Standard Webhooks verification over the raw body, with several secrets for rotation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from receiver.errors import InvalidSignature


class SignatureVerifier:
    """Accepts a message signed with any of the active secrets within the library's ±5 min window."""

    def __init__(self, secrets: Sequence[str]):
        self._webhooks = [Webhook(secret) for secret in secrets]

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not self._webhooks:
            raise InvalidSignature("no WEBHOOK_SECRETS configured")
        wanted = {name: headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        cause = "missing headers"
        for webhook in self._webhooks:
            try:
                webhook.verify(body, wanted, json_parse=False)
                return
            except WebhookVerificationError as exc:
                cause = str(exc)
            except (ValueError, TypeError) as exc:
                # Undecodable body or a malformed signature header: the library raises these raw.
                cause = f"malformed: {exc.__class__.__name__}"
        raise InvalidSignature(cause)
