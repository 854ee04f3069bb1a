"""The audit log: who asked what about whose data, when, for what purpose, and the answer.

An append-only JSON Lines file (default ``<data_dir>/api/audit.jsonl``), opened
with ``O_APPEND`` and never rewritten: the source of truth. The API writes one entry
per request, refusals included (:class:`RequestAudit`, written by ``api.main.Guard``)::

    {"seq": 17, "at": "2026-11-30T00:12:03.123456+00:00", "request_id": "9fce530000000012",
     "key_id": "a1b2c3", "actor": "payroll (a1b2c3)", "role": "benefit_system",
     "purpose": "monthly payroll", "method": "POST", "route": "/v1/recognition",
     "status": 200, "outcome": "ok", "action": "recognition.read", "subjects": ["P0000042"],
     "asked": ["5d41402abc4b2a76b9719d911017c592"], "detail": {...}}

An ID number asked is kept only as ``asked``: a keyed hash (HMAC-SHA256 with a secret
kept beside the log, ``audit.key``, created 0600 on first use), so the log can answer
"who asked about this number" without holding the number.

Durability: writer threads append entries in groups and ``fdatasync`` once per group
(group commit), so a request waits for its entry to be on disk at the cost of one
shared sync, not one per request. :meth:`AuditLog.write` blocks until the entry is
synced; :meth:`AuditLog.append_async` awaits the same, or, with ``durable=False``
(``ApiSettings.audit_reads``), only until the entry is in the file.

Searching reads a SQLite side index (:mod:`linkgraph.service.auditindex`), brought up
to date from the file before each search.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import queue
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkgraph.service.auditindex import AuditIndex


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
        self.subjects.extend(entry.subjects)
        self.detail.update(entry.detail)


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
            "subjects": list(self.subjects),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class _LoopWaiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    durable: bool = True

    def __call__(self, error: BaseException | None) -> None:  # pragma: no cover - not called
        raise NotImplementedError


_Waiter = Callable[[BaseException | None], None]


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class AuditLog:
    """Append-only, fsync'd audit trail with group commit (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._end_torn_line()
        self._seq = self._last_seq()
        self._mac = hmac.new(_secret(path.with_name("audit.key")), digestmod=hashlib.sha256)
        self.index = AuditIndex(path, path.with_name(path.stem + ".index.sqlite"))
        self._queue: queue.SimpleQueue[tuple[bytes, _Waiter] | None] = queue.SimpleQueue()
        self._seq_lock = threading.Lock()
        self._take_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"audit-writer-{i}", daemon=True)
            for i in range(2)
        ]
        self._closed = False
        for thread in self._threads:
            thread.start()

    def _end_torn_line(self) -> None:
        """A crash may have torn the last line (never acknowledged): end it, so the next
        entry starts a line of its own and readers skip only the torn one."""
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")

    def pseudonym(self, id_number: str) -> str:
        """The keyed hash the log keeps for an ID number asked (the same for its spellings
        that differ in case or surrounding spaces)."""
        mac = self._mac.copy()
        mac.update(id_number.strip().upper().encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:32]

    def pseudonyms(self, id_numbers: Iterable[str]) -> list[str]:
        return [self.pseudonym(n) for n in id_numbers]

    def _last_seq(self) -> int:
        size = os.path.getsize(self.path)
        if size == 0:
            return 0
        with self.path.open("rb") as handle:
            handle.seek(max(0, size - 65536))
            lines = handle.read().splitlines()
        for line in reversed(lines):
            try:
                return int(json.loads(line)["seq"])
            except (ValueError, KeyError):
                continue
        return 0

    # ----------------------------------------------------------------- writing

    def _run(self) -> None:
        """One of two writers: take what is queued and append it (in queue order, under the
        take lock), then sync outside the lock — so one group's sync overlaps the next
        group's append, and a request waits about one sync, not one and a half."""
        while True:
            stop = False
            with self._take_lock:
                item = self._queue.get()
                if item is None:
                    self._queue.put(None)  # let the other writer stop too
                    return
                group = [item]
                while True:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)
                        stop = True
                        break
                    group.append(more)
                error = self._append(group)
            self._sync(group, error)
            if stop:
                return

    def _append(self, group: list[tuple[bytes, _Waiter]]) -> BaseException | None:
        try:
            view = memoryview(b"".join(line for line, _ in group))
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            return exc
        return None

    def _sync(self, group: list[tuple[bytes, _Waiter]], error: BaseException | None) -> None:
        """Wake the waiters that asked only for the write, fdatasync, then wake the rest.
        The writers mostly sit in write and fdatasync, which release the GIL."""
        if error is None:
            self._wake([w for _, w in group if isinstance(w, _LoopWaiter) and not w.durable], None)
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                error = exc
        rest = [w for _, w in group if not (isinstance(w, _LoopWaiter) and not w.durable)]
        if error is not None:
            rest = [w for _, w in group]
        self._wake(rest, error)

    @staticmethod
    def _wake(waiters: list[_Waiter], error: BaseException | None) -> None:
        """Settle waiters; those on an event loop with one callback per loop (one wake-up)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for done in waiters:
            if isinstance(done, _LoopWaiter):
                by_loop.setdefault(done.loop, []).append(done.future)
            else:
                done(error)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
                loop.call_soon_threadsafe(_settle, futures, error)

    def _line_unlocked(self, fields: dict[str, Any]) -> bytes:
        """The entry as one JSON line, numbered and stamped now (caller holds the seq lock)."""
        self._seq += 1
        at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        # ASCII (non-ASCII escaped): any text a caller sends, lone surrogates included,
        # is written as valid JSON and UTF-8.
        return (json.dumps({"seq": self._seq, "at": at, **fields}, default=str) + "\n").encode()

    def _submit(self, fields: dict[str, Any], done: _Waiter) -> None:
        if self._closed:
            raise RuntimeError("audit log is closed")
        with self._seq_lock:  # numbered in the order queued, so the file stays in seq order
            self._queue.put((self._line_unlocked(fields), done))

    def write(self, entry: AuditEntry) -> None:
        """Append ``entry`` and return once it is on disk (raises OSError if it could not be).

        An entry made in an HTTP request is folded into that request's entry instead,
        which the API writes (durably) before the answer leaves.
        """
        if entry.request is not None:
            entry.request.add(entry)
            return
        future: Future[None] = Future()

        def done(error: BaseException | None) -> None:
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        self._submit(entry.fields(), done)
        future.result()

    async def write_async(self, entry: AuditEntry, *, durable: bool = True) -> None:
        """As :meth:`write`, awaited on the event loop instead of blocking a thread."""
        if entry.request is not None:
            entry.request.add(entry)
            return
        await self.append_async(entry.fields(), durable=durable)

    async def append_async(self, fields: dict[str, Any], *, durable: bool = True) -> None:
        """Append one entry of ``fields``; return once it is synced, or with
        ``durable=False`` once it is in the file (it survives a crash of this process;
        the group's sync follows within milliseconds)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._submit(fields, _LoopWaiter(loop, future, durable))
        await future

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
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


def _secret(path: Path) -> bytes:
    """The audit log's hashing key: read, or created 0600 on first use (written aside and
    linked into place, so a process starting alongside never reads half a key)."""
    if not path.exists():
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
        aside.unlink()
    return path.read_bytes()
