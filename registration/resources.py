"""Per-app connections to the database and Redis, and the settings."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from sqlalchemy.orm import Session

from crmsync import db
from crmsync.config import Config


def init_app(app: Flask) -> None:
    config: Config = app.config["CRMSYNC"]
    app.extensions["registration.sessions"] = db.session_factory(config.database_url)
    app.extensions["registration.redis"] = Redis.from_url(config.redis_url, socket_connect_timeout=1, socket_timeout=2)


def config() -> Config:
    return current_app.config["CRMSYNC"]


def session() -> Session:
    return current_app.extensions["registration.sessions"]()


def redis() -> Redis:
    return current_app.extensions["registration.redis"]


def public_url() -> str:
    """Base of the links e-mailed to people."""
    settings = config()
    return settings.registration_public_url or f"http://{settings.registration_bind}"
