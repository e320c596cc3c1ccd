"""Error pages: every refusal is a page that says why (never a stack trace), in the person's language."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from crmsync.db import DatabaseUnavailable
from registration.forms import DeclarationError

log = logging.getLogger(__name__)


def page(status: int, title: str, message: str):
    return render_template("message.html", title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        log.info("registration: %s %s refused: CSRF (%s)", request.method, request.path, error.description)
        return page(400, _("This form has expired"),
                    _("For your safety the form could not be sent. Please go back, reload the page and send it again."))

    @app.errorhandler(413)
    def too_large(_error):
        log.info("registration: %s %s refused: body too large", request.method, request.path)
        return page(413, _("Too much data"),
                    _("What you sent is larger than this form accepts. Please shorten your answers and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        titles = {404: _("Page not found"), 405: _("Not allowed")}
        return page(error.code or 500, titles.get(error.code, error.name),
                    _("Please go back to the list of programmes.") if error.code == 404 else error.description)

    @app.errorhandler(DeclarationError)
    def broken_declaration(error):
        # The operator's to fix (the message names the file and place); the person is told to come back.
        log.error("registration: a form declaration is broken: %s", error)
        return page(503, _("Please try again later"), _("This form is being updated. Please come back in a while."))

    @app.errorhandler(DatabaseUnavailable)
    def unavailable(_error):
        return page(503, _("Please try again later"), _("Registration is unavailable for a moment."))
