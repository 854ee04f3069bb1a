"""The audit log: who asked what about whose data, when, for what purpose, and the answer.

An append-only JSON Lines file (default ``<data_dir>/api/audit.jsonl``): the source of
truth, whose entries are never rewritten. The API writes one entry per request, refusals
included (:class:`RequestAudit`, written by ``api.main.Guard``)::

    {"seq": 17, "at": "2026-11-30T00:12:03.123456+00:00", "request_id": "9fce530000000012",
     "key_id": "a1b2c3", "actor": "payroll (a1b2c3)", "role": "benefit_system",
     "purpose": "monthly payroll", "method": "POST", "route": "/v1/recognition",
     "status": 200, "outcome": "ok", "action": "recognition.read", "subjects": ["P0000042"],
     "asked": ["5d41402abc4b2a76b9719d911017c592"], "detail": {...}}

An ID number asked is kept only as ``asked``: a keyed hash (HMAC-SHA256 with a secret
kept beside the log, ``audit.key``, created 0600 on first use), so the log can answer
"who asked about this number" without holding the number.

Durability: the API's entries are written in groups and ``fdatasync``'d once per
group (group commit, see :class:`AuditLog`), so a request waits for its entry to be on
disk at the cost of one shared sync, not one per request: a sync costs the kernel more
than a recognition costs Python. Entries are written over a blank tail (spaces, then a
newline: a blank line to readers) that the file keeps ahead of them, as a database keeps
its write-ahead log's segments: a sync then writes the entries' blocks only, not the
file's size and block map, which would cost a journal commit (a third of the sync). Every
process writing the log (the API, the command line) finds the end and numbers its
entries under the file's lock. :meth:`AuditLog.write`
blocks until the entry is synced; :meth:`AuditLog.append_async` awaits the same, or,
with ``durable=False`` (``ApiSettings.audit_reads``), only until the entry is in the file.

Searching reads a SQLite side index (:mod:`linkgraph.service.auditindex`), brought up
to date from the file before each search.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from linkgraph.masking import secret_key
from linkgraph.service.auditindex import BLANK, AuditIndex


@dataclass(slots=True)
class RequestAudit:
    """What one HTTP request did, gathered while it runs; the API writes it as one entry.

    A use case's entry made for this request (:meth:`AuditLog.write`) is folded in here,
    so each request has exactly one entry, whether it was answered or refused.
    """

    request_id: str
    action: str | None = None
    actor: str | None = None
    role: str | None = None
    purpose: str | None = None
    subjects: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None

    def add(self, entry: AuditEntry) -> None:
        self.action = self.action or entry.action
        self.actor, self.role, self.purpose = entry.actor, entry.role, entry.purpose
        self.subjects = once_each(self.subjects, entry.subjects)
        self.detail.update(entry.detail)

    def note_asked(self, pseudonyms: Iterable[str]) -> None:
        """The ID numbers asked, as keyed hashes, each once (a payroll may repeat one)."""
        self.asked = once_each(self.asked, pseudonyms)


def once_each(kept: list[str], more: Iterable[str]) -> list[str]:
    """``kept`` and then ``more``, each value once, in the order first seen: a bulk
    request naming one person 10,000 times is one subject, not a 500 KB line."""
    return list(dict.fromkeys([*kept, *more]))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    role: str
    action: str
    purpose: str
    subjects: tuple[str, ...]
    detail: dict[str, Any]
    #: The HTTP request this entry was made in: folded into that request's one entry.
    request: RequestAudit | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "purpose": self.purpose,
            "subjects": once_each([], self.subjects),
            "detail": self.detail,
        }


#: Seconds without a new entry after which the search index is brought up to date.
IDLE_SECONDS = 1.0

#: Entries the event loop has written and that wait for a sync: the futures of their
#: requests. (Those that asked only for the write are settled at once.)
_Batch = list[asyncio.Future[None]]


def _settle(futures: _Batch, error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


#: The longest a written entry waits for the entries of requests still in progress
#: before its sync starts anyway (``commit_delay``, as in PostgreSQL's group commit).
COMMIT_DELAY_SECONDS = 0.001


class AuditLog:
    """Append-only, fsync'd audit trail with group commit (see the module docstring).

    On the API's event loop, the entries made in one turn of the loop are written
    together (one ``write``) at its end. A sync starts once every request in
    progress has written its entry (or :data:`COMMIT_DELAY_SECONDS` after the first
    waiting entry), and one ``fdatasync`` covers every entry written so far. When
    every request in progress waits for that sync, the loop has nothing else to do
    and syncs itself, sparing two thread hops and their turns of the GIL (at
    concurrency 8 here: 210 instead of 290 us of CPU per answer); otherwise one
    syncing thread syncs while the loop serves the requests still being worked on,
    and entries written during a sync wait for the next one. So a request waits for
    one sync or two, whatever the load, and the thread touches the loop once per sync.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with _locked(self._fd):
            self._end = self._find_end()
            self._seq = self._last_seq()
        self._size = os.fstat(self._fd).st_size
        self._mac = hmac.new(secret_key(path.with_name("audit.key")), digestmod=hashlib.sha256)
        self.index = AuditIndex(path, path.with_name(path.stem + ".index.sqlite"))
        #: Requests in progress (see :meth:`request_started`), and those of them whose
        #: entry is not written yet: a sync waits for them (a little).
        self.requests_in_progress = 0
        self.entries_to_come = 0
        self._delayed_sync: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()  # numbers and writes lines: the file stays in seq order
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None], bool]] = []
        self._unsynced: _Batch = []
        self._syncing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._to_sync: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._syncer = threading.Thread(target=self._sync_forever, name="audit-sync", daemon=True)
        self._syncer.start()
        self._closed = False
        self._last_flush = time.monotonic()
        self._stopping = threading.Event()
        self._indexer = threading.Thread(
            target=self._index_when_idle, name="audit-index", daemon=True
        )
        self._indexer.start()

    def _find_end(self) -> int:
        """Where the next entry goes: after the last line, before the blank tail. A crash
        may have torn that line (never acknowledged): it is ended, so the next entry
        starts a line of its own and readers skip only the torn one."""
        size = os.fstat(self._fd).st_size
        at = size
        while at > 0:
            block = os.pread(self._fd, min(at, 65536), max(0, at - 65536))
            kept = len(block.rstrip(BLANK))
            if kept:
                at = at - len(block) + kept
                break
            at -= len(block)
        if at == 0:
            return 0
        if os.pread(self._fd, 1, at) != b"\n":
            os.pwrite(self._fd, b"\n", at)
        return at + 1

    def pseudonym(self, id_number: str) -> str:
        """The keyed hash the log keeps for an ID number asked (the same for its spellings
        that differ in case or surrounding spaces)."""
        mac = self._mac.copy()
        mac.update(id_number.strip().upper().encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:32]

    def pseudonyms(self, id_numbers: Iterable[str]) -> list[str]:
        return [self.pseudonym(n) for n in id_numbers]

    def _last_seq(self) -> int:
        if self._end == 0:
            return 0
        lines = os.pread(self._fd, min(self._end, 65536), max(0, self._end - 65536)).splitlines()
        for line in reversed(lines):
            try:
                return int(json.loads(line)["seq"])
            except (ValueError, KeyError):
                continue
        return 0

    # ----------------------------------------------------------------- writing

    def _append(self, entries: Iterable[dict[str, Any]]) -> None:
        """Write entries as JSON lines at the end, numbered and stamped now. Text that is
        not valid Unicode (a lone surrogate a caller sent) is written escaped, so every
        line is valid JSON and UTF-8. Under the file's lock: another process (the command
        line) may write to the same log; if it did, the end and the numbering move on."""
        with self._lock, _locked(self._fd):
            if os.pread(self._fd, 1, self._end).strip(BLANK):
                self._end = self._find_end()
                self._seq = self._last_seq()
            at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
            out = []
            for fields in entries:
                self._seq += 1
                entry = {"seq": self._seq, "at": at, **fields}
                try:
                    out.append(orjson.dumps(entry, default=str))
                except TypeError:  # orjson refuses lone surrogates; the standard library escapes
                    out.append(json.dumps(entry, default=str).encode())
            out.append(b"")
            data = b"\n".join(out)
            end = self._end + len(data)
            if end >= self._size:
                self._size = os.fstat(self._fd).st_size
            if end >= self._size:  # a new blank tail, synced with these entries
                _write_at(self._fd, data + TAIL, self._end)
                self._size = end + len(TAIL)
            else:
                _write_at(self._fd, data, self._end)
            self._end = end

    def write(self, entry: AuditEntry) -> None:
        """Append ``entry`` and return once it is on disk (raises OSError if it could not be).

        An entry made in an HTTP request is folded into that request's entry instead,
        which the API writes (durably) before the answer leaves.
        """
        if entry.request is not None:
            entry.request.add(entry)
            return
        if self._closed:
            raise RuntimeError("audit log is closed")
        self._append([entry.fields()])
        os.fdatasync(self._fd)

    async def write_async(self, entry: AuditEntry, *, durable: bool = True) -> None:
        """As :meth:`write`, awaited on the event loop instead of blocking a thread."""
        if entry.request is not None:
            entry.request.add(entry)
            return
        await self.append_async(entry.fields(), durable=durable)

    def request_started(self) -> None:
        """An API request began: its entry is to come (the API calls this on the loop)."""
        self.requests_in_progress += 1
        self.entries_to_come += 1

    def request_ended(self, *, appended: bool) -> None:
        """An API request ended, having appended its entry or not (a client gone)."""
        self.requests_in_progress -= 1
        if not appended:
            self.entries_to_come -= 1
            self._sync_when_due()

    async def append_async(
        self, fields: dict[str, Any], *, durable: bool = True, request: bool = False
    ) -> None:
        """Append one entry of ``fields``; return once it is synced, or with
        ``durable=False`` once it is in the file (it survives a crash of this process;
        the sync follows within milliseconds). ``request``: the entry of an API
        request counted by :meth:`request_started`."""
        if self._closed:
            raise RuntimeError("audit log is closed")
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # after the other callbacks of this turn
        self._pending.append((fields, future, durable))
        if request:
            self.entries_to_come -= 1
        await future

    def _flush(self) -> None:
        """Write the entries made in this turn of the loop; sync when due (see the class)."""
        pending, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        try:
            self._append(fields for fields, _, _ in pending)
        except OSError as exc:
            _settle([future for _, future, _ in pending], exc)
            return
        _settle([future for _, future, durable in pending if not durable], None)
        self._unsynced.extend(future for _, future, durable in pending if durable)
        self._sync_when_due()

    def _sync_when_due(self) -> None:
        """Start the sync of the written entries now if no other request's entry is to
        come (or none is written), else at the latest after the commit delay."""
        if self._syncing or not self._unsynced:
            return
        if self._entries_being_made():
            if self._delayed_sync is None:
                assert self._loop is not None
                self._delayed_sync = self._loop.call_later(COMMIT_DELAY_SECONDS, self._sync)
            return
        self._sync()

    def _entries_being_made(self) -> bool:
        """Some request in progress has not written its entry yet (or wrote it this turn)."""
        return self.entries_to_come > 0 or bool(self._pending)

    def _sync(self) -> None:
        if self._delayed_sync is not None:
            self._delayed_sync.cancel()
            self._delayed_sync = None
        if self._syncing or not self._unsynced:
            return
        batch, self._unsynced = self._unsynced, []
        if not self._entries_being_made():  # every request in progress waits for this sync
            _settle(batch, _fdatasync(self._fd))
        else:
            self._syncing = True
            self._to_sync.put(batch)

    def _sync_forever(self) -> None:
        """The syncing thread: sync for a batch, then hand it back to its loop."""
        while (batch := self._to_sync.get()) is not None:
            error = _fdatasync(self._fd)
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                self._loop.call_soon_threadsafe(self._synced, batch, error)

    def _synced(self, batch: _Batch, error: BaseException | None) -> None:
        """On the loop: settle a synced batch; sync what was written meanwhile when due."""
        _settle(batch, error)
        self._syncing = False
        self._sync_when_due()

    def _index_when_idle(self) -> None:
        """Bring the search index up to date once no entry came for a second (and stop as
        soon as one comes), so a search after busy hours does not wait for it."""

        def busy() -> bool:
            return self._stopping.is_set() or time.monotonic() - self._last_flush < IDLE_SECONDS

        while not self._stopping.wait(IDLE_SECONDS):
            if not busy():
                with contextlib.suppress(Exception):  # the index is only derived
                    self.index.catch_up(stop=busy)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._indexer.join(timeout=30)
        self._to_sync.put(None)
        self._syncer.join(timeout=10)
        os.close(self._fd)
        self.index.close()

    # ----------------------------------------------------------------- reading

    def entries(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    with contextlib.suppress(ValueError):  # a line torn by a crash
                        yield json.loads(line)

    def search(
        self,
        *,
        person_id: str | None = None,
        id_number: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int]:
        """Entries matching every filter given, newest first (at most ``limit``); and the
        total. ``id_number`` finds the entries that asked about it (by its keyed hash)."""
        return self.index.search(
            person_id=person_id,
            asked=self.pseudonym(id_number) if id_number else None,
            actor=actor,
            action=action,
            since=since,
            limit=limit,
        )


#: The blank tail written after the last entry whenever the file runs out of it: entries
#: are then written over blanks already on disk, so the sync that makes one durable
#: writes no file size or block map (a journal commit: about a third of a sync's time).
TAIL = b" " * (1024 * 1024 - 1) + b"\n"


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """The log file's lock, shared with every process writing to it."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _fdatasync(fd: int) -> OSError | None:
    try:
        os.fdatasync(fd)
    except OSError as exc:
        return exc
    return None


def query_subjects(name: str, params: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The persons a library query's answer is about: its audit entry's subjects (the API's
    and the command line's)."""
    subjects: set[str] = set()
    for row in rows:
        if isinstance(row.get("person_id"), str):
            subjects.add(row["person_id"])
        for pid in row.get("person_ids") or ():
            subjects.add(pid)
    if name == "person_360":
        subjects.add(str(params["person_id"]))
    return sorted(subjects)
