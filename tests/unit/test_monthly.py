"""A month's row: money recovered in cash, kept from arrears (offsets) and written off apart;
tip-offs received and checked."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from linkgraph.certify import CERTIFICATION
from linkgraph.dispatch import TASK, TIPOFF
from linkgraph.flags import FLAG, Flag, flags_to_table, transition
from linkgraph.monthly import MONTHLY_FIELDS, month_row
from linkgraph.pipeline import CertificationRun
from linkgraph.policy import Policy
from linkgraph.recognise import RECOGNITION
from linkgraph.tables import LINKED_EVENT


def _on(day: int, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, 10, tzinfo=dt.UTC)


def _flag(flag_id: str) -> Flag:
    flag = Flag(
        flag_id=flag_id,
        kind="paid_after_death",
        key=flag_id,
        person_ids=("P1",),
        enrollment_ids=(flag_id,),
        amount_at_risk=1_000,
        raised_on=dt.date(2026, 2, 1),
    )
    return transition(flag, "confirmed", "li", "death certificate", at=_on(20, 2))


def test_cash_offsets_and_write_offs_are_counted_apart_in_their_month() -> None:
    cash = transition(_flag("A"), "recovered", "zhao", "instalment", 300, at=_on(2))
    cash = transition(cash, "recovered", "zhao", "typo", 50, at=_on(3))
    cash = transition(cash, "reverse", "wang", "the transfer bounced", at=_on(4))
    offset = transition(
        _flag("B"), "recovered", "zhao", "arrears kept", 200, recovery_kind="offset", at=_on(5)
    )
    offset = transition(offset, "corrected", "zhao", "fewer months", 800, at=_on(6))
    off = transition(offset, "written_off", "zhao", "died, no estate", 600, at=_on(7))
    earlier = transition(_flag("C"), "recovered", "zhao", "in February", 100, at=_on(25, 2))
    run = CertificationRun(
        as_of=dt.date(2026, 3, 31),
        certifications=CERTIFICATION.empty_table(),
        recognitions=RECOGNITION.empty_table(),
        flags=flags_to_table([cash, off, earlier]),
        tasks=TASK.empty_table(),
        events=LINKED_EVENT.empty_table(),
    )
    row = month_row(run, Policy.load())
    assert set(MONTHLY_FIELDS) <= set(row)
    assert (row["recovered_yuan"], row["offset_yuan"], row["written_off_yuan"]) == (300, 200, 600)


def test_tip_offs_received_and_checked_in_the_month() -> None:
    def tip(i: int, on: dt.date) -> dict[str, object]:
        return {"tipoff_id": f"T{i}", "person_id": f"P{i}", "reported_by": "village committee",
                "says": "moved away", "received_on": on}  # fmt: skip

    def task(i: int, reason: str, status: str, on: dt.date) -> dict[str, object]:
        return {"task_id": f"K{i}", "person_id": f"P{i}", "reason": reason,
                "created_on": dt.date(2026, 2, 1), "due_on": dt.date(2026, 3, 3),
                "status": status, "visited_on": on}  # fmt: skip

    march, february = dt.date(2026, 3, 9), dt.date(2026, 2, 9)
    tipoffs = pa.Table.from_pylist([tip(1, march), tip(2, march), tip(3, february)], TIPOFF)
    visits = pa.Table.from_pylist(
        [
            task(1, "tip_off", "done", march),  # seen, or found dead: checked
            task(2, "tip_off", "open", march),  # nobody at home: not yet
            task(3, "tip_off", "done", february),  # checked last month
            task(4, "no_recent_evidence", "done", march),  # not a tip-off
        ],
        TASK,
    )
    run = CertificationRun(
        as_of=dt.date(2026, 3, 31),
        certifications=CERTIFICATION.empty_table(),
        recognitions=RECOGNITION.empty_table(),
        flags=FLAG.empty_table(),
        tasks=TASK.empty_table(),
        events=LINKED_EVENT.empty_table(),
    )
    row = month_row(run, Policy.load(), visits, tipoffs)
    assert (row["tipoffs_received"], row["tipoffs_checked"], row["visits_done"]) == (2, 1, 3)
