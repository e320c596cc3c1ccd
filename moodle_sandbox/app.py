"""The Moodle sandbox's Flask app: the REST web-service endpoint, fault injection and /__sandbox."""

from __future__ import annotations

import socket
import struct
import time

from flask import Flask, Response, request

from moodle_sandbox import admin, rest
from moodle_sandbox.state import SandboxState


class ConnectionReset(ConnectionResetError):
    """Raised to drop the connection: werkzeug then sends nothing, and SO_LINGER 0 makes the close a reset."""


def create_app(state: SandboxState) -> Flask:
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # lets ConnectionReset reach werkzeug
    app.extensions["moodle_sandbox"] = state
    app.register_blueprint(rest.blueprint)
    app.register_blueprint(admin.blueprint)

    @app.before_request
    def inject_faults():
        if not request.path.startswith("/webservice/"):
            return None
        fault, latency, status = state.faults.draw(request.values.get("wsfunction"))
        state.faults.sleep(latency)
        if fault == "reset":
            _reset_connection()
        if fault == "hang":
            time.sleep(state.faults.settings.hang_seconds)
            return Response("", 504, content_type="text/html; charset=utf-8")
        if fault == "throttle":
            response = Response("Too Many Requests", 429, content_type="text/plain")
            response.headers["Retry-After"] = str(state.faults.settings.retry_after_seconds)
            return response
        if fault == "error":
            return Response("", status, content_type="text/html; charset=utf-8")
        return None

    @app.after_request
    def log_call(response: Response):
        if request.path.startswith("/webservice/"):
            name = request.values.get("wsfunction")
            state.calls.append({"function": name, "status": response.status_code, "at": time.time()})
        return response

    return app


def _reset_connection() -> None:
    connection = request.environ.get("sandbox.connection")
    if connection is not None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RDWR)
    raise ConnectionReset()
