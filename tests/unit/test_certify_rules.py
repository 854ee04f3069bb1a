"""certify(): each rule's edges, on hand-built persons and events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from certify_fakes import D, enrolment, enrolments, ev, events, persons, policy, row, weak_burst

from linkgraph.certify import certify
from linkgraph.policy import Policy
from linkgraph.recognise import recognise

CORROBORATING = ["BUS_TAP", "PHARMACY", "UTILITY_PAY", "ATM_WITHDRAW"]


def with_weak(**changes: Any) -> Policy:
    data = policy().to_dict()
    for rule in data["rules"]:
        if rule["kind"] == "corroborated_weak":
            rule.update(changes)
    return Policy.from_path_or_dict(data)


def status_of(table_events: Any, pid: str, as_of: dt.date, rules: Policy | None = None) -> dict:
    certs = certify(table_events, persons(pid), rules or policy(), as_of)
    return row(certs, "person_id", pid)


class TestStrong:
    def test_one_strong_event_certifies_for_twelve_months(self) -> None:
        c = status_of(events(ev("A", "HOSPITAL_STAY", D(2026, 3, 10))), "A", D(2026, 6, 1))
        assert (c["status"], c["method"], c["rule"]) == ("certified", "strong", "S1-strong")
        assert c["certified_on"] == D(2026, 3, 10)
        assert c["valid_until"] == D(2027, 3, 10)
        assert len(c["evidence_event_keys"]) == 1
        assert "HOSPITAL_STAY" in c["explanation"] and "2026-03-10" in c["explanation"]

    def test_validity_rolls_forward_with_each_new_evidence(self) -> None:
        t = events(ev("A", "RAIL", D(2026, 1, 5)), ev("A", "WST_FACE", D(2026, 9, 1)))
        c = status_of(t, "A", D(2026, 12, 31))
        assert c["certified_on"] == D(2026, 9, 1)
        assert c["valid_until"] == D(2027, 9, 1)
        assert c["previous_on"] == D(2026, 1, 5)

    def test_an_event_not_yet_reported_is_not_known(self) -> None:
        t = events(ev("A", "RAIL", D(2026, 6, 29), reported=D(2026, 7, 2)))
        before = status_of(t, "A", D(2026, 7, 1), policy(baseline_certified_on=None))
        after = status_of(t, "A", D(2026, 7, 2), policy(baseline_certified_on=None))
        assert before["status"] == "suspended" and before["method"] == "none"
        assert after["status"] == "certified"


class TestWeak:
    def test_corroborated_weak_events_certify(self) -> None:
        t = events(*weak_burst("A", D(2026, 5, 1), CORROBORATING, days=3))
        c = status_of(t, "A", D(2026, 6, 1))
        assert (c["status"], c["method"]) == ("certified", "corroborated_weak")
        assert c["certified_on"] == D(2026, 5, 3)
        assert len(c["evidence_event_keys"]) == 12
        assert "4 channels" in c["explanation"] and "3 days" in c["explanation"]

    def test_relative_tapping_a_dead_persons_card_does_not_certify(self) -> None:
        # Months of bus taps, every day, after the last real evidence: one channel, one card.
        taps = weak_burst("A", D(2026, 3, 1), ["BUS_TAP"], days=200)
        c = status_of(events(*taps), "A", D(2026, 12, 31), policy(baseline_certified_on=None))
        assert c["status"] == "suspended"
        assert c["method"] == "none"
        assert c["evidence_event_keys"] == []

    def test_one_card_on_several_channels_is_still_one_instrument(self) -> None:
        card_only = weak_burst("A", D(2026, 3, 1), ["BUS_TAP", "PHARMACY", "SSCARD_SHOP"], 30)
        c = status_of(events(*card_only), "A", D(2026, 4, 1), policy(baseline_certified_on=None))
        assert c["status"] == "suspended"

    def test_weak_evidence_never_outweighs_a_death_report(self) -> None:
        t = events(
            ev("A", "DEATH_CERT", D(2026, 3, 1), reported=D(2026, 3, 3)),
            *weak_burst("A", D(2026, 3, 10), CORROBORATING, days=60),
        )
        c = status_of(t, "A", D(2026, 6, 1))
        assert c["status"] == "pending_review"
        assert c["death_on"] == D(2026, 3, 1)

    @pytest.mark.parametrize(("last_day", "certified"), [(89, True), (90, False)])
    def test_window_boundary(self, last_day: int, certified: bool) -> None:
        rules = with_weak(
            window_days=90,
            min_events=3,
            min_channels=3,
            min_instruments=2,
            min_days=3,
            score_threshold=0.0,
        )
        d0 = D(2026, 2, 1)
        t = events(
            ev("A", "BUS_TAP", d0),
            ev("A", "UTILITY_PAY", d0 + dt.timedelta(days=45)),
            ev("A", "ATM_WITHDRAW", d0 + dt.timedelta(days=last_day)),
        )
        c = status_of(
            t, "A", D(2026, 12, 1), rules.model_copy(update={"baseline_certified_on": None})
        )
        assert (c["status"] == "certified") is certified

    def test_score_caps_each_channel(self) -> None:
        # Ten days of two channels on two instruments pass every count, but each channel's
        # share of the score is capped at 0.5: two channels reach 1.0, below the 1.01 asked.
        rules = with_weak(min_channels=2, min_events=4, min_days=3, score_threshold=1.01)
        t = events(*weak_burst("A", D(2026, 5, 1), ["BUS_TAP", "MOBILE_ACTIVE"], days=10))
        c = status_of(
            t, "A", D(2026, 6, 1), rules.model_copy(update={"baseline_certified_on": None})
        )
        assert c["status"] == "suspended"


class TestNegative:
    def test_negative_after_positive_holds_for_review(self) -> None:
        t = events(
            ev("A", "WST_FACE", D(2026, 2, 1)),
            ev("A", "CREMATION", D(2026, 4, 2), reported=D(2026, 4, 5)),
        )
        c = status_of(t, "A", D(2026, 5, 1))
        assert c["status"] == "pending_review"
        assert c["rule"] == "negative:CREMATION"
        assert c["certified_on"] == D(2026, 2, 1)  # the last certification is kept for review
        assert "PIPL" in c["explanation"]
        assert c["confirmed_negative"] is False

    def test_two_negatives_reported_the_same_day_name_one_rule_whatever_their_order(
        self,
    ) -> None:
        """A death certificate and a cremation reported on one day: the rule names the
        first by channel, on every run (it once named either, by chance, so the same
        inputs gave two answers)."""
        rows = [
            ev("A", channel, D(2026, 4, 2), reported=D(2026, 4, 5))
            for channel in ("VILLAGE_DEATH_REPORT", "CREMATION", "DEATH_CERT")
        ]
        rules = {
            status_of(events(*order), "A", D(2026, 5, 1))["rule"]
            for order in (rows, rows[::-1], rows[1:] + rows[:1], rows[2:] + rows[:2])
        }
        assert rules == {"negative:CREMATION"}

    def test_strong_evidence_after_negative_does_not_clear_it(self) -> None:
        t = events(
            ev("A", "EMIGRATED", D(2026, 4, 1), reported=D(2026, 4, 10)),
            ev("A", "HOSPITAL_STAY", D(2026, 5, 1)),
        )
        assert status_of(t, "A", D(2026, 6, 1))["status"] == "pending_review"

    def test_a_door_check_after_the_report_clears_it(self) -> None:
        t = events(
            ev("A", "HUKOU_CANCEL", D(2026, 4, 1), reported=D(2026, 4, 10)),
            ev("A", "GRID_VISIT", D(2026, 4, 20), linked_by="manual"),
        )
        c = status_of(t, "A", D(2026, 6, 1))
        assert (c["status"], c["method"], c["rule"]) == ("certified", "manual", "M1-grid-visit")

    def test_a_door_check_before_the_report_does_not_clear_it(self) -> None:
        t = events(
            ev("A", "GRID_VISIT", D(2026, 3, 20), linked_by="manual"),
            ev("A", "HUKOU_CANCEL", D(2026, 4, 1), reported=D(2026, 4, 10)),
        )
        assert status_of(t, "A", D(2026, 6, 1))["status"] == "pending_review"

    def test_late_death_report_counts_from_the_day_it_arrives_and_dates_the_death(self) -> None:
        t = events(
            ev("A", "BANK_COUNTER", D(2026, 2, 1)),
            ev("A", "HUKOU_CANCEL", D(2026, 3, 15), reported=D(2026, 7, 10)),
        )
        assert status_of(t, "A", D(2026, 7, 9))["status"] == "certified"
        late = status_of(t, "A", D(2026, 7, 10))
        assert late["status"] == "pending_review"
        assert late["death_on"] == D(2026, 3, 15)


class TestLapse:
    """warning → suspension → resumption with arrears, through recognise()."""

    def setup_method(self) -> None:
        self.rules = policy(baseline_certified_on=None)
        self.enr = enrolments(enrolment("E1", "A", "URRP", amount=190))
        self.first = ev("A", "HEALTH_CHECK", D(2026, 1, 10))

    def recognised(self, t: Any, as_of: dt.date) -> tuple[dict, dict]:
        certs = certify(t, persons("A"), self.rules, as_of)
        rec = recognise(certs, self.enr, self.rules, as_of)
        return row(certs, "person_id", "A"), row(rec, "enrollment_id", "E1")

    def test_warning_then_suspension(self) -> None:
        t = events(self.first)
        c, r = self.recognised(t, D(2027, 1, 10))
        assert (c["status"], r["status"]) == ("certified", "pay")
        c, r = self.recognised(t, D(2027, 1, 11))
        assert (c["status"], r["status"]) == ("warning", "warning")
        assert c["warning_until"] == D(2027, 4, 10)
        c, r = self.recognised(t, D(2027, 4, 11))
        assert (c["status"], r["status"]) == ("suspended", "hold")
        assert "held until certified" in r["reason"]

    def test_resumption_pays_the_held_months(self) -> None:
        t = events(self.first, ev("A", "SS_FACE", D(2027, 6, 15)))
        c, r = self.recognised(t, D(2027, 6, 20))
        assert (c["status"], r["status"]) == ("certified", "pay")
        # held from 2027-04-11: the payments due on 1 May and 1 June are owed
        assert r["arrears_from"] == D(2027, 4, 11)
        assert r["arrears_months"] == 2
        assert r["arrears_amount"] == 2 * 190

    def test_no_arrears_without_a_suspension(self) -> None:
        t = events(self.first, ev("A", "SS_FACE", D(2027, 2, 15)))
        _, r = self.recognised(t, D(2027, 2, 20))
        assert r["status"] == "pay" and r["arrears_months"] == 0


class TestItemOverride:
    def test_strong_only_item_ignores_weak_evidence(self) -> None:
        rules = policy(baseline_certified_on=None)
        t = events(*weak_burst("A", D(2026, 5, 1), CORROBORATING, days=3))
        certs = certify(t, persons("A"), rules, D(2026, 6, 1))
        enr = enrolments(enrolment("E1", "A", "URRP"), enrolment("E2", "A", "MFP", department="VA"))
        rec = recognise(certs, enr, rules, D(2026, 6, 1))
        assert row(rec, "enrollment_id", "E1")["status"] == "pay"
        mfp = row(rec, "enrollment_id", "E2")
        assert mfp["status"] == "hold"
        assert "strong" in mfp["reason"]

    def test_shorter_validity_for_one_item(self) -> None:
        rules = policy(baseline_certified_on=None)
        t = events(ev("A", "HOSPITAL_STAY", D(2026, 1, 10)))
        as_of = D(2026, 8, 1)
        certs = certify(t, persons("A"), rules, as_of)
        enr = enrolments(enrolment("E1", "A", "URRP"), enrolment("E2", "A", "MFP", department="VA"))
        rec = recognise(certs, enr, rules, as_of)
        assert row(rec, "enrollment_id", "E1")["status"] == "pay"
        mfp = row(rec, "enrollment_id", "E2")
        assert mfp["status"] == "warning"
        assert mfp["valid_until"] == D(2026, 7, 10)


class TestBaseline:
    def test_persons_without_evidence_carry_the_last_campaign_over(self) -> None:
        c = status_of(events(), "A", D(2026, 6, 1), policy(baseline_certified_on=D(2025, 12, 31)))
        assert (c["status"], c["method"], c["rule"]) == ("certified", "none", "baseline")
        assert c["valid_until"] == D(2026, 12, 31)

    def test_without_a_baseline_nobody_is_certified_by_default(self) -> None:
        c = status_of(events(), "A", D(2026, 6, 1), policy(baseline_certified_on=None))
        assert c["status"] == "suspended" and "never certified" in c["explanation"]


class TestEnrolment:
    """An enrolment is made in person: its start certifies, so a newcomer is not held."""

    def test_a_new_enrolment_certifies_its_person(self) -> None:
        enr = enrolments(enrolment("E1", "A", enrolled=D(2026, 11, 3)))
        certs = certify(events(), persons("A"), policy(), D(2026, 12, 31), enrollments=enr)
        c = row(certs, "person_id", "A")
        assert (c["status"], c["method"], c["rule"]) == ("certified", "manual", "enrolment")
        assert c["certified_on"] == D(2026, 11, 3) and "enrolled in person" in c["explanation"]
        rec = recognise(certs, enr, policy(), D(2026, 12, 31))
        assert rec["status"].to_pylist() == ["pay"]

    def test_a_visit_on_the_day_of_enrolment_names_the_visit_on_every_run(self) -> None:
        """An enrolment and a grid visit on one day are both manual: the evidence wins the
        tie (it names an event to explain the decision), not whichever came first."""
        day = D(2026, 11, 3)
        enr = enrolments(enrolment("E1", "A", enrolled=day))
        visit = ev("A", "GRID_VISIT", day, linked_by="manual")
        rules = {
            row(
                certify(table, persons("A"), policy(), D(2026, 12, 31), enrollments=enr),
                "person_id",
                "A",
            )["rule"]
            for table in [events(visit)] * 6
        }
        assert rules == {"M1-grid-visit"}

    def test_an_old_enrolment_does_not(self) -> None:
        enr = enrolments(enrolment("E1", "A", enrolled=D(2020, 1, 1)))
        certs = certify(events(), persons("A"), policy(), D(2026, 12, 31), enrollments=enr)
        assert row(certs, "person_id", "A")["status"] == "suspended"

    def test_the_policy_can_turn_it_off(self) -> None:
        enr = enrolments(enrolment("E1", "A", enrolled=D(2026, 11, 3)))
        rules = policy(enrolment_certifies=False)
        certs = certify(events(), persons("A"), rules, D(2026, 12, 31), enrollments=enr)
        assert row(certs, "person_id", "A")["rule"] == "baseline"
