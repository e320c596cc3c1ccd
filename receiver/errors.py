"""Typed request errors and their JSON answers: each is raised where detected, answered here."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

DB_RETRY_AFTER_SECONDS = 30


class RequestRejected(Exception):
    """A client error with a status and a reason the client may see."""

    status = 400

    def __init__(self, reason: str, details: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def body(self) -> dict:
        body = {"error": self.reason}
        if self.details:
            body["errors"] = self.details
        return body


class InvalidSignature(RequestRejected):
    status = 401

    def __init__(self, cause: str):
        # The client learns nothing beyond "invalid signature"; the cause goes to the operator's log.
        super().__init__("invalid signature")
        self.cause = cause


class UnsupportedMediaType(RequestRejected):
    status = 415


class MalformedRequest(RequestRejected):
    status = 400


class MalformedJson(MalformedRequest):
    pass


class InvalidMessages(RequestRejected):
    status = 422


def init_app(app: Flask) -> None:
    @app.errorhandler(RequestRejected)
    def rejected(error: RequestRejected):
        return jsonify(error.body()), error.status

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        log.error("database unavailable: %s", describe(error))
        response = jsonify({"error": "database unavailable, retry later"})
        response.headers["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
        return response, 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify({"error": error.description}), error.code

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        # Flask's own log line would carry str(error): for a database error that is the driver's
        # message and SQLAlchemy's "[parameters: ...]", i.e. the head of the payload. Log where it
        # happened and what kind of error it was, never what the error says about the data.
        log.error("unexpected %s on %s %s\n%s", describe(error), request.method, request.endpoint,
                  "".join(traceback.format_tb(error.__traceback__)).rstrip())
        return jsonify({"error": "internal error"}), 500


def describe(error: BaseException) -> str:
    """The kind of an error, without its message (which may quote request data)."""
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    if isinstance(error, DBAPIError) and error.orig is not None:
        kind += f" ({type(error.orig).__module__}.{type(error.orig).__qualname__})"
    return kind
