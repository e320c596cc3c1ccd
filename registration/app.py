"""The registration service's Flask app: public pages (views/public.py) and the staff dashboard (views/staff.py)."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from crmsync.config import Config, ConfigError


def create_app(config: Config) -> Flask:
    """App factory: one app per process, configured from crmsync.config (logging is the caller's: wsgi.py)."""
    from crmsync import resources
    from registration import errors, i18n
    from registration.views import public, staff

    if not config.registration_secret_key:
        raise ConfigError("REGISTRATION_SECRET_KEY is not set; it is required here (see docs/configuration.md)")
    app = Flask(__name__)
    app.config.update(
        CRMSYNC=config,
        SECRET_KEY=config.registration_secret_key,
        MAX_CONTENT_LENGTH=config.registration_max_body_bytes,
        MAX_FORM_MEMORY_SIZE=config.registration_max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.registration_public_url.startswith("https://"),
        # A form may stay open a while (a person looking up their student number): the CSRF token lives
        # as long as the session cookie, not Flask-WTF's default hour.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies,
                                x_host=config.trusted_proxies, x_port=config.trusted_proxies)
    resources.init_app(app)
    CSRFProtect(app)
    i18n.init_app(app)
    errors.init_app(app)
    app.register_blueprint(public.blueprint)
    app.register_blueprint(staff.blueprint)
    return app
