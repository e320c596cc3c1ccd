"""Per-process resources of a worker: settings, database sessions, Redis, the CRM and Moodle clients."""

from __future__ import annotations

from functools import cache

from redis import Redis

from crm_connector.suitecrm import SuiteCrmClient
from crmsync import config as configuration
from crmsync import db
from crmsync.config import Config


@cache
def settings() -> Config:
    return configuration.load()


@cache
def redis_connection() -> Redis:
    return Redis.from_url(settings().redis_url)


@cache
def crm_client() -> SuiteCrmClient:
    cfg = settings()
    cfg.require("suitecrm_url", "suitecrm_client_id", "suitecrm_client_secret")
    return SuiteCrmClient(cfg.suitecrm_url, cfg.suitecrm_client_id, cfg.suitecrm_client_secret,
                          cfg.suitecrm_username, cfg.suitecrm_password, cfg.suitecrm_timeout_seconds,
                          redis=redis_connection(), max_concurrent_writes=cfg.crm_max_concurrent_writes)


@cache
def moodle_client():
    from crm_connector import to_moodle

    return to_moodle.client(settings())


def session():
    return db.session_factory(settings().database_url)()
