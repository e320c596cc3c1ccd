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
    # Short timeouts: a dead Redis must not hold a webhook request; the event stays pending instead.
    app.extensions["crmsync.redis"] = Redis.from_url(config.redis_url, socket_connect_timeout=1, socket_timeout=2)


def config() -> Config:
    return current_app.config["CRMSYNC"]


def session() -> Session:
    return current_app.extensions["crmsync.sessions"]()


def redis() -> Redis:
    return current_app.extensions["crmsync.redis"]
