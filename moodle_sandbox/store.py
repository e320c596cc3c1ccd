"""The sandbox's storage: Moodle's tables as JSON rows in SQLite (a file survives restarts, `:memory:` does not).

Each table has its own id sequence, as Moodle's do, so a seeded site hands out the ids the recorded
one did (seed users 1-6: the next created user is 7).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (tbl TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tbl, id));
CREATE TABLE IF NOT EXISTS sequences (tbl TEXT PRIMARY KEY, next_id INTEGER NOT NULL);
"""


class Store:
    """Thread-safe; one web-service call runs inside one transaction, as Moodle's delegated transactions do."""

    def __init__(self, path: str = ":memory:"):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0
        # Bumped by every write: what is built from the tables (an export's index) is valid while it stays.
        self.generation = 0

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Everything inside commits together or not at all (nested calls join the outer transaction)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    def empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM rows LIMIT 1").fetchone() is None

    def insert(self, table: str, row: dict) -> dict:
        """Stores the row under its own `id` if it has one (seeding), else under the table's next id."""
        with self.transaction():
            self.generation += 1
            next_id = self._next_id(table)
            row = dict(row)
            row_id = int(row.get("id") or next_id)
            row["id"] = row_id
            self._db.execute("INSERT INTO rows VALUES (?, ?, ?)", (table, row_id, json.dumps(row)))
            self._db.execute("INSERT OR REPLACE INTO sequences VALUES (?, ?)", (table, max(next_id, row_id + 1)))
            return row

    def _next_id(self, table: str) -> int:
        found = self._db.execute("SELECT next_id FROM sequences WHERE tbl = ?", (table,)).fetchone()
        return found[0] if found else 1

    def get(self, table: str, row_id) -> dict | None:
        try:
            row_id = int(row_id)
        except (TypeError, ValueError):
            return None
        with self._lock:
            found = self._db.execute("SELECT data FROM rows WHERE tbl = ? AND id = ?", (table, row_id)).fetchone()
        return json.loads(found[0]) if found else None

    def update(self, table: str, row: dict) -> None:
        with self.transaction():
            self.generation += 1
            self._db.execute("UPDATE rows SET data = ? WHERE tbl = ? AND id = ?", (json.dumps(row), table, row["id"]))

    def delete(self, table: str, row_id: int) -> None:
        with self.transaction():
            self.generation += 1
            self._db.execute("DELETE FROM rows WHERE tbl = ? AND id = ?", (table, row_id))

    def all(self, table: str) -> list[dict]:
        """Every row of the table in id order (Moodle's `ORDER BY id`)."""
        with self._lock:
            found = self._db.execute("SELECT data FROM rows WHERE tbl = ? ORDER BY id", (table,)).fetchall()
        return [json.loads(data) for (data,) in found]

    def find(self, table: str, where: Callable[[dict], bool] | None = None, **equal) -> list[dict]:
        return [row for row in self.all(table)
                if all(row.get(k) == v for k, v in equal.items()) and (where is None or where(row))]

    def first(self, table: str, **equal) -> dict | None:
        found = self.find(table, **equal)
        return found[0] if found else None

    def tables(self) -> list[str]:
        with self._lock:
            return [t for (t,) in self._db.execute("SELECT DISTINCT tbl FROM rows ORDER BY tbl").fetchall()]

    def reset(self) -> None:
        with self.transaction():
            self.generation += 1
            self._db.execute("DELETE FROM rows")
            self._db.execute("DELETE FROM sequences")
