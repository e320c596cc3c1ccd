"""POST /webhooks/crm: changes recorded by the SuiteCRM package, through the same path as Moodle's.

Signed with the CRM's own secrets (CRM_WEBHOOK_SECRETS), validated against the CRM contract
(crmsync/contract/schemas/crm/, docs/event-contract.md "CRM → receiver"), stored in the same inbox
under the site id `crm:<CRM id>`, ordered per subject like every other event.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from crmsync import contract, resources
from receiver import webhooks

blueprint = Blueprint("crm_webhooks", __name__)


@blueprint.post("/webhooks/crm")
def receive():
    if not resources.config().crm_webhook_secrets:
        # Not a 404: the sender learns the receiver knows the route, and keeps its changes (any non-2xx).
        return jsonify({"error": "CRM webhooks are not enabled on this receiver: its operator sets "
                                 "CRM_WEBHOOK_SECRETS (docs/operator-guide.md)"}), 503
    return webhooks.accept(contract.CRM)
