"""Flask receiver: verifies, stores and enqueues Moodle and CRM webhooks; admin API, health and metrics."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from crmsync import config as configuration
from crmsync.config import Config


def create_app(config: Config | None = None) -> Flask:
    """App factory: one Flask app per process, configured from crmsync.config."""
    from crmsync import logs, resources
    from receiver import admin_api, crm_webhooks, errors, group_commit, metrics, ops, webhooks
    from reconciler import api as reconcile_api

    config = config or configuration.load()
    logs.configure(config)
    app = Flask(__name__)
    app.config["CRMSYNC"] = config
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies,
                                x_host=config.trusted_proxies, x_port=config.trusted_proxies)
    resources.init_app(app)
    errors.init_app(app)
    group_commit.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(crm_webhooks.blueprint)
    app.register_blueprint(ops.blueprint)
    app.register_blueprint(admin_api.blueprint)
    app.register_blueprint(reconcile_api.blueprint)
    return app
