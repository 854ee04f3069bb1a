"""Tip-offs: a report that a beneficiary may no longer be eligible is a door check, never a hold."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from certify_fakes import D, enrolment, enrolments, ev, events, persons, policy, row

from linkgraph.casework import ledger_inputs
from linkgraph.catalogue import Catalogue
from linkgraph.dispatch import record_visit, tasks_from_table
from linkgraph.ledger import KINDS
from linkgraph.pipeline import decide

RULES = policy(baseline_certified_on=D(2025, 12, 31))
AS_OF = D(2026, 3, 31)


def _tipoff(seq: int, person: str = "A", says: str = "moved to his son's in Hefei", **more: Any):  # type: ignore[no-untyped-def]
    return {
        "kind": "tipoff",
        "seq": seq,
        "sender": "cli",
        "by": "clerk Zhao",
        "received_at": "2026-03-02T08:00:00+00:00",
        "person_id": person,
        "reported_by": "Wanglou village committee",
        "says": says,
        "on": "2026-03-02",
        **more,
    }


def _decide(entries: list[dict[str, Any]], extra: pa.Table | None = None):  # type: ignore[no-untyped-def]
    evs = events(ev("A", "RAIL", D(2026, 2, 1)), ev("B", "RAIL", D(2026, 2, 1)))
    if extra is not None:
        evs = pa.concat_tables([evs, extra])
    return decide(
        persons("A", "B"),
        enrolments(enrolment("E1", "A", paid_until=D(2026, 3, 1)), enrolment("E2", "B")),
        evs,
        RULES,
        Catalogue.load(),
        AS_OF,
        ledger_inputs(entries),
        with_flags=False,
    )


def test_a_tip_off_is_a_ledger_entry_read_once_per_report() -> None:
    assert "tipoff" in KINDS
    inputs = ledger_inputs([_tipoff(1), _tipoff(2), _tipoff(3, says="died last week")])
    assert inputs.tipoffs.num_rows == 2  # the same report sent twice is one
    (tip, _) = inputs.tipoffs.to_pylist()
    assert (tip["person_id"], tip["reported_by"], tip["received_on"]) == (
        "A",
        "Wanglou village committee",
        D(2026, 3, 2),
    )
    assert inputs.for_persons(["B"]).tipoffs.num_rows == 0


def test_a_tip_off_becomes_a_door_check_due_within_the_policy_window_and_holds_nothing() -> None:
    quiet, told = _decide([]), _decide([_tipoff(1)])
    assert told.recognitions.to_pylist() == quiet.recognitions.to_pylist()  # nothing held
    standing = ["person_id", "status", "valid_until", "confirmed_negative"]
    assert told.certifications.select(standing) == quiet.certifications.select(standing)
    (task,) = [t for t in told.tasks.to_pylist() if t["reason"] == "tip_off"]
    window = RULES.tipoffs.visit_within_days
    assert (task["person_id"], task["due_on"], task["grid"]) == (
        "A",
        D(2026, 3, 2) + dt.timedelta(days=window),
        "341602001001G001",
    )
    assert "Wanglou village committee" in task["detail"] and "Hefei" in task["detail"]
    again = _decide([_tipoff(1)])
    assert again.tasks["task_id"].to_pylist() == told.tasks["task_id"].to_pylist()
    later = _decide([_tipoff(1, on="2026-04-02")])  # received after the as-of day
    assert "tip_off" not in later.tasks["reason"].to_pylist()


def test_the_door_check_of_a_tip_off_flows_back_as_evidence() -> None:
    told = _decide([_tipoff(1)])
    (task,) = [t for t in tasks_from_table(told.tasks) if t.reason == "tip_off"]
    done, death = record_visit(task, "deceased", "grid worker Wang", D(2026, 3, 9),
                               died_on=D(2026, 2, 20))  # fmt: skip
    visit = {
        "kind": "visit",
        "seq": 2,
        "sender": "k",
        "by": "grid worker Wang",
        "received_at": "2026-03-09T08:00:00+00:00",
        "task": task.model_dump(mode="json"),
        "result": "deceased",
        "on": "2026-03-09",
    }
    after = _decide([_tipoff(1), visit], extra=None)
    assert done.status == "done" and death.num_rows == 1
    (visited,) = [t for t in after.tasks.to_pylist() if t["reason"] == "tip_off"]
    assert (visited["status"], visited["result"]) == ("done", "deceased")
    cert = row(after.certifications, "person_id", "A")
    assert (cert["status"], cert["confirmed_negative"]) == ("pending_review", True)
    assert row(after.recognitions, "enrollment_id", "E1")["status"] == "stop"
    # the death confirmed, a new run asks for no further check of the tip-off
    assert (
        after.tasks.filter(pa.compute.equal(after.tasks["status"], "open"))["person_id"].to_pylist()
        == []
    )
