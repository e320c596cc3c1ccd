"""Engine, sessions and schema migrations for the shared database."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; callers answer 503 or retry later."""


def _normalise(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername in {"mysql", "mariadb"}:
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, pre_ping: bool = True) -> Engine:
    """`pre_ping`: test each pooled connection with a round trip before use, so that a database restart
    costs no failed statement; without it, a caller retries once (`once_more_if_disconnected`)."""
    url = _normalise(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets the receiver write while workers read; FULL syncs every commit, so an event the
            # receiver acknowledged survives a power loss; foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    options = {}
    if parsed.get_backend_name() == "mysql":
        # InnoDB's default REPEATABLE READ would show a job the snapshot of its first read for the
        # whole transaction; every decision here is taken on the newest committed rows instead.
        options["isolation_level"] = "READ COMMITTED"
    # hide_parameters: an error's text (logged, or kept as a dead letter's reason) never carries the
    # values of a statement, which hold learners' personal data.
    return create_engine(url, pool_pre_ping=pre_ping, pool_size=5, max_overflow=10, pool_recycle=1800,
                         hide_parameters=True, **options)


_engines: dict[tuple[str, bool], Engine] = {}
_engines_lock = threading.Lock()
_turns: dict[str, _WriterTurns] = {}  # SQLite database file → its writers' turns (writer_turn)


def engine_for(url: str, pre_ping: bool = True) -> Engine:
    """One engine (and pool) per database URL, pre-ping choice and process."""
    with _engines_lock:
        engine = _engines.get((url, pre_ping))
        if engine is None:
            engine = _engines[url, pre_ping] = make_engine(url, pre_ping)
        return engine


def forget_engines() -> None:
    """Dispose of every engine (tests that drop a database call this)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _after_fork_in_child() -> None:
    # A forked process (RQ's scheduler, a forking worker) must never use its parent's pooled connections: both
    # processes would talk over one socket. close=False leaves them open for the parent.
    global _engines_lock
    _engines_lock = threading.Lock()  # a thread of the parent may have held it at the fork
    _turns.clear()  # the parent's lock file is the parent's: a flock of the same open file excludes nothing
    for engine in list(_engines.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def session_factory(url: str, pre_ping: bool = True) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url, pre_ping), expire_on_commit=False)


def once_more_if_disconnected(session: Session, work: Callable[[Session], T]) -> T:
    """work(session), and once more if it found its pooled connection closed by the server (a restart):
    the pool has thrown away its old connections by then, so the second try runs on a new one. Only for
    work that may safely run twice (the first try's commit may have reached the server)."""
    try:
        return work(session)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        session.rollback()
        return work(session)


class _WriterTurns:
    """Turns on one SQLite file for the writers that take them: a lock for the threads of this process, and
    an exclusive flock of a file beside the database for the processes (flock excludes other open files,
    not other threads of the one that holds it)."""

    def __init__(self, database: str):
        self._lock = threading.Lock()
        self._file = open(f"{database}.writers", "a")  # noqa: SIM115 - held for the life of the process

    @contextmanager
    def turn(self):
        with self._lock:
            fcntl.flock(self._file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file, fcntl.LOCK_UN)


def writers_take_turns(engine: Engine) -> bool:
    """Whether writer_turn makes this database's writers wait for one another: a SQLite file."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


@contextmanager
def writer_turn(session: Session):
    """Around a short write transaction on a busy path (the receiver's store). On SQLite, such writers wait
    for one another here, woken as soon as the file is free, instead of in SQLite's busy handler, which
    sleeps up to 100 ms at a time (the receiver's p99 was 110 ms with four threads in each of two
    processes). Other writers (the workers) still meet the handler. Other engines lock rows, not the file."""
    if not writers_take_turns(session.get_bind()):
        yield
        return
    database = session.get_bind().url.database
    with _engines_lock:
        turns = _turns.get(database)
        if turns is None:
            turns = _turns[database] = _WriterTurns(database)
    with turns.turn():
        yield


@contextmanager
def session_scope(url: str):
    """A session that commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Alembic is imported where it is used: a process that never migrates (each receiver and worker process)
# is about 10 MB smaller without it.
def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", _normalise(url).replace("%", "%%"))
    return config


def current_revision(url: str) -> str | None:
    from alembic.migration import MigrationContext

    with engine_for(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database schema up to date (idempotent); returns the revisions before and after."""
    from alembic import command

    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    return before, current_revision(url)
