"""The sandbox's Flask app: token endpoint, V8 API, fault injection and the /__sandbox admin API."""

from __future__ import annotations

import json
import socket
import struct
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import NotFound

from suitecrm_sandbox import admin, api
from suitecrm_sandbox.faults import DB_FAILURE_BODY
from suitecrm_sandbox.state import SandboxState
from suitecrm_sandbox.tokens import OAuthError

API_PREFIXES = ("/Api/", "/legacy/Api/")


class ConnectionReset(ConnectionResetError):
    """Raised to drop the connection: werkzeug then sends nothing, and SO_LINGER 0 makes the close a reset."""


def _oauth_answer(error: OAuthError) -> Response:
    return Response(json.dumps(error.body()), status=error.status, content_type="application/json")


def create_app(state: SandboxState) -> Flask:
    app = Flask(__name__)
    # Let ConnectionReset (a ConnectionError) reach werkzeug, which then drops the connection unanswered.
    app.config["PROPAGATE_EXCEPTIONS"] = True
    app.extensions["sandbox"] = state
    for prefix in ("/Api", "/legacy/Api"):
        app.register_blueprint(api.blueprint, url_prefix=f"{prefix}/V8", name=f"v8{prefix.replace('/', '_')}")
        app.add_url_rule(f"{prefix}/access_token", f"token{prefix.replace('/', '_')}", token, methods=["POST"])
    app.register_blueprint(admin.blueprint)

    @app.before_request
    def inject_faults_and_authenticate():
        if not request.path.startswith(API_PREFIXES):
            return None
        fault, latency = state.faults.draw()
        state.faults.sleep(latency)
        if fault == "reset":
            _reset_connection()
        if fault == "hang":
            time.sleep(state.faults.settings.hang_seconds)
            return Response("", status=504)
        if fault == "throttle":
            response = Response(json.dumps({"message": "Too Many Requests"}), 429, content_type="application/json")
            response.headers["Retry-After"] = str(state.faults.settings.retry_after_seconds)
            return response
        if fault == "error":
            status = state.faults.error_status()
            return Response(f"<html><body><h1>{status}</h1></body></html>", status, content_type="text/html")
        if fault == "db_failure":
            return Response(DB_FAILURE_BODY, 400, content_type="application/vnd.api+json")
        if request.path.endswith("/access_token"):
            return None
        try:
            # Whose request this is: the package's outbox records CRM users' changes, not the API user's.
            g.crm_user = state.tokens.check(request.headers.get("Authorization", ""))
        except OAuthError as error:
            return _oauth_answer(error)
        state.gate.wait_here(request.method, _module_of(request))
        return None

    @app.after_request
    def log_call(response: Response):
        if request.path.startswith(API_PREFIXES):
            state.calls.append({"method": request.method, "path": request.path, "status": response.status_code,
                                "module": _module_of(request), "at": time.time()})
        return response

    @app.errorhandler(NotFound)
    def not_found(_error):
        return Response(json.dumps({"message": "Not found"}), 404, content_type="application/json")


    return app


def token():
    state = _state()
    params = request.get_json(silent=True) if request.is_json else None
    if not isinstance(params, dict):
        params = request.form.to_dict() or (request.get_json(force=True, silent=True) or {})
    try:
        body = state.tokens.grant(params)
    except OAuthError as error:
        return _oauth_answer(error)
    return Response(json.dumps(body), 200, content_type="application/json; charset=UTF-8")


def _state() -> SandboxState:
    from flask import current_app

    return current_app.extensions["sandbox"]


def _module_of(req) -> str | None:
    parts = req.path.split("/")
    if "module" in parts:
        index = parts.index("module")
        if len(parts) > index + 1 and parts[index + 1]:
            return parts[index + 1]
        body = req.get_json(force=True, silent=True)
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            return body["data"].get("type")
    return None


def _reset_connection() -> None:
    connection = request.environ.get("sandbox.connection")
    if connection is not None:
        # SO_LINGER 0 makes the final close a RST; shutting down now ends the exchange unanswered.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RDWR)
    raise ConnectionReset()
