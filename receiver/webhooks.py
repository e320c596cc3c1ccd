"""POST /webhooks/moodle: verify, validate, store and enqueue (receiver/group_commit.py), then acknowledge.

`accept` is the whole path for every origin: /webhooks/crm (receiver/crm_webhooks.py) differs only in
its secrets and its contract.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from crmsync import contract, queue, resources
from receiver import group_commit, messages, metrics
from receiver.errors import InvalidSignature, MalformedRequest, UnsupportedMediaType
from receiver.signatures import SignatureVerifier

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

# A message id is stored in a 64-character column; a batch id is only logged. Both stay printable
# ASCII, so that no log line carries what a client chose to put in a header. gunicorn_config's
# limit_request_field_size is far larger, so an over-long id gets this JSON answer, not gunicorn's page.
MAX_WEBHOOK_ID = 64

# The setting holding each origin's secrets (crmsync/config.py).
SECRETS = {contract.MOODLE: "webhook_secrets", contract.CRM: "crm_webhook_secrets"}


def _verifier(origin: str) -> SignatureVerifier:
    key = f"crmsync.verifier.{origin}"
    verifier = current_app.extensions.get(key)
    if verifier is None:
        verifier = current_app.extensions[key] = SignatureVerifier(getattr(resources.config(), SECRETS[origin]))
    return verifier


def _read_body(limit: int) -> bytes:
    """The raw body, refused as soon as it passes the limit, whether or not a Content-Length was sent."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"body larger than {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge(f"body larger than {limit} bytes")
    return body


def accept(origin: str):
    """Verify, validate, store and enqueue one POST from `origin`; the 202 says what was new."""
    config = resources.config()
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType("Content-Encoding is not supported: send the body uncompressed")
    webhook_id = request.headers.get("webhook-id", "")
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise MalformedRequest(f"webhook-id is longer than {MAX_WEBHOOK_ID} characters")
    if not all(" " < c < "\x7f" for c in webhook_id):
        raise MalformedRequest("webhook-id must be printable ASCII without spaces")
    body = _read_body(config.max_body_bytes)
    try:
        _verifier(origin).verify(body, request.headers)
    except InvalidSignature as exc:
        metrics.SIGNATURE_FAILURES.labels(origin).inc()
        log.warning("rejected webhook %s (%s) from %s: %s", webhook_id or "?", origin, request.remote_addr, exc.cause)
        raise
    parsed = messages.parse(body, webhook_id, config.max_batch_events, origin)

    stored = group_commit.of(origin).store(parsed)
    new_ids, duplicate_ids = stored.new_ids, stored.duplicate_ids
    metrics.EVENTS.labels(origin, "accepted").inc(len(new_ids))
    metrics.EVENTS.labels(origin, "duplicate").inc(len(duplicate_ids))
    if queue.JOB_FUNCTIONS[origin] is None:
        state = "left pending (no job applies them yet)"
    else:
        state = "queued" if stored.queued else "left pending (Redis unavailable)"
    log.info("accepted webhook %s (%s): %d new, %d duplicate, %s", webhook_id, origin, len(new_ids),
             len(duplicate_ids), state,
             extra={"event_ids": new_ids, "client": request.remote_addr, "scheme": request.scheme,
                    "host": request.host})
    return jsonify({"accepted": len(new_ids), "duplicates": len(duplicate_ids), "duplicate_ids": duplicate_ids}), 202


@blueprint.post("/webhooks/moodle")
def receive():
    return accept(contract.MOODLE)
