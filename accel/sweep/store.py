"""The results store: one SQLite file, nothing to start.

Only the coordinating process writes, in batches of rows, each batch one transaction:
a sweep killed at any instant (``kill -9`` included) leaves every committed batch and
no half-written one, and started again it evaluates only the points it does not hold.
WAL mode lets ``accel pareto`` or pandas read the file while a sweep writes it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import AccelError

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    design_key TEXT NOT NULL,
    workload TEXT NOT NULL,
    workload_key TEXT NOT NULL,
    version TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT NOT NULL,
    seconds REAL NOT NULL,
    cached_layers INTEGER NOT NULL,
    created REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX IF NOT EXISTS points_design ON points (design_key);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_MARK = "accel-sweep-store"
_COLUMNS = ("key", "design_key", "workload", "workload_key", "version", "params", "result",
            "seconds", "cached_layers")  # fmt: skip


class Store:
    """A sweep's results. ``create``: make the file if it is missing (a sweep); without
    it, a missing file is an error (``pareto``, ``--export``)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise AccelError(f"--store {path}: no such file")
        if self.path.exists() and not self.path.is_file():
            raise AccelError(f"--store {path}: not a regular file")
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            self._check_ours()
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('tool', ?)", (_MARK,))
        except sqlite3.Error as err:
            raise AccelError(f"--store {path}: {err}") from None

    def _check_ours(self) -> None:
        """Refuse a file that is not a store this tool wrote: it is the user's."""
        with open(self.path, "rb") as f:
            head = f.read(16)
        if head != b"SQLite format 3\x00":
            raise AccelError(f"--store {self.path}: not an SQLite file; "
                             "give a new name or a store `accel sweep` wrote")  # fmt: skip
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                row = db.execute("SELECT value FROM meta WHERE name = 'tool'").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            row = None
        if row is None or row[0] != _MARK:
            raise AccelError(f"--store {self.path}: an SQLite file accel did not write; "
                             "give a new name")  # fmt: skip

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM points")}

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM points").fetchone()[0]

    def add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Write a batch in one transaction; a key already held is kept as it is."""
        values = [
            tuple(json.dumps(r[c], sort_keys=True) if c in ("params", "result") else r[c]
                  for c in _COLUMNS)  # fmt: skip
            for r in rows
        ]
        if not values:
            return 0
        marks = ", ".join("?" * len(_COLUMNS))
        with self._transaction():
            cur = self.db.executemany(
                f"INSERT OR IGNORE INTO points ({', '.join(_COLUMNS)}) VALUES ({marks})", values
            )
        return cur.rowcount

    def _transaction(self):
        db = self.db

        class _Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb):
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def rows(self, version: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row (of one simulator ``version``), parsed, in the order stored."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM points"
        args: tuple = ()
        if version is not None:
            query += " WHERE version = ?"
            args = (version,)
        for values in self.db.execute(query + " ORDER BY rowid", args):
            row = dict(zip(_COLUMNS, values, strict=True))
            row["params"] = json.loads(row["params"])
            row["result"] = json.loads(row["result"])
            yield row

    def set_meta(self, name: str, value: Any) -> None:
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    def meta(self, name: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])
