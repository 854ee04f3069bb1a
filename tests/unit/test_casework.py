"""People's inputs in the ledger, read as the core's inputs: one reading for the run and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from linkgraph.casework import apply_flag_moves, carry_flags, ledger_inputs
from linkgraph.flags import FLAG, flags_from_table
from linkgraph.ledger import Journal


def _entry(kind: str, seq: int, **body: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "seq": seq,
        "sender": "k",
        "by": "clerk",
        "received_at": f"2026-12-0{seq}T08:00:00+00:00",
        **body,
    }


STOP = _entry(
    "stop",
    1,
    flag_id="STOP-1",
    person_id="P1",
    enrollment_ids=["E1", "E2"],
    amount_at_risk=380,
    requested_by="family",
    reason="passed away",
    on="2026-12-01",
)


def test_a_stop_request_holds_until_a_human_decides_and_the_last_decision_counts() -> None:
    pending = ledger_inputs([STOP])
    assert pending.stop_requests.column("confirmed").to_pylist() == [None, None]
    assert pending.stop_flags.column("kind").to_pylist() == ["stop_request"]
    confirmed = ledger_inputs(
        [STOP, _entry("flag", 2, flag_id="STOP-1", to_status="confirmed", why="seen")]
    )
    assert confirmed.stop_requests.column("confirmed").to_pylist() == [True, True]
    assert confirmed.stop_requests.column("confirmed_on").to_pylist() == [dt.date(2026, 12, 2)] * 2
    dismissed = ledger_inputs(
        [STOP, _entry("flag", 2, flag_id="STOP-1", to_status="dismissed", why="alive")]
    )
    assert dismissed.stop_requests.column("confirmed").to_pylist() == [False, False]


def test_a_stop_request_sent_twice_is_one_request() -> None:
    inputs = ledger_inputs([STOP, {**STOP, "seq": 2}])
    assert inputs.stop_flags.column("flag_id").to_pylist() == ["STOP-1"]
    assert inputs.stop_requests.column("enrollment_id").to_pylist() == ["E1", "E2"]


def test_flag_decisions_replay_in_order_and_a_move_the_workflow_refuses_is_skipped() -> None:
    flags = carry_flags(FLAG.empty_table(), None, ledger_inputs([STOP]).stop_flags)
    moves = ledger_inputs(
        [
            _entry("flag", 2, flag_id="STOP-1", to_status="confirmed", why="seen"),
            _entry("flag", 3, flag_id="STOP-1", to_status="recovered", why="paid", amount=380),
            _entry("flag", 4, flag_id="STOP-1", to_status="open", why="no"),  # after recovered
            _entry("flag", 5, flag_id="GONE", to_status="confirmed", why="x"),
        ]
    ).flag_moves
    out, skipped = apply_flag_moves(flags, moves)
    (row,) = out.to_pylist()
    assert (row["status"], row["amount_recovered"], skipped) == ("recovered", 380, 2)


def test_a_visit_is_evidence_and_closes_its_task() -> None:
    task = {
        "task_id": "K1",
        "person_id": "P1",
        "grid": "G1",
        "village": "V1",
        "district": "D1",
        "reason": "no_recent_evidence",
        "created_on": "2026-11-01",
        "due_on": "2026-12-31",
    }
    inputs = ledger_inputs([_entry("visit", 1, task=task, result="seen_alive", on="2026-12-01")])
    (event,) = inputs.visit_events.to_pylist()
    assert (event["channel"], event["person_id"], event["linked_by"]) == (
        "GRID_VISIT",
        "P1",
        "manual",
    )
    assert inputs.visited_tasks.column("status").to_pylist() == ["done"]


def test_the_journal_keeps_whole_entries_in_order_and_skips_a_torn_last_line(tmp_path: Any) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    first = journal.append("flag", "k", "li", flag_id="F1", to_status="confirmed", why="w")
    second = journal.append("review", "cli", "wang", decision="apart", records=["A", "B"])
    with journal.path.open("ab") as handle:
        handle.write(b'{"kind": "flag", "torn')  # a crash in the middle of a write
    assert [e["seq"] for e in journal.read()] == [first["seq"], second["seq"]]
    assert [e["kind"] for e in journal.read(after=first["seq"])] == ["review"]


def test_offsets_write_offs_and_corrections_in_the_ledger_are_honoured_by_every_run() -> None:
    """The steps are ledger entries, replayed through the workflow by each run (and by the
    API: the same ``flag_move``), so a later run keeps them; a refused one is skipped."""
    flags = carry_flags(FLAG.empty_table(), None, ledger_inputs([STOP]).stop_flags)
    entries = [
        _entry("flag", 2, flag_id="STOP-1", to_status="confirmed", why="seen"),
        _entry("flag", 3, flag_id="STOP-1", to_status="corrected", why="two items", amount=300),
        _entry(
            "flag",
            4,
            flag_id="STOP-1",
            to_status="recovered",
            why="arrears kept",
            amount=120,
            recovery_kind="offset",
        ),
        _entry("flag", 5, flag_id="STOP-1", to_status="written_off", why="no estate", amount=999),
        _entry("flag", 6, flag_id="STOP-1", to_status="written_off", why="no estate", amount=180),
    ]
    out, skipped = apply_flag_moves(flags, ledger_inputs(entries).flag_moves)
    (row,) = out.to_pylist()
    assert (row["status"], row["amount_at_risk"], row["amount_recovered"], skipped) == (
        "written_off",
        300,
        120,
        1,
    )
    (flag,) = flags_from_table(out)
    assert [(h.to_status, h.money, h.amount) for h in flag.history] == [
        ("confirmed", None, None),
        ("confirmed", None, None),
        ("recovering", "offset", 120),
        ("written_off", "written_off", 180),
    ]
    # the next run starts from the flag as raised and replays the same entries
    later = ledger_inputs([STOP, *entries])
    again, _ = apply_flag_moves(carry_flags(FLAG.empty_table(), out, later.stop_flags),
                                later.flag_moves)  # fmt: skip
    assert again.to_pylist() == out.to_pylist()
