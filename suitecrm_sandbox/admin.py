"""/__sandbox/…: not part of SuiteCRM; lets tests, benchmarks and `make run` users steer and inspect."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, jsonify, request

from sandbox_kit.gate import add_gate_routes
from suitecrm_sandbox.api import render_attributes

blueprint = Blueprint("sandbox_admin", __name__, url_prefix="/__sandbox")


def _state():
    return current_app.extensions["sandbox"]


@blueprint.get("/faults")
def get_faults():
    return jsonify(_state().faults.as_dict())


@blueprint.put("/faults")
def set_faults():
    try:
        settings = _state().faults.configure(request.get_json(force=True) or {})
    except (TypeError, ValueError) as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(settings.__dict__)


@blueprint.delete("/faults")
def clear_faults():
    _state().faults.configure({})
    return jsonify(_state().faults.as_dict())


@blueprint.put("/gate")
def arm_gate():
    """Hold the next `count` API requests with this method on this module until the gate opens."""
    body = request.get_json(force=True, silent=True) or {}
    try:
        method, module, count = str(body["method"]), str(body["module"]), int(body.get("count", 1))
    except (KeyError, TypeError, ValueError):
        return jsonify({"error": "give method, module and count"}), 400
    _state().gate.arm(method, module, count)
    return jsonify({"armed": True})


add_gate_routes(blueprint, lambda: _state().gate)


@blueprint.post("/revoke-tokens")
def revoke_tokens():
    _state().store.revoke()
    return jsonify({"revoked": True})


@blueprint.post("/tokens")
def make_token():
    """A token in a given state, for tests of the 401 answers: valid, expired_jwt or expired_in_db."""
    state = _state()
    wanted = (request.get_json(force=True, silent=True) or {}).get("state", "valid")
    client_id = next(iter(state.clients.clients))
    body = state.tokens.issue(client_id, with_refresh=False, ttl=-60 if wanted == "expired_jwt" else None)
    if wanted == "expired_in_db":
        state.store.expire(state.tokens.token_id(body["access_token"]), state.now() - 1)
    return jsonify(body)


@blueprint.post("/reset")
def reset():
    _state().reset()
    return jsonify({"reset": True})


@blueprint.get("/records/<module_name>")
def records(module_name: str):
    state = _state()
    module = state.modules.get(module_name)
    if module is None:
        return jsonify({"error": f"unknown module {module_name}"}), 404
    return jsonify([{"id": r.id, **render_attributes(module, r)} for r in state.store.all(module.name)])


@blueprint.get("/calls")
def calls():
    return jsonify(list(_state().calls))


@blueprint.delete("/calls")
def clear_calls():
    _state().calls.clear()
    return jsonify({"cleared": True})


@blueprint.put("/clock")
def set_clock():
    """Freeze the clock at `now` (ISO-8601), or unfreeze it with null."""
    now = (request.get_json(force=True) or {}).get("now")
    _state().set_clock(datetime.fromisoformat(now).timestamp() if now else None)
    return jsonify({"now": now})


@blueprint.post("/next-ids")
def next_ids():
    """Ids the next creates without a client-chosen id will get (replaying recorded transcripts)."""
    ids = (request.get_json(force=True) or {}).get("ids", [])
    _state().queue_ids([str(i) for i in ids])
    return jsonify({"queued": len(ids)})


@blueprint.get("/crm-channel")
def crm_channel():
    """The package's outbox as its Administration → Moodle sync page shows it: waiting, failed, last delivery."""
    return jsonify(_state().channel.status())


@blueprint.post("/crm-channel/deliver")
def crm_channel_deliver():
    """"Send now": deliver everything waiting, also what waits for a retry; answers what happened."""
    channel = _state().channel
    if not channel.configured:
        return jsonify({"error": "the CRM channel is not configured: start the sandbox with --crm-receiver-url "
                                 "and SANDBOX_CRM_SECRET"}), 409
    return jsonify(channel.deliver(ignore_backoff=True))


@blueprint.post("/crm-channel/retry-failed")
def crm_channel_retry_failed():
    """"Retry failed": the failed changes wait again and go at once."""
    return jsonify({"waiting_again": _state().channel.retry_failed()})
