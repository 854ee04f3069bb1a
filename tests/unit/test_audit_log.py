"""The audit log's file and its search index: the file is the truth, the index follows it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from linkgraph.service.audit import AuditEntry, AuditLog


def _entry(action: str, *subjects: str) -> AuditEntry:
    return AuditEntry("li (k1)", "investigator", action, "check", subjects, {})


def test_search_survives_a_torn_line_and_a_lost_or_stale_index(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.write(_entry("person.read", "P1"))
    log.write(_entry("person.read", "P2"))
    assert log.search(person_id="P1")[1] == 1  # builds the index
    log.close()
    with path.open("ab") as handle:  # a crash tore the last line
        handle.write(b'{"seq": 3, "at": "2026-')
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
    log.close()


def test_an_id_number_is_hashed_with_the_log_s_own_key(tmp_path: Path) -> None:
    one, other = AuditLog(tmp_path / "a" / "audit.jsonl"), AuditLog(tmp_path / "b" / "audit.jsonl")
    number = "11010519491231002X"
    assert one.pseudonym(number) == one.pseudonym(f" {number.lower()} ")
    assert one.pseudonym(number) != other.pseudonym(number)
    assert number not in one.pseudonym(number)
    one.close()
    other.close()
