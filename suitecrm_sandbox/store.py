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
    revoked INTEGER NOT NULL DEFAULT 0, refresh_token TEXT, user_name TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The package's crmsync_outbox (suitecrm_package/templates/CrmSyncOutbox.php). AUTOINCREMENT: an id
-- is never handed out twice, even after the newest row went, since ids are the messages' sequence.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, module TEXT NOT NULL, record_id TEXT NOT NULL,
    action TEXT NOT NULL, changed TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL, status TEXT NOT NULL, last_error TEXT, delivered REAL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt);
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
        if "user_name" not in {row[1] for row in self._db.execute("PRAGMA table_info(tokens)")}:
            # A database an earlier sandbox made: its tokens predate users, and were all the client's.
            self._db.execute("ALTER TABLE tokens ADD COLUMN user_name TEXT NOT NULL DEFAULT ''")
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

    def get_any(self, module: str, record_id: str) -> Record | None:
        """The record of that module, deleted or not (what the package's delivery reads of a deleted bean)."""
        with self._lock:
            row = self._db.execute("SELECT id, module, deleted, fields, created_at, modified_at FROM records "
                                   "WHERE id = ? AND module = ?", (record_id, module)).fetchone()
        return _record(row) if row else None

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
    def save_token(self, token_id: str, client_id: str, expires_at: float, refresh_token: str | None,
                   user_name: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO tokens (token_id, client_id, expires_at, revoked, refresh_token, user_name) "
                       "VALUES (?, ?, ?, 0, ?, ?)", (token_id, client_id, expires_at, refresh_token, user_name))

    def token(self, token_id: str) -> tuple[float, bool, str] | None:
        """(expires_at, revoked, user name: "" for the client's own user)."""
        with self._lock:
            row = self._db.execute("SELECT expires_at, revoked, user_name FROM tokens WHERE token_id = ?",
                                   (token_id,)).fetchone()
        return (row[0], bool(row[1]), row[2]) if row else None

    def take_refresh_token(self, refresh_token: str) -> tuple[str, str] | None:
        """The client and user of a valid refresh token, which is used up (rotated) by this call."""
        with self.transaction() as db:
            row = db.execute("SELECT client_id, user_name FROM tokens WHERE refresh_token = ? AND revoked = 0",
                             (refresh_token,)).fetchone()
            if row:
                db.execute("UPDATE tokens SET revoked = 1 WHERE refresh_token = ?", (refresh_token,))
        return (row[0], row[1]) if row else None

    def revoke(self, token_id: str | None = None) -> None:
        with self.transaction() as db:
            if token_id:
                db.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?", (token_id,))
            else:
                db.execute("UPDATE tokens SET revoked = 1")

    def expire(self, token_id: str, at: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE tokens SET expires_at = ? WHERE token_id = ?", (at, token_id))

    # --- settings: what a SuiteCRM keeps in config.php --------------------------------------------
    def setting(self, name: str, make) -> str:
        """The stored value, made and stored on first use."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
            if row:
                return row[0]
            value = make()
            db.execute("INSERT INTO settings VALUES (?, ?)", (name, value))
            return value

    # --- the package's outbox --------------------------------------------------------------------
    def outbox_add(self, uuid: str, module: str, record_id: str, action: str, changed: list[str],
                   created: float, due: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO outbox (uuid, module, record_id, action, changed, created, next_attempt, status) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, 'waiting')",
                       (uuid, module, record_id, action, json.dumps(changed), created, due))

    def outbox_due(self, limit: int, due_by: float) -> list[tuple[str, str, list[dict]]]:
        """(module, record id, every waiting row of it) for the records with a row due, oldest first."""
        with self._lock:
            keys = self._db.execute("SELECT module, record_id FROM outbox WHERE status = 'waiting' AND "
                                    "next_attempt <= ? GROUP BY module, record_id ORDER BY MIN(id) LIMIT ?",
                                    (due_by, max(1, limit))).fetchall()
            groups = []
            for module, record_id in keys:
                rows = self._db.execute("SELECT * FROM outbox WHERE status = 'waiting' AND module = ? AND "
                                        "record_id = ? ORDER BY id", (module, record_id))
                names = [c[0] for c in rows.description]
                groups.append((module, record_id, [dict(zip(names, row, strict=True)) for row in rows.fetchall()]))
        return groups

    def outbox_mark(self, ids: list[int], status: str | None = None, error: str | None = None,
                    next_attempt: float | None = None, delivered: float | None = None,
                    attempted: bool = False) -> None:
        if not ids:
            return
        sets, values = ["last_error = ?"], [error]
        for column, value in (("status", status), ("next_attempt", next_attempt), ("delivered", delivered)):
            if value is not None:
                sets.append(f"{column} = ?")
                values.append(value)
        if attempted:
            sets.append("attempts = attempts + 1")
        with self.transaction() as db:
            db.execute(f"UPDATE outbox SET {', '.join(sets)} WHERE id IN ({', '.join('?' * len(ids))})",
                       (*values, *ids))

    def outbox_retry_failed(self, now: float) -> int:
        with self.transaction() as db:
            return db.execute("UPDATE outbox SET status = 'waiting', next_attempt = ? WHERE status = 'failed'",
                              (now,)).rowcount

    def outbox_status(self, limit: int = 100) -> dict:
        """The counts and the newest rows (newest first), read together so that they always agree."""
        with self._lock:
            counts = dict(self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
            oldest, next_attempt = self._db.execute("SELECT MIN(created), MIN(next_attempt) FROM outbox "
                                                    "WHERE status = 'waiting'").fetchone()
            last = self._db.execute("SELECT MAX(delivered) FROM outbox WHERE status = 'delivered'").fetchone()[0]
            error = self._db.execute("SELECT last_error FROM outbox WHERE status = 'waiting' AND last_error IS "
                                     "NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
            rows = self._db.execute("SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))
            names = [c[0] for c in rows.description]
            newest = [dict(zip(names, row, strict=True)) for row in rows.fetchall()]
        return {"waiting": counts.get("waiting", 0), "failed": counts.get("failed", 0),
                "delivered": counts.get("delivered", 0), "oldest_waiting": oldest, "next_attempt": next_attempt,
                "last_error": error[0] if error else None, "last_delivered": last, "rows": newest}

    def reset(self) -> None:
        with self.transaction() as db:
            # The outbox's id counter (sqlite_sequence) stays: the sequence never restarts below what was sent.
            for table in ("records", "relations", "email_links", "tokens", "outbox"):
                db.execute(f"DELETE FROM {table}")


def _record(row) -> Record:
    return Record(id=row[0], module=row[1], deleted=bool(row[2]), fields=json.loads(row[3]), created_at=row[4],
                  modified_at=row[5])
