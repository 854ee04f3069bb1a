"""An offset kept against a flag is taken from the arrears a resumption pays, once, in the
core: the month's row shows the arrears paid less it, and the offset apart."""

from __future__ import annotations

import datetime as dt

from certify_fakes import D, enrolment, enrolments, ev, events, persons, policy, row

from linkgraph.casework import FlagMove, LedgerInputs
from linkgraph.catalogue import Catalogue
from linkgraph.monthly import month_row
from linkgraph.pipeline import CertificationRun, decide

RULES = policy(baseline_certified_on=None)
# Two URRP enrolments of one person (a duplicate claim), 190 a month each; certified in
# January 2026, suspended from 2027-04-11 (warning ended), seen again on 2027-06-15: the
# payments of 1 May and 1 June are owed on each, 4 x 190 = 760.
ENROLMENTS = enrolments(enrolment("E1", "A"), enrolment("E2", "A", enrolled=D(2021, 1, 1)))
EVENTS = events(ev("A", "HEALTH_CHECK", D(2026, 1, 10)), ev("A", "SS_FACE", D(2027, 6, 15)))
JUNE = D(2027, 6, 30)


def _decide(*moves: FlagMove, previous: CertificationRun | None = None) -> CertificationRun:
    return decide(
        persons("A"),
        ENROLMENTS,
        EVENTS,
        RULES,
        Catalogue.load(),
        JUNE,
        LedgerInputs(flag_moves=list(moves)),
        previous_flags=previous.flags if previous else None,
    )


def _dup_flag(run: CertificationRun) -> str:
    """The duplicate claim's flag id (the same on every run)."""
    return next(f["flag_id"] for f in run.flags.to_pylist() if f["kind"] == "duplicate_enrolment")


def _moves(flag_id: str, kept_on: dt.date, amount: int) -> list[FlagMove]:
    at = dt.datetime.combine(kept_on, dt.time(10), dt.UTC)
    return [
        FlagMove(flag_id, "confirmed", "Li", "two claims", None, at),
        FlagMove(flag_id, "recovered", "Li", "kept from arrears", amount, at, None, "offset"),
    ]


def test_an_offset_kept_during_the_suspension_is_taken_from_the_arrears_paid() -> None:
    before = _decide()
    assert sum(before.recognitions["arrears_amount"].to_pylist()) == 760
    flag_id = _dup_flag(before)
    after = _decide(*_moves(flag_id, D(2027, 5, 20), 300), previous=before)
    e1, e2 = (row(after.recognitions, "enrollment_id", e) for e in ("E1", "E2"))
    assert (e1["arrears_amount"], e1["arrears_offset"]) == (80, 300)
    assert (e2["arrears_amount"], e2["arrears_offset"]) == (380, 0)
    june = month_row(after, RULES)
    assert (june["resumed"], june["arrears_paid"], june["arrears_offset"]) == (2, 460, 300)
    assert june["offset_yuan"] == 0  # kept in May: counted in May's money


def test_an_offset_kept_before_the_suspension_began_belongs_to_earlier_arrears() -> None:
    before = _decide()
    flag_id = _dup_flag(before)
    after = _decide(*_moves(flag_id, D(2027, 3, 1), 300), previous=before)
    assert sum(after.recognitions["arrears_amount"].to_pylist()) == 760


def test_a_reversed_offset_keeps_nothing() -> None:
    before = _decide()
    moves = _moves(_dup_flag(before), D(2027, 5, 20), 300)
    undo = FlagMove(_dup_flag(before), "reverse", "Wang", "kept twice", None, moves[-1].at)
    after = _decide(*moves, undo, previous=before)
    assert sum(after.recognitions["arrears_amount"].to_pylist()) == 760


def test_an_offset_beyond_the_arrears_keeps_them_all_and_no_more() -> None:
    before = _decide()
    after = _decide(*_moves(_dup_flag(before), D(2027, 5, 20), 1_000), previous=before)
    assert after.recognitions["arrears_amount"].to_pylist() == [0, 0]
    assert after.recognitions["arrears_offset"].to_pylist() == [380, 380]
