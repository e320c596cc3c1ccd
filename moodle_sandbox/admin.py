"""/__sandbox/…: not part of Moodle; lets tests, benchmarks and `make run` users steer and inspect."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from moodle_sandbox.functions import known
from moodle_sandbox.state import empty_site, recorded_site
from sandbox_kit.gate import add_gate_routes

blueprint = Blueprint("moodle_sandbox_admin", __name__, url_prefix="/__sandbox")
SITES = {"recorded": recorded_site, "empty": empty_site}


def _state():
    return current_app.extensions["moodle_sandbox"]


def _body() -> dict:
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else {}


def _bad(message: str):
    return jsonify({"error": message}), 400


@blueprint.get("/faults")
def get_faults():
    return jsonify(_state().faults.as_dict())


@blueprint.put("/faults")
def set_faults():
    try:
        return jsonify(_state().faults.configure(_body()).__dict__)
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))


@blueprint.delete("/faults")
def clear_faults():
    _state().faults.configure({})
    return jsonify(_state().faults.as_dict())


@blueprint.put("/gate")
def arm_gate():
    """Hold the next `count` calls of web-service function `function` until the gate opens."""
    body = _body()
    try:
        name, count = str(body["function"]), int(body.get("count", 1))
    except (KeyError, TypeError, ValueError):
        return _bad("give function and count")
    _state().gate.arm("POST", name, count)
    return jsonify({"armed": True})


add_gate_routes(blueprint, lambda: _state().gate)


@blueprint.post("/reset")
def reset():
    """Back to a site: `recorded` (the recorded Moodle's data, the default) or `empty`; tokens are kept."""
    site = _body().get("site", "recorded")
    if site not in SITES:
        return _bad(f"site must be one of {', '.join(SITES)}")
    _state().reset(SITES[site]())
    return jsonify({"reset": site})


@blueprint.post("/seed")
def seed():
    """Add rows: {"user": [{...}], "course": [...], ...}; a row without `id` gets the table's next id."""
    body = _body()
    if not body or not all(isinstance(rows, list) and all(isinstance(r, dict) for r in rows) for rows in body.values()):
        return _bad("give {table: [row, ...]}")
    try:
        return jsonify(_state().seed(body))
    except Exception as exc:  # noqa: BLE001 - a duplicate id or bad value: the caller's mistake, said plainly
        return _bad(f"{exc.__class__.__name__}: {exc}")


@blueprint.get("/records/<table>")
def records(table: str):
    return jsonify(_state().store.all(table))


@blueprint.get("/calls")
def calls():
    return jsonify(list(_state().calls))


@blueprint.delete("/calls")
def clear_calls():
    _state().calls.clear()
    return jsonify({"cleared": True})


@blueprint.put("/clock")
def set_clock():
    """Freeze the clock at `now` (Unix seconds), or unfreeze it with null."""
    now = _body().get("now")
    if now is not None and not isinstance(now, int | float):
        return _bad("now must be Unix seconds or null")
    _state().set_clock(now)
    return jsonify({"now": now})


@blueprint.post("/tokens")
def make_token():
    """A token for `userid` (default 2, the admin) on `service` (default crm_sync); `token` to choose its value."""
    body = _body()
    try:
        token = _state().issue_token(str(body.get("service", "crm_sync")), int(body.get("userid", 2)),
                                     body.get("token"))
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    return jsonify({"token": token})


@blueprint.put("/site-policy")
def set_site_policy():
    """Whether user `userid` has agreed to the current site policy (`agreed`); Moodle refuses every web-service
    call but site info from a user who has not."""
    state, body = _state(), _body()
    user = state.store.get("user", body.get("userid"))
    if user is None or not isinstance(body.get("agreed"), bool):
        return _bad("expected {userid: an existing user, agreed: true|false}")
    state.store.update("user", user | {"policyagreed": int(body["agreed"])})
    return jsonify({"userid": user["id"], "agreed": body["agreed"]})


@blueprint.post("/revoke-tokens")
def revoke_tokens():
    _state().revoke_tokens()
    return jsonify({"revoked": True})


@blueprint.put("/services/<shortname>")
def set_service(shortname: str):
    """Change a service's `functions` (list of names) and/or `enabled` (bool)."""
    state, body = _state(), _body()
    service = state.store.first("external_services", shortname=shortname)
    if service is None:
        return _bad(f"no service {shortname!r}")
    if "functions" in body:
        unknown = [f for f in body["functions"] if not known(f)]
        if unknown:
            return _bad(f"unknown functions: {', '.join(unknown)}")
        service["functions"] = list(body["functions"])
    if "enabled" in body:
        service["enabled"] = int(bool(body["enabled"]))
    state.store.update("external_services", service)
    return jsonify(service)


@blueprint.put("/config")
def set_config():
    """Change site settings: {"siteurl": ..., "crmsync_siteid": ..., "crmsync_profilefields": [...]}."""
    body = _body()
    if not body or "id" in body:
        return _bad("give {setting: value, ...} (not the id)")
    return jsonify(_state().set_config(body))
