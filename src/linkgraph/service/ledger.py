"""The batch ledger: a retried batch (same batch id) is answered from here and adds nothing.

One JSON line per acknowledged batch — its id, kind, who sent it, the sha256 of
its rows and the answer given — appended and ``fsync``'d after the batch's store
transaction committed and before the answer is sent. A batch id re-sent with the
same rows gets the same answer (``replayed: true``); with different rows, a 409.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any


def body_digest(rows: Any) -> str:
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str], dict[str, Any]] = {}
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            entry = json.loads(line)
                        except ValueError:  # a torn last line: its batch was never acknowledged
                            continue
                        self._seen[(entry["kind"], entry["sender"], entry["batch_id"])] = entry

    def get(self, kind: str, sender: str, batch_id: str) -> dict[str, Any] | None:
        return self._seen.get((kind, sender, batch_id))

    def append(
        self, kind: str, sender: str, batch_id: str, digest: str, answer: dict[str, Any]
    ) -> None:
        entry = {
            "kind": kind,
            "sender": sender,
            "batch_id": batch_id,
            "digest": digest,
            "answer": answer,
        }
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._seen[(kind, sender, batch_id)] = entry


class Spool:
    """Append-only JSON Lines, ``fsync``'d: the inbox of accepted writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
