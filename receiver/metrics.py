"""Prometheus metrics of the receiver, correct across gunicorn's worker processes.

`crmsync serve` points PROMETHEUS_MULTIPROC_DIR at an empty directory before gunicorn starts, so
each worker writes its samples there and /metrics adds them up.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from crmsync import contract, resources
from reconciler.notify import ReconcileCollector

REQUESTS = Counter("crmsync_http_requests_total", "HTTP requests answered", ["endpoint", "status"])
# `origin`: who sent the webhook, moodle or crm (crmsync.contract.ORIGINS).
SIGNATURE_FAILURES = Counter("crmsync_signature_failures_total", "Webhooks rejected for their signature", ["origin"])
EVENTS = Counter("crmsync_webhook_events_total", "Events received", ["origin", "outcome"])
ENQUEUE_SECONDS = Histogram("crmsync_enqueue_seconds", "Time to enqueue a store's events in Redis")
# Requests stored in one commit (receiver/group_commit.py): above 1 when webhooks arrive faster than one commits.
GROUP_REQUESTS = Histogram("crmsync_ingest_group_requests", "Webhook requests stored together in one commit (SQLite)",
                           buckets=(1, 2, 3, 4, 6, 8, 16, 32))
REQUEST_SECONDS = Histogram("crmsync_request_seconds", "Time to answer a webhook POST", ["origin"])
WEBHOOK_ENDPOINTS = {"webhooks.receive": contract.MOODLE, "crm_webhooks.receive": contract.CRM}
QUEUE_DEPTH = Gauge("crmsync_queue_depth", "Jobs waiting in the RQ queue", multiprocess_mode="mostrecent")

blueprint = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def count(response):
        REQUESTS.labels(request.endpoint or "unknown", str(response.status_code)).inc()
        if request.endpoint in WEBHOOK_ENDPOINTS:
            REQUEST_SECONDS.labels(WEBHOOK_ENDPOINTS[request.endpoint]).observe(
                time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    app.register_blueprint(blueprint)


@blueprint.get("/metrics")
def metrics():
    from rq import Queue

    try:
        QUEUE_DEPTH.set(Queue(resources.config().queue_name, connection=resources.redis()).count)
    except Exception:  # noqa: BLE001 - metrics must answer while Redis is down
        pass
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        samples = generate_latest(registry)
    else:
        samples = generate_latest()
    # Read from the database now, not counted by this process: whichever worker ran the reconciliation.
    from_database = CollectorRegistry()
    from_database.register(ReconcileCollector(resources.session))
    return Response(samples + generate_latest(from_database), content_type=CONTENT_TYPE_LATEST)
