"""Resources of a worker: per process its settings, database sessions and Redis; per work loop (thread,
crm_connector/work_loops.py) its CRM and Moodle clients, whose HTTP sessions and tokens are not shared."""

from __future__ import annotations

import threading
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


_per_thread = threading.local()


def crm_client() -> SuiteCrmClient:
    client = getattr(_per_thread, "crm_client", None)
    if client is None:
        cfg = settings()
        cfg.require("suitecrm_url", "suitecrm_client_id", "suitecrm_client_secret")
        client = _per_thread.crm_client = SuiteCrmClient(
            cfg.suitecrm_url, cfg.suitecrm_client_id, cfg.suitecrm_client_secret, cfg.suitecrm_username,
            cfg.suitecrm_password, cfg.suitecrm_timeout_seconds, redis=redis_connection(),
            max_concurrent_writes=cfg.crm_max_concurrent_writes)
    return client


def moodle_client():
    client = getattr(_per_thread, "moodle_client", None)
    if client is None:
        from crm_connector import to_moodle

        client = _per_thread.moodle_client = to_moodle.client(settings())
    return client


def session():
    return db.session_factory(settings().database_url)()
