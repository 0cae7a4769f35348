"""The review store: one SQLite file holding every annotator's verdicts and the drawn samples.

Durability and concurrency are the point: the database runs in WAL mode, every vote is its own committed
transaction (a killed server loses at most the click in flight), and writers from several threads or
processes wait on a busy timeout and retry, so concurrent annotators lose nothing. A vote is an upsert on
(item_id, field, annotator): changing one's mind replaces the verdict and keeps the first timestamp.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

from ..schema import FIELD_PATHS

VERDICTS: tuple[str, ...] = ("correct", "incorrect", "unsure")
_BUSY_TIMEOUT_MS = 30_000
_RETRIES = 20
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    item_id    TEXT NOT NULL,
    field      TEXT NOT NULL,
    annotator  TEXT NOT NULL,
    verdict    TEXT NOT NULL CHECK (verdict IN ('correct', 'incorrect', 'unsure')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (item_id, field, annotator)
);
CREATE TABLE IF NOT EXISTS samples (
    seed     INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    position INTEGER NOT NULL,
    item_id  TEXT NOT NULL,
    PRIMARY KEY (seed, size, position)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class ReviewStoreError(RuntimeError):
    """The review database cannot be used (wrong file, another dataset, bad vote)."""


@dataclass(frozen=True)
class Vote:
    """One annotator's verdict on one field of one item; times are Unix seconds."""

    item_id: str
    field: str
    annotator: str
    verdict: str
    created_at: float
    updated_at: float


class ReviewStore:
    """Votes and samples in one SQLite file. Safe to share between threads and processes: each call opens
    its own short-lived connection, so nothing is held between clicks."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ReviewStoreError(f"{self.path}: is a directory, expected a SQLite file")
        self.path.parent.mkdir(parents=True, exist_ok=True)

        try:
            self._enable_wal()
            self._write(lambda conn: [conn.execute(stmt) for stmt in _SCHEMA.split(";") if stmt.strip()])
        except sqlite3.DatabaseError as err:
            raise ReviewStoreError(f"{self.path}: not a usable review database ({err})") from err

    # ------------------------------------------------------------------------------------------ plumbing
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in one immediate transaction, retrying while another writer holds the lock."""
        delay = 0.01
        for attempt in range(_RETRIES):
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except sqlite3.OperationalError as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                contended = "locked" in str(err) or "busy" in str(err)
                if not contended or attempt == _RETRIES - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            finally:
                conn.close()
        raise AssertionError("unreachable")

    def _enable_wal(self) -> None:
        # WAL is a property of the file (every later connection inherits it); it cannot be switched inside a
        # transaction, and switching waits for other connections, hence the retry.
        for attempt in range(_RETRIES):
            conn = self._connect()
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise ReviewStoreError(f"{self.path}: cannot switch to WAL mode (journal mode {mode!r})")
                return
            except sqlite3.OperationalError as err:
                if ("locked" not in str(err) and "busy" not in str(err)) or attempt == _RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
            finally:
                conn.close()

    def _read(self, sql: str, params: Sequence = ()) -> list[tuple]:
        conn = self._connect()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    # --------------------------------------------------------------------------------------------- votes
    def record_vote(self, item_id: str, field: str, annotator: str, verdict: str) -> None:
        """Insert or replace one verdict; committed before returning. Only a UAS field (``FIELD_PATHS``) of an item
        of a stored sample can be voted on: anything else would be counted by the report."""
        verdict = str(verdict).strip().lower()
        if verdict not in VERDICTS:
            raise ReviewStoreError(f"unknown verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
        if not annotator:
            raise ReviewStoreError("an annotator name is required to record a vote")
        if field not in FIELD_PATHS:
            raise ReviewStoreError(f"unknown field {field!r}; expected one of {', '.join(FIELD_PATHS)}")
        now = time.time()

        def vote(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM samples WHERE item_id = ? LIMIT 1", (item_id,)).fetchone() is None:
                raise ReviewStoreError(f"unknown clip {item_id!r}: not in any sample of {self.path}")
            conn.execute(
                "INSERT INTO votes (item_id, field, annotator, verdict, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (item_id, field, annotator) DO UPDATE SET "
                "verdict = excluded.verdict, updated_at = excluded.updated_at",
                (item_id, field, annotator, verdict, now, now))
        self._write(vote)

    def votes(self, annotator: str | None = None, item_id: str | None = None) -> list[Vote]:
        """All votes, optionally those of one annotator and/or one item, in a stable order."""
        where, params = [], []
        if annotator is not None:
            where.append("annotator = ?")
            params.append(annotator)
        if item_id is not None:
            where.append("item_id = ?")
            params.append(item_id)
        sql = "SELECT item_id, field, annotator, verdict, created_at, updated_at FROM votes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Vote(*row) for row in self._read(sql + " ORDER BY item_id, field, annotator", params)]

    def verdicts_for(self, item_id: str, annotator: str) -> dict[str, str]:
        """field → verdict of one annotator on one item."""
        rows = self._read("SELECT field, verdict FROM votes WHERE item_id = ? AND annotator = ?",
                          (item_id, annotator))
        return dict(rows)

    def annotators(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT annotator FROM votes ORDER BY annotator")]

    # ------------------------------------------------------------------------------------------- samples
    def bind_dataset(self, fingerprint: str) -> None:
        """Remember which dataset this database reviews; refuse another one (its item ids would not match)."""
        def bind(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT value FROM meta WHERE key = 'dataset'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('dataset', ?)", (fingerprint,))
            elif row[0] != fingerprint:
                raise ReviewStoreError(f"{self.path}: this database reviews another dataset (fingerprint "
                                       f"{row[0][:12]}, given {fingerprint[:12]}); use a new --db")
        self._write(bind)

    def sample(self, seed: int, size: int) -> list[str] | None:
        """The stored sample for (seed, size) in order, or None when none was stored yet."""
        rows = self._read("SELECT item_id FROM samples WHERE seed = ? AND size = ? ORDER BY position",
                          (seed, size))
        return [r[0] for r in rows] or None

    def save_sample(self, seed: int, size: int, item_ids: Iterable[str]) -> list[str]:
        """Store a sample unless one exists for (seed, size); return the stored one (the first writer wins, so
        annotators started at once share one order)."""
        ids = list(item_ids)

        def save(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT item_id FROM samples WHERE seed = ? AND size = ? ORDER BY position",
                                (seed, size)).fetchall()
            if rows:
                return [r[0] for r in rows]
            conn.executemany("INSERT INTO samples (seed, size, position, item_id) VALUES (?, ?, ?, ?)",
                             [(seed, size, i, item) for i, item in enumerate(ids)])
            return ids
        return self._write(save)

    def first_unanswered(self, item_ids: Sequence[str], annotator: str, fields: Sequence[str]) -> int:
        """Index of the first item where ``annotator`` has not judged every field; len(item_ids) when done."""
        done, wanted = self._judged_fields(annotator), set(fields)
        for i, item in enumerate(item_ids):
            if not wanted <= done.get(item, set()):
                return i
        return len(item_ids)

    def completed(self, item_ids: Sequence[str], annotator: str, fields: Sequence[str]) -> int:
        """How many of ``item_ids`` ``annotator`` has judged on every field."""
        done, wanted = self._judged_fields(annotator), set(fields)
        return sum(wanted <= done.get(item, set()) for item in item_ids)

    def _judged_fields(self, annotator: str) -> dict[str, set[str]]:
        done: dict[str, set[str]] = {}
        for item, field in self._read("SELECT item_id, field FROM votes WHERE annotator = ?", (annotator,)):
            done.setdefault(item, set()).add(field)
        return done
