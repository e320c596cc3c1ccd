"""Fixtures for real services: Redis, SQLite and PostgreSQL databases, the shared fixtures folder."""

from __future__ import annotations

import os
import uuid

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text

from crmsync import db
from crmsync.models import Base
from tests.support import FIXTURES

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def pytest_addoption(parser):
    parser.addoption("--chaos-full", action="store_true", help="run the full fault drills, not the short ones")


@pytest.fixture(scope="session")
def fixtures_dir():
    if not FIXTURES.is_dir():
        pytest.fail(f"recorded fixtures not found at {FIXTURES}: check out ../shared beside the repository")
    return FIXTURES


@pytest.fixture
def redis_url():
    """A real Redis database, emptied before each test."""
    client = redis_lib.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis_lib.ConnectionError:
        pytest.fail(f"Redis is not reachable at {TEST_REDIS_URL} (make test starts it)")
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()


@pytest.fixture
def redis_client(redis_url):
    return redis_lib.Redis.from_url(redis_url)


def _throwaway_database(admin_url: str, engine: str, create: str, drop: str, url_suffix: str = ""):
    """A database of its own for this test session on a real server, migrated to head; dropped after."""
    name = f"crmsync_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(create.format(name=name)))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        pytest.fail(f"{engine} not reachable at {admin_url} (make test starts it): {exc.__class__.__name__}")
    url = admin_url.rsplit("/", 1)[0] + f"/{name}{url_suffix}"
    db.upgrade(url)
    yield url
    db.forget_engines()
    with admin.connect() as conn:
        conn.execute(text(drop.format(name=name)))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_database():
    yield from _throwaway_database(TEST_POSTGRES_URL, "PostgreSQL", 'CREATE DATABASE "{name}"',
                                   'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mariadb_database():
    yield from _throwaway_database(TEST_MARIADB_URL, "MariaDB",
                                   "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                                   "DROP DATABASE IF EXISTS `{name}`", "?charset=utf8mb4")


def _empty_tables(url: str) -> None:
    engine = db.engine_for(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request, tmp_path):
    """A migrated, empty database on every engine the docs name: a SQLite file, PostgreSQL, MariaDB."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crmsync.db'}"
        db.upgrade(url)
        yield url
        db.engine_for(url).dispose()
    else:
        url = request.getfixturevalue({"postgresql": "postgres_database", "mariadb": "mariadb_database"}[request.param])
        _empty_tables(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'crmsync.db'}"
    db.upgrade(url)
    yield url
    db.engine_for(url).dispose()


@pytest.fixture
def sandbox():
    """A real SuiteCRM sandbox process (with the product's package) on a free port."""
    from suitecrm_sandbox.testing import SandboxProcess

    with SandboxProcess() as process:
        yield process


MOODLE_TOKEN = "c0ffee00c0ffee00c0ffee00c0ffee00"  # the crm_sync service's token in the Moodle sandbox


@pytest.fixture(scope="module")
def moodle_process():
    """A real Moodle web-service sandbox process on a free port, one per test module (fresh_moodle resets it)."""
    from moodle_sandbox.testing import MoodleSandboxProcess

    with MoodleSandboxProcess(token=MOODLE_TOKEN) as process:
        yield process


def fresh_moodle(process, site: str):
    """The Moodle sandbox as a test starts from: `site` loaded, the service's token (a test may have revoked it),
    no faults, no calls recorded."""
    import requests

    process.reset(site)
    process.issue_token("crm_sync", 2, token=process.token)
    process.clear_faults()
    requests.delete(f"{process.url}/__sandbox/calls", timeout=5)
    return process
