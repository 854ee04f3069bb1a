"""A SQLite side index of the audit log, so a search does not read the whole file.

The JSON Lines file stays the source of truth; the index only says where each entry's
line is (its byte offset and length) with the fields searched on: time, action, actor,
the persons concerned and the keyed hashes of ID numbers asked. It is brought up to
date from the file before each search (:meth:`AuditIndex.catch_up` reads only the lines
appended since), and rebuilt from scratch when it is missing, damaged or ahead of the
file — so it can always be deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (pos INTEGER PRIMARY KEY, len INTEGER NOT NULL,
    at TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_at ON entries (at);
CREATE TABLE IF NOT EXISTS subjects (person_id TEXT NOT NULL, pos INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS subjects_person ON subjects (person_id, pos);
CREATE TABLE IF NOT EXISTS asked (hash TEXT NOT NULL, pos INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS asked_hash ON asked (hash, pos);
CREATE TABLE IF NOT EXISTS indexed (file_id TEXT NOT NULL, upto INTEGER NOT NULL);
"""

#: What the log's tail holds before entries are written over it (see
#: :mod:`linkgraph.service.audit`): a line ending in one is not an entry yet.
BLANK = b" \n\0"

#: How much of the file one step of :meth:`AuditIndex.catch_up` reads.
_CHUNK = 8 * 1024 * 1024


class AuditIndex:
    """See the module docstring."""

    def __init__(self, log: Path, path: Path) -> None:
        self.log = log
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError:  # damaged: it is only an index
                self.path.unlink(missing_ok=True)
                self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # lost on a crash? rebuilt from the file
        db.executescript(_SCHEMA)
        return db

    def _file_id(self) -> str:
        """Tells this log file from another at the same path (a city replaced)."""
        st = os.stat(self.log)
        return f"{st.st_dev}:{st.st_ino}"

    def _indexed_upto(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT file_id, upto FROM indexed").fetchone()
        size = os.path.getsize(self.log)
        if row is None or row[0] != self._file_id() or row[1] > size:
            db.executescript(
                "BEGIN; DELETE FROM entries; DELETE FROM subjects; DELETE FROM asked;"
                " DELETE FROM indexed; COMMIT;"
            )
            db.execute("INSERT INTO indexed VALUES (?, 0)", (self._file_id(),))
            return 0
        return int(row[1])

    def catch_up(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Index the whole lines appended to the file since the last call (or, between
        steps, until ``stop()`` says so)."""
        with self._lock:
            db = self._open()
            with self.log.open("rb") as handle:
                while not stop():
                    upto = self._indexed_upto(db)
                    handle.seek(upto)
                    chunk = handle.read(_CHUNK)
                    end = chunk.rfind(b"\n") + 1
                    if end == 0:
                        if len(chunk) == _CHUNK:  # one line longer than a chunk
                            chunk += handle.readline()
                            end = chunk.rfind(b"\n") + 1
                        if end == 0:
                            return
                    if not self._add(db, upto, chunk[:end]):
                        return

    @staticmethod
    def _add(db: sqlite3.Connection, start: int, block: bytes) -> bool:
        """Index the entries of ``block``'s lines up to the log's blank tail (a line that
        is blank or ends in blanks: an entry being written over it). False once it met the
        tail. Another process (the API, a command) may have indexed them meanwhile: then
        nothing is added, and the caller goes on from where that one stopped."""
        entries: list[tuple[int, int, str, str, str]] = []
        subjects: list[tuple[str, int]] = []
        asked: list[tuple[str, int]] = []
        pos = start
        for line in block.split(b"\n")[:-1]:
            if not line or line[-1:] in BLANK:
                break
            here, pos = pos, pos + len(line) + 1
            try:
                entry = json.loads(line)
                row = (here, len(line), str(entry["at"]), entry.get("action") or "")
            except (ValueError, KeyError, TypeError):  # a line torn by a crash
                continue
            entries.append((*row, entry.get("actor") or ""))
            subjects.extend((str(s), here) for s in entry.get("subjects") or ())
            asked.extend((str(h), here) for h in entry.get("asked") or ())
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT upto FROM indexed").fetchone()[0] != start:
            db.execute("ROLLBACK")
            return True
        db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", entries)
        db.executemany("INSERT INTO subjects VALUES (?, ?)", subjects)
        db.executemany("INSERT INTO asked VALUES (?, ?)", asked)
        db.execute("UPDATE indexed SET upto = ?", (pos,))
        db.execute("COMMIT")
        return pos - start == len(block)

    def search(
        self,
        *,
        person_id: str | None = None,
        asked: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int]:
        """Entries matching every filter given, newest first (at most ``limit``); and the
        total. ``actor`` matches part of the actor, ``action`` its beginning."""
        self.catch_up()
        where: list[str] = ["1"]
        args: list[str | int] = []
        if person_id:
            where.append("pos IN (SELECT pos FROM subjects WHERE person_id = ?)")
            args.append(person_id)
        if asked:
            where.append("pos IN (SELECT pos FROM asked WHERE hash = ?)")
            args.append(asked)
        if actor:
            where.append("instr(actor, ?) > 0")
            args.append(actor)
        if action:
            where.append("substr(action, 1, ?) = ?")
            args.extend([len(action), action])
        if since:
            where.append("at >= ?")
            args.append(since.astimezone(dt.UTC).isoformat(timespec="microseconds"))
        condition = " AND ".join(where)
        with self._lock:
            db = self._open()
            total = db.execute(f"SELECT count(*) FROM entries WHERE {condition}", args)
            count = int(total.fetchone()[0])
            rows = db.execute(
                f"SELECT pos, len FROM entries WHERE {condition} ORDER BY pos DESC LIMIT ?",
                [*args, limit],
            ).fetchall()
        with self.log.open("rb") as handle:
            found = []
            for pos, length in rows:
                handle.seek(pos)
                found.append(json.loads(handle.read(length)))
        return found, count

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            if self._db is not None:
                self._db.close()
                self._db = None
