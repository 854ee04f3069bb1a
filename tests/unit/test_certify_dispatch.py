"""Door-knock tasks, visits flowing back as evidence, stop requests, payroll, village lists."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from certify_fakes import D, enrolment, enrolments, ev, events, persons, policy, row

from linkgraph.certify import certify
from linkgraph.dispatch import (
    door_tasks,
    record_visit,
    reminders_due,
    tasks_from_table,
    village_list,
)
from linkgraph.errors import InputError
from linkgraph.recognise import STOP_REQUEST, payroll, recognise

RULES = policy(baseline_certified_on=D(2025, 12, 31))  # everyone checked at the last campaign


def certs_at(evs: pa.Table, as_of: dt.date, *ids: str) -> pa.Table:
    return certify(evs, persons(*ids), RULES, as_of)


class TestTasks:
    def test_expiring_and_negative_become_tasks_for_the_grid(self) -> None:
        evs = events(
            ev("A", "RAIL", D(2026, 1, 20)),  # expires 2027-01-20: inside the 60-day lead
            ev("B", "RAIL", D(2026, 11, 1)),  # fresh: no task
            ev("C", "CREMATION", D(2026, 12, 1), reported=D(2026, 12, 3)),
        )
        tasks = door_tasks(
            certs_at(evs, D(2026, 12, 31), "A", "B", "C"),
            persons("A", "B", "C"),
            RULES,
            D(2026, 12, 31),
        )
        by_person = {t["person_id"]: t for t in tasks.to_pylist()}
        assert set(by_person) == {"A", "C"}
        assert by_person["A"]["reason"] == "no_recent_evidence"
        assert by_person["A"]["due_on"] == D(2027, 1, 20)
        assert by_person["C"]["reason"] == "negative_evidence"
        assert by_person["C"]["due_on"] == D(2026, 12, 3) + dt.timedelta(days=15)
        assert by_person["A"]["grid"] == "341602001001G001"

    def test_task_ids_are_stable(self) -> None:
        evs = events(ev("A", "RAIL", D(2026, 1, 20)))
        one = door_tasks(certs_at(evs, D(2026, 12, 30), "A"), persons("A"), RULES, D(2026, 12, 30))
        two = door_tasks(certs_at(evs, D(2026, 12, 31), "A"), persons("A"), RULES, D(2026, 12, 31))
        assert one["task_id"].to_pylist() == two["task_id"].to_pylist()


class TestVisits:
    def setup_method(self) -> None:
        self.evs = events(ev("A", "DEATH_CERT", D(2026, 9, 2), reported=D(2026, 9, 4)))
        self.as_of = D(2026, 9, 30)
        certs = certs_at(self.evs, self.as_of, "A")
        (self.task,) = tasks_from_table(door_tasks(certs, persons("A"), RULES, self.as_of))
        self.enr = enrolments(enrolment("E1", "A", paid_until=D(2026, 9, 1)))

    def after(self, extra: pa.Table) -> tuple[dict, dict]:
        certs = certs_at(pa.concat_tables([self.evs, extra]), self.as_of, "A")
        rec = recognise(certs, self.enr, RULES, self.as_of)
        return row(certs, "person_id", "A"), row(rec, "enrollment_id", "E1")

    def test_seen_alive_certifies_and_clears_the_hold(self) -> None:
        task, event = record_visit(self.task, "seen_alive", "grid worker Wang", D(2026, 9, 10))
        assert task.status == "done" and event.num_rows == 1
        c, r = self.after(event)
        assert (c["status"], c["method"]) == ("certified", "manual")
        assert r["status"] == "pay"

    def test_deceased_confirmed_at_the_door_stops_payment_after_the_month_of_death(self) -> None:
        _, event = record_visit(
            self.task, "deceased", "grid worker Wang", D(2026, 9, 10), died_on=D(2026, 9, 2)
        )
        c, r = self.after(event)
        assert c["status"] == "pending_review" and c["confirmed_negative"] is True
        assert r["status"] == "stop"
        assert r["stop_after"] == D(2026, 9, 30)

    @pytest.mark.parametrize("result", ["moved", "not_found"])
    def test_moved_or_not_found_keeps_the_task_open_and_the_payment_held(self, result) -> None:  # type: ignore[no-untyped-def]
        task, event = record_visit(self.task, result, "grid worker Wang", D(2026, 9, 10))
        assert (task.status, task.result, event.num_rows) == ("open", result, 0)
        c, r = self.after(event)
        assert (c["status"], r["status"]) == ("pending_review", "hold")

    def test_machine_negative_evidence_alone_never_stops(self) -> None:
        _, r = self.after(events())
        assert r["status"] == "hold"

    def test_a_visit_needs_a_known_result_and_a_worker(self) -> None:
        with pytest.raises(InputError, match="allowed"):
            record_visit(self.task, "gone", "Wang", D(2026, 9, 10))  # type: ignore[arg-type]
        with pytest.raises(InputError, match="worker"):
            record_visit(self.task, "moved", "", D(2026, 9, 10))


class TestStopRequests:
    def requests(self, confirmed: bool | None, by: str = "self") -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "request_id": "R1",
                    "person_id": "A",
                    "enrollment_id": None,
                    "requested_by": by,
                    "requested_on": D(2026, 6, 3),
                    "confirmed": confirmed,
                    "confirmed_on": D(2026, 6, 9) if confirmed else None,
                }
            ],
            schema=STOP_REQUEST,
        )

    @pytest.mark.parametrize(
        ("confirmed", "status"), [(None, "hold"), (True, "stop"), (False, "pay")]
    )
    def test_a_request_holds_at_once_and_stops_when_confirmed(self, confirmed, status) -> None:  # type: ignore[no-untyped-def]
        evs = events(ev("A", "RAIL", D(2026, 5, 1)))
        certs = certs_at(evs, D(2026, 6, 10), "A")
        enr = enrolments(enrolment("E1", "A"), enrolment("E2", "A", "OAA", department="CA"))
        rec = recognise(certs, enr, RULES, D(2026, 6, 10), stop_requests=self.requests(confirmed))
        assert {r["status"] for r in rec.to_pylist()} == {status}

    @pytest.mark.parametrize(
        ("confirmed", "status"), [(None, "pay"), (True, "stop"), (False, "pay")]
    )
    def test_a_request_by_someone_else_takes_effect_only_when_confirmed(
        self, confirmed: bool | None, status: str
    ) -> None:
        evs = events(ev("A", "RAIL", D(2026, 5, 1)))
        certs = certs_at(evs, D(2026, 6, 10), "A")
        enr = enrolments(enrolment("E1", "A"))
        asked = self.requests(confirmed, by="child")
        rec = recognise(certs, enr, RULES, D(2026, 6, 10), stop_requests=asked)
        assert {r["status"] for r in rec.to_pylist()} == {status}


class TestPayroll:
    def test_each_enrolment_of_the_department_is_pay_hold_or_stop_with_a_reason(self) -> None:
        evs = events(
            ev("A", "RAIL", D(2026, 5, 1)),
            ev("B", "CREMATION", D(2026, 5, 2), reported=D(2026, 5, 3)),
        )
        certs = certs_at(evs, D(2026, 6, 1), "A", "B")
        enr = enrolments(
            enrolment("E1", "A"),
            enrolment("E2", "B"),
            enrolment("E3", "A", "OAA", department="CA", amount=100),
        )
        sheet = payroll("HRSS", D(2026, 6, 1), certs, enr, RULES)
        decisions = {r["enrollment_id"]: (r["decision"], r["amount"]) for r in sheet.to_pylist()}
        assert decisions == {"E1": ("pay", 190), "E2": ("hold", 0)}
        assert all(r["reason"] for r in sheet.to_pylist())


class TestVillageList:
    def test_lists_held_and_suspended_persons_by_village(self) -> None:
        evs = events(ev("B", "CREMATION", D(2026, 5, 2), reported=D(2026, 5, 3)))
        people = persons("A", "B")
        listed = village_list(certs_at(evs, D(2026, 6, 1), "A", "B"), people)
        assert listed["person_id"].to_pylist() == ["B"]
        assert listed["village"].to_pylist() == ["341602001001"]


class TestReminders:
    @pytest.mark.parametrize(
        ("as_of", "number"),
        [
            (D(2027, 1, 11), None),
            (D(2027, 1, 12), 1),
            (D(2027, 1, 13), None),
            (D(2027, 2, 11), 2),
            (D(2027, 4, 11), None),
        ],
    )
    def test_reminders_fall_every_30_days_of_the_warning_period(self, as_of, number) -> None:  # type: ignore[no-untyped-def]
        rules = policy(baseline_certified_on=None)
        certs = certify(events(ev("A", "RAIL", D(2026, 1, 11))), persons("A"), rules, as_of)
        due = reminders_due(certs, rules, as_of)
        assert due["reminder_no"].to_pylist() == ([number] if number else [])


class TestPayrollArrears:
    def test_arrears_are_released_once_in_the_payroll_after_resumption(self) -> None:
        rules = policy(baseline_certified_on=None)
        evs = events(ev("A", "RAIL", D(2026, 1, 10)), ev("A", "SS_FACE", D(2027, 6, 15)))
        enr = enrolments(enrolment("E1", "A", amount=190))
        sheets = {}
        for month in (D(2027, 6, 1), D(2027, 7, 1), D(2027, 8, 1)):
            certs = certify(evs, persons("A"), rules, month)
            sheets[month] = row(payroll("HRSS", month, certs, enr, rules), "enrollment_id", "E1")
        assert sheets[D(2027, 6, 1)]["decision"] == "hold"
        assert (sheets[D(2027, 7, 1)]["decision"], sheets[D(2027, 7, 1)]["arrears_months"]) == (
            "pay",
            2,
        )
        assert sheets[D(2027, 7, 1)]["arrears_amount"] == 2 * 190
        assert sheets[D(2027, 8, 1)]["arrears_amount"] == 0


def test_a_never_certified_persons_task_keeps_its_id_day_after_day() -> None:
    rules = policy(baseline_certified_on=None)
    ids = [
        door_tasks(certify(events(), persons("A"), rules, day), persons("A"), rules, day)[
            "task_id"
        ].to_pylist()
        for day in (D(2026, 6, 1), D(2026, 6, 2))
    ]
    assert ids[0] == ids[1] and len(ids[0]) == 1
