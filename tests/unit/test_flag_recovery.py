"""Money recovered on a flag: checked against the amount at risk, added up, reversed by a new step."""

from __future__ import annotations

import pytest

from linkgraph.flags import Flag, IllegalTransition, transition

AT_RISK = 190


def _confirmed() -> Flag:
    flag = Flag(
        flag_id="F1",
        kind="paid_after_death",
        key="E1",
        person_ids=("P1",),
        enrollment_ids=("E1",),
        amount_at_risk=AT_RISK,
    )
    return transition(flag, "confirmed", "inspector Li", "death certificate seen")


def test_a_recovery_beyond_the_amount_at_risk_is_refused_without_a_reason() -> None:
    with pytest.raises(IllegalTransition, match=r"99,999.*beyond the ¥190 at risk"):
        transition(_confirmed(), "recovered", "clerk Zhao", "bank", 99_999)
    with_interest = transition(
        _confirmed(),
        "recovered",
        "clerk Zhao",
        "bank",
        200,
        over_recovery_reason="¥10 interest on the late months",
    )
    assert (with_interest.status, with_interest.amount_recovered) == ("recovered", 200)
    assert with_interest.history[-1].over_recovery_reason == "¥10 interest on the late months"


def test_partial_recoveries_add_up_until_the_flag_is_recovered() -> None:
    first = transition(_confirmed(), "recovered", "clerk Zhao", "first instalment", 100)
    assert (first.status, first.amount_recovered) == ("recovering", 100)
    with pytest.raises(IllegalTransition, match="¥200"):
        transition(first, "recovered", "clerk Zhao", "second", 100)  # 200 > 190
    second = transition(first, "recovered", "clerk Zhao", "second instalment", 90)
    assert (second.status, second.amount_recovered) == ("recovered", 190)
    with pytest.raises(IllegalTransition, match="cannot move recovered"):
        transition(second, "recovered", "clerk Zhao", "again", 1)


def test_a_wrong_decision_is_undone_by_an_audited_reversal_not_by_editing_history() -> None:
    recovered = transition(_confirmed(), "recovered", "clerk Zhao", "typed 190", AT_RISK)
    undone = transition(recovered, "reverse", "supervisor Wang", "the bank returned the transfer")
    assert (undone.status, undone.amount_recovered) == ("confirmed", 0)
    assert undone.history[:2] == recovered.history  # the wrong step stays on record
    step = undone.history[-1]
    assert (step.who, step.why, step.reverses, step.amount) == (
        "supervisor Wang",
        "the bank returned the transfer",
        1,
        -AT_RISK,
    )
    back_to_open = transition(undone, "reverse", "supervisor Wang", "not confirmed after all")
    assert (back_to_open.status, back_to_open.history[-1].reverses) == ("open", 0)
    with pytest.raises(IllegalTransition, match="no decision in effect"):
        transition(back_to_open, "reverse", "supervisor Wang", "again")


def test_an_offset_against_arrears_is_a_recovery_of_its_own_kind() -> None:
    offset = transition(
        _confirmed(),
        "recovered",
        "clerk Zhao",
        "arrears of the resumed pension kept",
        150,
        recovery_kind="offset",
    )
    assert (offset.status, offset.amount_recovered) == ("recovering", 150)
    assert (offset.history[-1].money, offset.history[-1].amount) == ("offset", 150)
    cash = transition(offset, "recovered", "clerk Zhao", "the rest paid", 40)
    assert (cash.status, cash.amount_recovered, cash.history[-1].money) == (
        "recovered",
        190,
        "cash",
    )
    with pytest.raises(IllegalTransition, match="recovery kind"):
        transition(_confirmed(), "recovered", "clerk Zhao", "x", 10, recovery_kind="barter")  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition, match="only recovered takes a recovery kind"):
        transition(_confirmed(), "dismissed", "clerk Zhao", "x", recovery_kind="offset")


def test_a_write_off_closes_the_flag_with_what_is_left_counted_apart() -> None:
    paid = transition(_confirmed(), "recovered", "clerk Zhao", "first instalment", 40)
    with pytest.raises(IllegalTransition, match="at most what is left to recover: ¥150"):
        transition(paid, "written_off", "clerk Zhao", "died, no estate", 190)
    with pytest.raises(IllegalTransition, match="needs the amount written off"):
        transition(paid, "written_off", "clerk Zhao", "died, no estate")
    off = transition(paid, "written_off", "clerk Zhao", "died, no estate", 150)
    assert (off.status, off.amount_recovered, off.amount_written_off) == ("written_off", 40, 150)
    step = off.history[-1]
    assert (step.who, step.why, step.amount, step.money) == (
        "clerk Zhao",
        "died, no estate",
        150,
        "written_off",
    )
    with pytest.raises(IllegalTransition, match="cannot move written_off"):
        transition(off, "recovered", "clerk Zhao", "found money", 10)
    back = transition(off, "reverse", "supervisor Wang", "an heir was found")
    assert (back.status, back.amount_recovered, back.amount_written_off) == ("recovering", 40, 0)
    with pytest.raises(IllegalTransition, match="cannot move open → written_off"):
        transition(
            transition(_confirmed(), "reverse", "supervisor Wang", "not confirmed"),
            "written_off",
            "clerk Zhao",
            "x",
            190,
        )


def test_a_correction_sets_the_amount_at_risk_and_the_status_follows_it() -> None:
    paid = transition(_confirmed(), "recovered", "clerk Zhao", "first instalment", 100)
    corrected = transition(paid, "corrected", "clerk Zhao", "one month, not two", 100)
    assert (corrected.status, corrected.amount_at_risk, corrected.amount_recovered) == (
        "recovered",
        100,
        100,
    )
    step = corrected.history[-1]
    assert (step.at_risk_before, step.at_risk_after, step.amount, step.why) == (
        190,
        100,
        None,
        "one month, not two",
    )
    raised = transition(corrected, "corrected", "clerk Zhao", "three months after all", 285)
    assert (raised.status, raised.amount_at_risk) == ("recovering", 285)
    with pytest.raises(IllegalTransition, match="beyond the corrected ¥50"):
        transition(paid, "corrected", "clerk Zhao", "half a month", 50)
    assert transition(_confirmed(), "corrected", "clerk Zhao", "less", 95).status == "confirmed"
    # the same amount again is a step too: a later run, whose detection found that amount
    # by itself, still replays it, so a reversal after it undoes it and not the step before
    same = transition(_confirmed(), "corrected", "clerk Zhao", "checked: right", AT_RISK)
    assert transition(same, "reverse", "wang", "x").status == "confirmed"
    undone = transition(raised, "reverse", "supervisor Wang", "the third month was paid back")
    assert (undone.status, undone.amount_at_risk) == ("recovered", 100)
    with pytest.raises(IllegalTransition, match="cannot move open → corrected"):
        transition(
            transition(_confirmed(), "reverse", "supervisor Wang", "not confirmed"),
            "corrected",
            "clerk Zhao",
            "x",
            10,
        )
