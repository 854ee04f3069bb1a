"""The audit log's file and its search index: the file is the truth, the index follows it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pytest

from linkgraph.service import audit
from linkgraph.service.audit import AuditEntry, AuditLog
from linkgraph.service.auditindex import AuditIndex


def _entry(action: str, *subjects: str) -> AuditEntry:
    return AuditEntry("li (k1)", "investigator", action, "check", subjects, {})


@pytest.mark.parametrize("tail", [True, False], ids=["over the blank tail", "appended"])
def test_search_survives_a_torn_line_and_a_lost_or_stale_index(tmp_path: Path, tail: bool) -> None:
    """A crash tears the line being written: where entries are written over the file's
    blank tail, and at the end of a log written before it had one."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.write(_entry("person.read", "P1"))
    log.write(_entry("person.read", "P2"))
    assert log.search(person_id="P1")[1] == 1  # builds the index
    log.close()
    written = path.read_bytes().rstrip(b" \n") + b"\n"
    torn = b'{"seq": 3, "at": "2026-'
    if tail:  # a crash tore the entry being written over the blanks
        with path.open("r+b") as handle:
            handle.seek(len(written))
            handle.write(torn)
    else:
        path.write_bytes(written + torn)
    log = AuditLog(path)
    log.write(_entry("flag.read", "P1"))
    found, total = log.search(person_id="P1")
    assert total == 2 and [e["action"] for e in found] == ["flag.read", "person.read"]
    assert [e["seq"] for e in found] == [3, 1]
    log.close()
    log.index.path.unlink()  # the index is only derived: a lost one is rebuilt
    log = AuditLog(path)
    assert log.search(action="flag")[1] == 1
    assert log.search(since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), limit=1)[1] == 3
    assert [e["seq"] for e in log.entries()] == [1, 2, 3]
    log.close()


def test_entries_are_written_over_a_blank_tail_and_a_search_finds_each(tmp_path: Path) -> None:
    """The sync that makes an entry durable writes no file size when the entry goes over
    blanks already on disk; a search in between must not skip the blanks entries go to."""
    log = AuditLog(tmp_path / "audit.jsonl")
    log.write(_entry("person.read", "P1"))
    size = os.path.getsize(log.path)
    assert log.search(person_id="P1")[1] == 1
    for n in range(2, 50):
        log.write(_entry("person.read", f"P{n}"))
        assert log.search(person_id=f"P{n}")[1] == 1
    assert os.path.getsize(log.path) == size
    log.close()
    assert [e["subjects"] for e in log.entries()] == [[f"P{n}"] for n in range(1, 50)]


def test_the_command_line_and_the_api_writing_one_log_keep_one_sequence(
    tmp_path: Path,
) -> None:
    """The API's log stays open while a command (``linkgraph asked``, a query) writes to
    the same file: neither overwrites the other's entries, and no number is used twice."""
    path = tmp_path / "audit.jsonl"
    api, command = AuditLog(path), AuditLog(path)
    api.write(_entry("person.read", "P1"))
    command.write(_entry("query.person_360", "P2"))
    asyncio.run(api.append_async(fields={"action": "recognition.read", "subjects": ["P3"]}))
    command.write(_entry("query.person_360", "P4"))
    api.close()
    command.close()
    entries = list(AuditLog(path).entries())
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert [e["subjects"] for e in entries] == [["P1"], ["P2"], ["P3"], ["P4"]]


def test_an_id_number_is_hashed_with_the_log_s_own_key(tmp_path: Path) -> None:
    one, other = AuditLog(tmp_path / "a" / "audit.jsonl"), AuditLog(tmp_path / "b" / "audit.jsonl")
    number = "11010519491231002X"
    assert one.pseudonym(number) == one.pseudonym(f" {number.lower()} ")
    assert one.pseudonym(number) != other.pseudonym(number)
    assert number not in one.pseudonym(number)
    one.close()
    other.close()


def test_concurrent_requests_share_one_sync_and_none_is_answered_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight requests in progress write their entries in different turns of the event
    loop: one fdatasync covers them all (group commit), and each request goes on only
    once its own entry is covered by a sync."""
    log = AuditLog(tmp_path / "audit.jsonl")
    synced: list[bytes] = []
    real_sync = audit._fdatasync

    def counting_sync(fd: int) -> OSError | None:
        error = real_sync(fd)
        synced.append(os.pread(fd, os.fstat(fd).st_size, 0))
        return error

    monkeypatch.setattr(audit, "_fdatasync", counting_sync)

    async def request(turns: int) -> None:
        for _ in range(turns):  # work before the entry: the others' entries come meanwhile
            await asyncio.sleep(0)
        await log.append_async({"action": "recognition.read", "turns": turns}, request=True)
        assert synced and f'"turns":{turns}'.encode() in synced[-1]
        log.request_ended(appended=True)

    async def main() -> None:
        for _ in range(8):
            log.request_started()
        await asyncio.gather(*(request(turns) for turns in range(8)))

    asyncio.run(main())
    log.close()
    assert len(synced) == 1
    assert sorted(e["turns"] for e in log.entries()) == list(range(8))


def test_text_that_is_not_valid_unicode_is_written_escaped(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    asyncio.run(log.append_async({"action": "api.submit_events", "detail": "ab\ud800cd 张"}))
    log.close()
    line = log.path.read_bytes().decode("utf-8")  # valid UTF-8
    assert json.loads(line)["detail"] == "ab\ud800cd 张"


def test_two_processes_catching_up_the_index_at_once_index_each_entry_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's idle indexer and a command's search share the index: when the other one
    indexes the same lines between this one's look at the index and its insert, nothing
    is indexed twice."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for n in range(3):
        log.write(_entry("person.read", f"P{n}"))
    log.close()
    mine, other = (AuditIndex(path, log.index.path) for _ in range(2))
    add = AuditIndex._add

    def raced(db: sqlite3.Connection, start: int, block: bytes) -> bool:
        other.catch_up()
        return add(db, start, block)

    monkeypatch.setattr(mine, "_add", raced)
    mine.catch_up()
    rows = sqlite3.connect(log.index.path).execute("SELECT count(*) FROM subjects").fetchone()
    assert rows[0] == 3
    assert mine.search(person_id="P1")[1] == 1
    mine.close()
    other.close()
