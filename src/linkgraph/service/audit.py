"""The audit log: who read or changed which person's data, when, and for what purpose.

An append-only JSON Lines file (default ``<data_dir>/api/audit.jsonl``), opened
with ``O_APPEND`` and never rewritten. Each entry::

    {"seq": 17, "at": "2026-11-30T00:12:03.123456+00:00", "actor": "payroll (a1b2c3, ...)",
     "role": "benefit_system", "action": "recognition.read", "purpose": "monthly payroll",
     "subjects": ["P0000042"], "detail": {...}}

Durability: a writer thread appends entries in groups and ``fdatasync``s once per
group (group commit), so a request waits for its entry to be on disk at the cost
of one shared sync — a few milliseconds — not one per request. :meth:`AuditLog.write`
blocks until the entry is synced; :meth:`AuditLog.write_async` awaits the same, or,
with ``durable=False`` (recognition reads, see ``ApiSettings.audit_reads``), only
until the entry is in the file, the group's sync following at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    role: str
    action: str
    purpose: str
    subjects: tuple[str, ...]
    detail: dict[str, Any]


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
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._seq = self._last_seq()
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

    def _line_unlocked(self, entry: AuditEntry) -> bytes:
        """The entry as one JSON line, numbered and stamped now (caller holds the seq lock)."""
        self._seq += 1
        seq = self._seq
        text = json.dumps(
            {
                "seq": seq,
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "actor": entry.actor,
                "role": entry.role,
                "action": entry.action,
                "purpose": entry.purpose,
                "subjects": list(entry.subjects),
                "detail": entry.detail,
            },
            ensure_ascii=False,
            default=str,
        )
        return (text + "\n").encode("utf-8")

    def _submit(self, entry: AuditEntry, done: _Waiter) -> None:
        if self._closed:
            raise RuntimeError("audit log is closed")
        with self._seq_lock:  # numbered in the order queued, so the file stays in seq order
            self._queue.put((self._line_unlocked(entry), done))

    def write(self, entry: AuditEntry) -> None:
        """Append ``entry`` and return once it is on disk (raises OSError if it could not be)."""
        future: Future[None] = Future()

        def done(error: BaseException | None) -> None:
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        self._submit(entry, done)
        future.result()

    async def write_async(self, entry: AuditEntry, *, durable: bool = True) -> None:
        """As :meth:`write`, awaited on the event loop instead of blocking a thread.

        ``durable=False`` returns once the entry is written to the file (it survives a
        crash of this process; the shared fsync follows within milliseconds) rather
        than after the fsync.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._submit(entry, _LoopWaiter(loop, future, durable))
        await future

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        os.close(self._fd)

    # ----------------------------------------------------------------- reading

    def entries(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def search(
        self,
        *,
        person_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int]:
        """Entries matching every filter given, newest first (at most ``limit``); and the total."""
        found: list[dict[str, Any]] = []
        total = 0
        since_text = since.astimezone(dt.UTC).isoformat() if since else None
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if person_id and person_id not in line:
                    continue
                if not line.strip():
                    continue
                entry = json.loads(line)
                if person_id and person_id not in entry["subjects"]:
                    continue
                if actor and actor not in entry["actor"]:
                    continue
                if action and not entry["action"].startswith(action):
                    continue
                if since_text and entry["at"] < since_text:
                    continue
                total += 1
                found.append(entry)
                if len(found) > limit:
                    found.pop(0)
        found.reverse()
        return found, total
