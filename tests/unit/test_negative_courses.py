"""Negative evidence other than death, each with its own course (policy ``[negative]``):
a prison sentence suspends payment until release, without a door check and without arrears
for the months served; leaving the city for good (settled abroad, registration moved out)
holds for a door check like a death, and stops payment once a human confirmed it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from certify_fakes import D, enrolment, enrolments, ev, events, persons, policy, row

from linkgraph.certify import certify
from linkgraph.dispatch import Task, door_tasks, record_visit
from linkgraph.errors import CatalogueError
from linkgraph.policy import Policy
from linkgraph.recognise import recognise

RULES = policy(baseline_certified_on=None)
ENROLMENT = enrolments(enrolment("E1", "A", amount=190))
CERTIFIED = ev("A", "HEALTH_CHECK", D(2026, 1, 10))


def decided(table: Any, as_of: dt.date) -> tuple[dict, dict, list[dict]]:
    """(certification, recognition, door tasks) of person A as of ``as_of``."""
    certs = certify(table, persons("A"), RULES, as_of)
    rec = recognise(certs, ENROLMENT, RULES, as_of)
    tasks = door_tasks(certs, persons("A"), RULES, as_of).to_pylist()
    return row(certs, "person_id", "A"), row(rec, "enrollment_id", "E1"), tasks


class TestSentence:
    SENTENCED = ev("A", "IMPRISONED", D(2026, 3, 1), reported=D(2026, 3, 10))

    def test_a_sentence_suspends_payment_from_its_report_without_a_door_check(self) -> None:
        c, r, _ = decided(events(CERTIFIED, self.SENTENCED), D(2026, 3, 9))
        assert (c["status"], r["status"]) == ("certified", "pay")  # not known yet
        # two years on, the certification long expired: still no door task (in prison)
        for as_of in (D(2026, 3, 20), D(2028, 5, 1)):
            c, r, tasks = decided(events(CERTIFIED, self.SENTENCED), as_of)
            assert (c["status"], c["rule"], r["status"]) == (
                "suspended",
                "sentence:IMPRISONED",
                "hold",
            )
            assert c["sentence_from"] == D(2026, 3, 1) and tasks == []
            assert "IMPRISONED dated 2026-03-01" in r["reason"]
            assert c["evidence_event_keys"] == [f"IMPRISONED:{self.SENTENCED['event_id']}"]

    def test_release_resumes_payment_without_arrears_for_the_months_served(self) -> None:
        released = ev("A", "PRISON_RELEASE", D(2028, 6, 1))
        c, r, tasks = decided(events(CERTIFIED, self.SENTENCED, released), D(2028, 6, 20))
        assert (c["status"], c["rule"], r["status"]) == ("certified", "S1-strong", "pay")
        assert c["released_on"] == D(2028, 6, 1) and c["sentence_from"] is None
        # held from 2027-04-11 by the lapse alone, but in prison: nothing owed
        assert (r["arrears_months"], r["arrears_amount"]) == (0, 0) and tasks == []

    def test_a_door_check_after_the_report_finding_the_person_at_home_clears_it(self) -> None:
        home = ev("A", "GRID_VISIT", D(2026, 4, 2), linked_by="manual")
        c, r, _ = decided(events(CERTIFIED, self.SENTENCED, home), D(2026, 4, 10))
        assert (c["status"], c["rule"], r["status"]) == ("certified", "M1-grid-visit", "pay")


class TestLeftForGood:
    @pytest.mark.parametrize("channel", ["EMIGRATED", "HUKOU_MOVED_OUT"])
    def test_a_departure_holds_for_a_door_check_and_a_confirmation_stops(
        self, channel: str
    ) -> None:
        left = ev("A", channel, D(2026, 5, 20), reported=D(2026, 6, 3))
        c, r, tasks = decided(events(CERTIFIED, left), D(2026, 6, 10))
        assert (c["status"], c["rule"], r["status"]) == (
            "pending_review",
            f"negative:{channel}",
            "hold",
        )
        assert c["left_on"] == D(2026, 5, 20) and c["death_on"] is None
        (task,) = tasks
        assert task["reason"] == "negative_evidence" and task["due_on"] == D(2026, 6, 18)
        _, visit = record_visit(Task(**task), "left", "grid worker Zhang", D(2026, 6, 12))
        c, r, tasks = decided(events(CERTIFIED, left, *visit.to_pylist()), D(2026, 6, 20))
        assert c["confirmed_negative"] and r["status"] == "stop"
        assert r["stop_after"] == D(2026, 5, 31) and "left the city for good" in r["reason"]
        assert tasks == []

    def test_a_door_check_finding_the_person_at_home_clears_the_departure(self) -> None:
        left = ev("A", "HUKOU_MOVED_OUT", D(2026, 5, 20), reported=D(2026, 6, 3))
        home = ev("A", "GRID_VISIT", D(2026, 6, 12), linked_by="manual")
        c, r, tasks = decided(events(CERTIFIED, left, home), D(2026, 6, 20))
        assert (c["status"], r["status"], tasks) == ("certified", "pay", [])


class TestPolicy:
    def test_a_channel_has_one_course_and_a_sentence_can_end(self) -> None:
        data = RULES.to_dict()
        data["negative"]["left_channels"] = [*data["negative"]["left_channels"], "DEATH_CERT"]
        with pytest.raises(CatalogueError, match="more than one course"):
            Policy.from_path_or_dict(data)
        data = RULES.to_dict()
        data["negative"]["released_by"] = []
        with pytest.raises(CatalogueError, match="released_by"):
            Policy.from_path_or_dict(data)
