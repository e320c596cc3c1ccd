"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from crmsync import resources

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    """The process is up (no dependency is checked: a DB outage must not restart receivers)."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz():
    checks = {}
    session = resources.session()
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report, don't crash, whatever the driver raises
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    finally:
        session.close()
    try:
        resources.redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"unavailable: {exc.__class__.__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503
