"""The ledger of record: every input that changes a person's standing, in the order received.

One append-only JSON Lines file, ``<data_dir>/ledger/journal.jsonl``. Each line is
one entry: its ``kind`` (``events``, ``roster``, ``visit``, ``stop``, ``flag``,
``tipoff``, ``review``, ``city``), who sent it (``sender``, ``by``), when it was received
(``received_at``), its ``seq`` and what it says. The city's own feeds stay the
Parquet files they arrive as; a run records them with one ``city`` entry.

Why a journal file and not a database: the writes that reach it one by one (a
batch, a visit, a decision) are small and must be durable before they are
acknowledged, from the API and the command line alike, with no server to run.
An ``O_APPEND`` write under an exclusive ``flock``, then ``fsync``, gives that: a
reader sees whole lines in one order, and a crash can at worst tear the last
line, which was never acknowledged and is skipped on reading. ``seq`` is the
byte offset the line starts at, so it orders entries across processes without
a counter to keep.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Entry = dict[str, Any]

#: The kinds of entry, each read by :func:`linkgraph.casework.ledger_inputs`.
KINDS = ("events", "roster", "visit", "stop", "flag", "tipoff", "review", "city")


def body_digest(rows: Any) -> str:
    """The sha256 of a request's rows: a batch id re-sent with other rows is refused.

    Rows not yet checked may hold text that is not Unicode (a lone surrogate): it is
    digested as sent (``surrogatepass``), and refused later as that row's error."""
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def journal_path(data_dir: Path) -> Path:
    return data_dir / "ledger" / "journal.jsonl"


class Journal:
    """The ledger file: :meth:`append` durably, :meth:`read` in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._path = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, data_dir: Path) -> Journal:
        return cls(journal_path(data_dir))

    def append(self, kind: str, sender: str, by: str, **body: Any) -> Entry:
        """Append one entry and ``fsync`` it; returns it with its ``seq`` and ``received_at``."""
        if kind not in KINDS:
            raise ValueError(f"ledger entry kind {kind!r}: allowed {', '.join(KINDS)}")
        entry: Entry = {
            "kind": kind,
            "sender": sender,
            "by": by,
            "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            **body,
        }
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # the API and the command line both append
                entry["seq"] = os.fstat(fd).st_size
                line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)  # closing releases the lock
        return entry

    def read(self, after: int = -1) -> list[Entry]:
        """Every whole entry with ``seq`` > ``after``, in order."""
        return list(self._entries(after))

    def size(self) -> int:
        """Bytes in the journal: grows with every append (cheap to poll: one system call)."""
        try:
            return os.stat(self._path).st_size
        except FileNotFoundError:
            return 0

    def _entries(self, after: int) -> Iterator[Entry]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            if after >= 0:
                handle.seek(after)
                handle.readline()  # the entry at ``after`` itself
            for raw in handle:
                if not raw.endswith(b"\n"):
                    return  # a torn last line: never acknowledged
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                yield entry
