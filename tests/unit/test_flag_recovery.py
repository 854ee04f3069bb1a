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
