"""The sandbox's storage: SQLite (a file survives restarts, `:memory:` does not)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, module TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    fields TEXT NOT NULL, created_at REAL NOT NULL, modified_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS records_module ON records(module, deleted);
CREATE TABLE IF NOT EXISTS relations (
    relationship TEXT NOT NULL, lhs_id TEXT NOT NULL, rhs_id TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (relationship, lhs_id, rhs_id));
CREATE INDEX IF NOT EXISTS relations_rhs ON relations(relationship, rhs_id);
CREATE TABLE IF NOT EXISTS email_links (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL, address TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS email_links_record ON email_links(record_id);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, refresh_token TEXT);
"""


@dataclass
class Record:
    id: str
    module: str
    deleted: bool
    fields: dict[str, str]
    created_at: float
    modified_at: float


class Store:
    """Thread-safe: the sandbox serves requests on many threads over one connection."""

    def __init__(self, path: str = ":memory:"):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL") if path != ":memory:" else None
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- records ---------------------------------------------------------------------------------
    def id_used(self, record_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone() is not None

    def get(self, module: str, record_id: str) -> Record | None:
        """A live record of that module, or None (deleted records are 'not found', as on the real server)."""
        with self._lock:
            row = self._db.execute("SELECT id, module, deleted, fields, created_at, modified_at FROM records "
                                   "WHERE id = ? AND module = ? AND deleted = 0", (record_id, module)).fetchone()
        return _record(row) if row else None

    def insert(self, module: str, record_id: str, fields: dict[str, str], now: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO records (id, module, fields, created_at, modified_at) VALUES (?, ?, ?, ?, ?)",
                       (record_id, module, json.dumps(fields), now, now))

    def update(self, record_id: str, fields: dict[str, str], now: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE records SET fields = ?, modified_at = ? WHERE id = ?",
                       (json.dumps(fields), now, record_id))

    def delete(self, record_id: str, now: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE records SET deleted = 1, modified_at = ? WHERE id = ?", (now, record_id))
            db.execute("DELETE FROM relations WHERE lhs_id = ? OR rhs_id = ?", (record_id, record_id))

    def all(self, module: str, deleted: bool = False) -> list[Record]:
        with self._lock:
            rows = self._db.execute("SELECT id, module, deleted, fields, created_at, modified_at FROM records "
                                    "WHERE module = ? AND deleted = ? ORDER BY id", (module, int(deleted))).fetchall()
        return [_record(row) for row in rows]

    # --- relationships ---------------------------------------------------------------------------
    def relate(self, relationship: str, lhs_id: str, rhs_id: str, now: float, one_to_many: bool) -> None:
        with self.transaction() as db:
            if one_to_many:
                # A child has one parent in a one-to-many relationship: relating moves it.
                db.execute("DELETE FROM relations WHERE relationship = ? AND rhs_id = ?", (relationship, rhs_id))
            db.execute("INSERT OR IGNORE INTO relations VALUES (?, ?, ?, ?)", (relationship, lhs_id, rhs_id, now))

    def unrelate(self, relationship: str, lhs_id: str, rhs_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM relations WHERE relationship = ? AND lhs_id = ? AND rhs_id = ?",
                                (relationship, lhs_id, rhs_id))
            return cursor.rowcount > 0

    def unrelate_child(self, relationship: str, rhs_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM relations WHERE relationship = ? AND rhs_id = ?", (relationship, rhs_id))

    def related_ids(self, relationship: str, record_id: str, side: str) -> list[str]:
        """Ids on the other side, oldest relation first."""
        mine, other = ("lhs_id", "rhs_id") if side == "lhs" else ("rhs_id", "lhs_id")
        with self._lock:
            rows = self._db.execute(f"SELECT {other} FROM relations WHERE relationship = ? AND {mine} = ? "
                                    "ORDER BY created_at, rowid", (relationship, record_id)).fetchall()
        return [row[0] for row in rows]

    # --- e-mail addresses ever linked to a record (SuiteCRM's email1 filter matches them all) ----
    def link_email(self, record_id: str, address: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO email_links (record_id, address) VALUES (?, ?)", (record_id, address))

    def email_links(self, module: str) -> dict[str, list[str]]:
        """Every address linked to each live record of the module, oldest first."""
        links: dict[str, list[str]] = {}
        with self._lock:
            rows = self._db.execute("SELECT l.record_id, l.address FROM email_links l JOIN records r ON r.id = l.record_id "
                                    "WHERE r.module = ? AND r.deleted = 0 ORDER BY l.seq", (module,)).fetchall()
        for record_id, address in rows:
            links.setdefault(record_id, []).append(address)
        return links

    # --- tokens ----------------------------------------------------------------------------------
    def save_token(self, token_id: str, client_id: str, expires_at: float, refresh_token: str | None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, 0, ?)", (token_id, client_id, expires_at, refresh_token))

    def token(self, token_id: str) -> tuple[float, bool] | None:
        with self._lock:
            row = self._db.execute("SELECT expires_at, revoked FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        return (row[0], bool(row[1])) if row else None

    def take_refresh_token(self, refresh_token: str) -> str | None:
        """The client of a valid refresh token, which is used up (rotated) by this call."""
        with self.transaction() as db:
            row = db.execute("SELECT client_id FROM tokens WHERE refresh_token = ? AND revoked = 0",
                             (refresh_token,)).fetchone()
            if row:
                db.execute("UPDATE tokens SET revoked = 1 WHERE refresh_token = ?", (refresh_token,))
        return row[0] if row else None

    def revoke(self, token_id: str | None = None) -> None:
        with self.transaction() as db:
            if token_id:
                db.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?", (token_id,))
            else:
                db.execute("UPDATE tokens SET revoked = 1")

    def expire(self, token_id: str, at: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE tokens SET expires_at = ? WHERE token_id = ?", (at, token_id))

    def reset(self) -> None:
        with self.transaction() as db:
            for table in ("records", "relations", "email_links", "tokens"):
                db.execute(f"DELETE FROM {table}")


def _record(row) -> Record:
    return Record(id=row[0], module=row[1], deleted=bool(row[2]), fields=json.loads(row[3]), created_at=row[4],
                  modified_at=row[5])
