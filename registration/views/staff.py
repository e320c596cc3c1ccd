"""Staff pages under /staff: refused (401) unless an admin token (ADMIN_API_TOKENS, as the receiver's admin
API) is given, as `Authorization: Bearer …` or once on the sign-in page (then kept in the signed session
as its hash, checked against the current tokens on every request: removing a token signs it out)."""

from __future__ import annotations

import hashlib
import hmac
from functools import wraps

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from crmsync import resources
from registration import dashboard
from registration.errors import page

blueprint = Blueprint("staff", __name__, url_prefix="/staff")
SESSION_KEY = "staff"


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _valid(presented: str) -> bool:
    presented_bytes = presented.encode("latin-1", "replace")
    return bool(presented) and any(hmac.compare_digest(presented_bytes, token.encode())
                                   for token in resources.config().admin_api_tokens)


def _signed_in() -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and _valid(header[7:]):
        return True
    remembered = session.get(SESSION_KEY)
    return bool(remembered) and any(hmac.compare_digest(remembered, _fingerprint(t))
                                    for t in resources.config().admin_api_tokens)


def require_staff(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if not _signed_in():
            response = redirect(url_for("staff.sign_in"), 303) if request.method == "GET" and \
                "text/html" in request.headers.get("Accept", "") else page(401, _("Staff only"),
                                                                            _("An admin token is required."))
            return response
        return view(*args, **kwargs)

    return guarded


@blueprint.get("/login")
def sign_in():
    return render_template("staff/login.html", failed=False)


@blueprint.post("/login")
def sign_in_post():
    token = request.form.get("token", "")
    if not _valid(token):
        return render_template("staff/login.html", failed=True), 401
    session[SESSION_KEY] = _fingerprint(token)
    return redirect(url_for("staff.overview"), 303)


@blueprint.post("/logout")
def sign_out():
    session.pop(SESSION_KEY, None)
    return redirect(url_for("public.index"), 303)


@blueprint.get("/")
@require_staff
def overview():
    db = resources.session()
    try:
        return render_template("staff/dashboard.html", rows=dashboard.rows(db), statuses=dashboard.SHOWN)
    finally:
        db.close()
