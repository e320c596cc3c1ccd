"""Storing and enqueuing a request's events; on SQLite, with a group commit: the webhooks that arrive while one
is being stored are stored together, in one statement and one commit, and enqueued in one round trip.

SQLite has one writer at a time (crmsync.db.writer_turn), so a request's store is mostly a wait for the store
before it, then for the disk. Threads of the same process that arrive meanwhile queue here; when the store in
flight ends, one of them (the leader) takes all that queued and stores them as one batch, and each request is
answered from its share of the result. Nothing waits on purpose: a request alone is stored at once. Every
request is still acknowledged only once its rows are durable, and an id sent twice is new for the first request
that carries it, a duplicate for the others, as within one batch. PostgreSQL and MariaDB write concurrently:
there each request is stored on its own, in parallel (grouped, they were measured slower: a group waits for the
one in flight, and its batch statement costs more than the single-row one).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import Flask, current_app

from crmsync import db, queue, resources
from receiver import inbox, metrics
from receiver.messages import Message


@dataclass
class Stored:
    """What became of one request's messages."""

    new_ids: list[str]
    duplicate_ids: list[str]
    queued: bool


@dataclass
class _Request:
    messages: Sequence[Message]
    done: bool = False
    result: Stored | None = None
    error: BaseException | None = None


@dataclass
class GroupCommit:
    """The requests of one origin waiting to be stored, in one process. `job` is the origin's job function
    (None: its events stay pending)."""

    job: str | None
    max_events: int
    grouped: bool
    _waiting: list[_Request] = field(default_factory=list)
    _storing: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def store(self, messages: Sequence[Message]) -> Stored:
        """Store and enqueue one request's messages, with those of the requests that wait beside it."""
        request = _Request(messages)
        if not self.grouped:
            self._store_group([request])
            return _outcome(request)
        with self._changed:
            self._waiting.append(request)
            while not request.done:
                if self._storing:
                    self._changed.wait()
                    continue
                self._storing = True
                group = self._take()
                self._changed.release()
                try:
                    self._store_group(group)
                finally:
                    self._changed.acquire()
                    self._storing = False
                    self._changed.notify_all()
        return _outcome(request)

    def in_flight(self) -> tuple[bool, int]:
        """Whether a store is in flight, and how many requests wait behind it."""
        with self._changed:
            return self._storing, len(self._waiting)

    def _take(self) -> list[_Request]:
        """The oldest waiting requests, as many as keep the group within max_events (at least one)."""
        size, count = 0, 0
        for request in self._waiting:
            size += len(request.messages)
            if count and size > self.max_events:
                break
            count += 1
        group, self._waiting = self._waiting[:count], self._waiting[count:]
        return group

    def _store_group(self, group: list[_Request]) -> None:
        try:
            new_ids, queued = _store([m for request in group for m in request.messages], self.job)
        except BaseException as exc:
            # Each request answers for itself: SQLite refuses a group only for what all of it meets (a full
            # disk, a locked file), never for one request's data.
            for request in group:
                request.error, request.done = exc, True
            if not isinstance(exc, Exception):
                raise
            return
        unclaimed = set(new_ids)
        for request in group:
            new, duplicates = [], []
            for message in request.messages:
                if message.id in unclaimed:
                    unclaimed.discard(message.id)
                    new.append(message.id)
                else:
                    duplicates.append(message.id)
            request.result, request.done = Stored(new, duplicates, queued), True
        if self.grouped:
            metrics.GROUP_REQUESTS.observe(len(group))


def _outcome(request: _Request) -> Stored:
    if request.error is not None:
        raise request.error
    return request.result


def _store(messages: Sequence[Message], job: str | None) -> tuple[list[str], bool]:
    """One commit stores the events (as queued when a job applies them); the enqueue follows it, so a worker
    never sees a job before its row. Stored twice, an event is new once and a duplicate once; a row left
    queued without a job is the sweeper's to enqueue. Returns (new ids, whether they are queued)."""
    session = resources.ingest_session()
    try:
        with db.writer_turn(session):
            new_ids, _ = db.once_more_if_disconnected(session, lambda s: inbox.store(s, messages, queued=job is not None))
        with metrics.ENQUEUE_SECONDS.time():
            queued = job is not None and queue.enqueue_stored(
                session, resources.redis(), resources.config(), [(event_id, job) for event_id in new_ids])
    finally:
        session.close()
    return new_ids, queued


def of(origin: str) -> GroupCommit:
    """This process's group commit for `origin`'s webhooks."""
    return current_app.extensions["crmsync.group_commit"][origin]


def init_app(app: Flask) -> None:
    config = app.config["CRMSYNC"]
    grouped = db.writers_take_turns(db.engine_for(config.database_url, pre_ping=False))
    app.extensions["crmsync.group_commit"] = {
        origin: GroupCommit(job, config.max_batch_events, grouped) for origin, job in queue.JOB_FUNCTIONS.items()}
