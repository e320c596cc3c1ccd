"""Per-app connections to the database and Redis, and the settings, for each of the product's Flask apps (the
receiver, the registration pages)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from sqlalchemy.orm import Session

from crmsync import db
from crmsync.config import Config


def init_app(app: Flask) -> None:
    config: Config = app.config["CRMSYNC"]
    app.extensions["crmsync.sessions"] = db.session_factory(config.database_url)
    # Webhooks skip the pool's pre-ping round trip (a tenth of a request's time); their store is safe to
    # repeat, so they retry once instead when a database restart closed a pooled connection.
    app.extensions["crmsync.ingest_sessions"] = db.session_factory(config.database_url, pre_ping=False)
    # Short timeouts: a dead Redis must not hold a webhook request; the event stays pending instead.
    app.extensions["crmsync.redis"] = Redis.from_url(config.redis_url, socket_connect_timeout=1, socket_timeout=2)


def config() -> Config:
    return current_app.config["CRMSYNC"]


def session() -> Session:
    return current_app.extensions["crmsync.sessions"]()


def ingest_session() -> Session:
    """A session for storing webhooks: use it with db.once_more_if_disconnected."""
    return current_app.extensions["crmsync.ingest_sessions"]()


def redis() -> Redis:
    return current_app.extensions["crmsync.redis"]
