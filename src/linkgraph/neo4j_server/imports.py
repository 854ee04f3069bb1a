"""A bulk import that keeps the previous graph until the new one is whole.

``neo4j-admin database import full`` replaces a database's store files. Killed half
way (the tool, the Python process or the machine), it would leave a half-written
store that a plain restart serves as if it were whole. So an import is a small state
machine, recorded in ``<home>/data/linkgraph-import.json``:

1. the previous store (``data/databases/<db>``, ``data/transactions/<db>``) is moved
   aside, under ``data/aside/<db>/`` (a rename: no copy), and the phase is ``importing``;
2. the tool runs; if it fails, the half-written store is removed and the previous one
   moved back (:func:`restore`);
3. once it exits cleanly the phase is ``imported``: the data is whole, but its
   constraints and indexes are not made yet;
4. once they are online, the aside store and the record are removed (:func:`finish`).

A start finds an interrupted import by its record (:func:`recover`): one still
``importing`` is rolled back to the previous graph; with no previous graph the
record stays ``failed`` and the store refuses to answer (``Neo4jStore``) until an
import succeeds. One ``imported`` gets its constraints and indexes on first use.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from linkgraph.errors import LinkgraphError

Phase = Literal["importing", "imported", "failed"]

#: Where a database's files live under ``<home>/data``.
STORE_PARTS = ("databases", "transactions")


@dataclass(frozen=True)
class ImportState:
    database: str
    phase: Phase
    #: Where the previous store waits, or None when there was none.
    aside: str | None
    started_at: str
    #: The process running the import (an import whose process is alive is not interrupted).
    pid: int


def _record(home: Path) -> Path:
    return home / "data" / "linkgraph-import.json"


def state(home: Path) -> ImportState | None:
    """The import in progress or interrupted, if any."""
    try:
        return ImportState(**json.loads(_record(home).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def _write(home: Path, current: ImportState) -> None:
    """Record the state durably (written aside, synced, renamed into place)."""
    path = _record(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(asdict(current), handle)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)


def begin(home: Path, database: str) -> ImportState:
    """Move the database's store aside (if it has one) and record the import as begun.

    Call with the server stopped. An interrupted import found here is rolled back first,
    so the store set aside is always a whole one."""
    recover(home)
    data = home / "data"
    aside_dir = data / "aside" / database
    shutil.rmtree(aside_dir, ignore_errors=True)
    moved = False
    for part in STORE_PARTS:
        store = data / part / database
        if store.exists():
            (aside_dir / part).mkdir(parents=True, exist_ok=True)
            store.rename(aside_dir / part / database)
            moved = True
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    aside = str(aside_dir) if moved else None
    current = ImportState(database, "importing", aside, started, os.getpid())
    _write(home, current)
    return current


def imported(home: Path) -> None:
    """The tool exited cleanly: the data is whole; constraints and indexes come next."""
    current = state(home)
    if current is not None:
        _write(home, _with_phase(current, "imported"))


def finish(home: Path) -> None:
    """Constraints and indexes are online: drop the previous store and the record."""
    current = state(home)
    if current is None:
        return
    if current.aside:
        shutil.rmtree(current.aside, ignore_errors=True)
    _record(home).unlink(missing_ok=True)


def restore(home: Path) -> str:
    """Roll an unfinished import back: remove its half-written store and move the previous
    one back. Returns what was done, for the log; with no previous store the record
    stays, as ``failed``, and the store refuses to answer."""
    current = state(home)
    if current is None:
        return "no import to roll back"
    data = home / "data"
    for part in STORE_PARTS:
        shutil.rmtree(data / part / current.database, ignore_errors=True)
    if current.aside is None:
        _write(home, _with_phase(current, "failed"))
        return (
            f"the import of {current.started_at} did not finish and there was no graph"
            " before it: the database is empty until an import succeeds"
        )
    for part in STORE_PARTS:
        previous = Path(current.aside) / part / current.database
        if previous.exists():
            (data / part).mkdir(parents=True, exist_ok=True)
            previous.rename(data / part / current.database)
    shutil.rmtree(current.aside, ignore_errors=True)
    _record(home).unlink(missing_ok=True)
    return f"the import of {current.started_at} did not finish: the previous graph is back"


def recover(home: Path) -> str | None:
    """Before a start or an import: roll back an import interrupted while ``importing``
    (its process is gone). Returns what was done, or None when there was nothing to do."""
    current = state(home)
    if current is None or current.phase != "importing":
        return None
    if current.pid != os.getpid() and _alive(current.pid):
        raise ImportRunning(
            f"an import into Neo4j is running (pid {current.pid}, since {current.started_at})"
        )
    return restore(home)


class ImportRunning(LinkgraphError):
    """Another process is importing into the server's home."""


def _with_phase(current: ImportState, phase: Phase) -> ImportState:
    return ImportState(current.database, phase, current.aside, current.started_at, current.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
