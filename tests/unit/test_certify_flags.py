"""flags.detect() and the flag workflow."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from certify_fakes import D, enrolment, enrolments, ev, events, persons, policy

from linkgraph.casework import carry_flags
from linkgraph.catalogue import Catalogue
from linkgraph.certify import certify
from linkgraph.flags import (
    FLAG,
    IllegalTransition,
    detect,
    flags_from_table,
    flags_to_table,
    grade,
    merge,
    transition,
)

AS_OF = D(2026, 12, 31)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def run(people, enr, evs=None, catalogue=None):  # type: ignore[no-untyped-def]
    certs = certify(evs if evs is not None else events(), people, policy(), AS_OF)
    return detect(people, enr, certs, catalogue or Catalogue.load(), AS_OF)


def of_kind(flags, kind):  # type: ignore[no-untyped-def]
    return [f for f in flags.to_pylist() if f["kind"] == kind]


class TestDetect:
    def test_duplicate_enrolment_through_resolved_identity(self, catalogue: Catalogue) -> None:
        # Two roster records of one resolved person in one item, under different record ids.
        enr = enrolments(
            enrolment("HRSS-1", "A", "URRP", enrolled=D(2018, 1, 5)),
            enrolment("HRSS-2", "A", "URRP", enrolled=D(2026, 7, 20)),
            enrolment("HRSS-3", "B", "URRP"),
        )
        (flag,) = of_kind(run(persons("A", "B"), enr, catalogue=catalogue), "duplicate_enrolment")
        assert flag["person_ids"] == ["A"]
        assert flag["enrollment_ids"] == ["HRSS-1", "HRSS-2"]
        # the copy was paid from July to December 2026: 6 months x 190
        assert flag["amount_at_risk"] == 6 * 190

    def test_copies_started_the_same_day_put_the_same_money_at_risk_every_run(
        self, catalogue: Catalogue
    ) -> None:
        """Two copies of one item started on one day at different amounts: the first listed
        is the original, the other the copy, on every run and in any row order."""
        rows = [
            enrolment("HRSS-1", "A", "URRP", amount=190, enrolled=D(2026, 7, 1)),
            enrolment("HRSS-2", "A", "URRP", amount=300, enrolled=D(2026, 7, 1)),
        ]
        amounts = {
            of_kind(
                run(persons("A"), enrolments(*order), catalogue=catalogue), "duplicate_enrolment"
            )[0]["amount_at_risk"]
            for order in [rows, rows[::-1]] * 3
        }
        assert amounts == {6 * 300}  # HRSS-1 is listed first: the copy is HRSS-2

    def test_exclusive_conflict(self, catalogue: Catalogue) -> None:
        enr = enrolments(
            enrolment("E1", "A", "URRP", amount=190, enrolled=D(2015, 1, 1)),
            enrolment("E2", "A", "EEP", amount=2650, enrolled=D(2026, 10, 3)),
            enrolment("E3", "A", "OAA", department="CA", amount=100),
        )
        (flag,) = of_kind(run(persons("A"), enr, catalogue=catalogue), "exclusive_conflict")
        assert sorted(flag["enrollment_ids"]) == ["E1", "E2"]
        assert flag["months"] == 3  # October to December together
        assert flag["amount_at_risk"] == 3 * 190

    def test_paid_after_death_months_and_amount(self, catalogue: Catalogue) -> None:
        evs = events(ev("A", "DEATH_CERT", D(2026, 8, 20), reported=D(2026, 8, 22)))
        enr = enrolments(
            enrolment("E1", "A", "URRP", amount=190, paid_until=D(2026, 11, 1)),
            enrolment("E2", "A", "OAA", department="CA", amount=100, paid_until=D(2026, 8, 1)),
        )
        (flag,) = of_kind(run(persons("A"), enr, evs, catalogue), "paid_after_death")
        # August (the month of death) is due; September, October, November are not.
        assert (flag["enrollment_ids"], flag["months"]) == (["E1"], 3)
        assert flag["amount_at_risk"] == 3 * 190
        assert flag["evidence_event_keys"]

    def test_a_couple_sharing_a_phone_at_one_address_is_not_a_ring(
        self, catalogue: Catalogue
    ) -> None:
        home = {"address": "王楼村3组7号", "phone": "13900000001"}
        people = persons(
            "A",
            "B",
            "C",
            "D",
            A=home,
            B=home,
            C={"phone": "13900000002"},
            D={"phone": "13900000002"},
        )
        enr = enrolments(*(enrolment(f"E{p}", p, "URRP") for p in "ABCD"))
        phones = of_kind(run(people, enr, catalogue=catalogue), "shared_phone")
        assert [f["person_ids"] for f in phones] == [["C", "D"]]

    def test_a_bank_account_shared_by_unrelated_payees(self, catalogue: Catalogue) -> None:
        enr = enrolments(
            enrolment("E1", "A", "URRP", bank="6217000000000001"),
            enrolment("E2", "B", "URRP", bank="6217000000000001"),
            enrolment("E3", "C", "DIBAO", department="CA", amount=520, bank="6217000000000001"),
            enrolment("E4", "D", "URRP", bank="6217000000000009"),
        )
        (flag,) = of_kind(
            run(persons("A", "B", "C", "D"), enr, catalogue=catalogue), "shared_bank_account"
        )
        assert flag["person_ids"] == ["A", "B", "C"]
        assert flag["amount_at_risk"] == 190 + 190 + 520  # paid into it each month

    def test_flags_keep_accounts_and_phones_masked(self, catalogue: Catalogue) -> None:
        """At rest (flags.parquet, the report) an account or phone shows its last digits
        only; two accounts alike in those digits are still two flags."""
        enr = enrolments(
            enrolment("E1", "A", "URRP", bank="6217000000001234"),
            enrolment("E2", "B", "URRP", bank="6217000000001234"),
            enrolment("E3", "C", "URRP", bank="6217999999991234"),
            enrolment("E4", "D", "URRP", bank="6217999999991234"),
        )
        people = persons("A", "B", "C", "D", C={"phone": "13900000002"}, D={"phone": "13900000002"})
        found = run(people, enr, catalogue=catalogue)
        accounts = of_kind(found, "shared_bank_account")
        assert len({f["flag_id"] for f in accounts}) == 2
        (phone,) = of_kind(found, "shared_phone")
        for f in [*accounts, phone]:
            assert "0000000" not in f["key"] + f["detail"] and "9999999" not in f["detail"]
        assert {f["key"] for f in accounts} == {"************1234"}
        assert phone["key"] == "139****0002" and "139****0002" in phone["detail"]

    def test_one_id_number_with_different_names(self, catalogue: Catalogue) -> None:
        same = {"id_number": "341602195001011234"}
        people = persons("A", "B", A={**same, "name": "王秀英"}, B={**same, "name": "王秀珍"})
        enr = enrolments(enrolment("E1", "A"), enrolment("E2", "B"))
        (flag,) = of_kind(run(people, enr, catalogue=catalogue), "id_name_mismatch")
        assert flag["person_ids"] == ["A", "B"]

    def test_flag_ids_are_stable_across_runs(self, catalogue: Catalogue) -> None:
        enr = enrolments(enrolment("E1", "A"), enrolment("E2", "A"))
        first = run(persons("A"), enr, catalogue=catalogue)["flag_id"].to_pylist()
        again = run(persons("A"), enr, catalogue=catalogue)["flag_id"].to_pylist()
        assert first == again and len(first) == 1


class TestWorkflow:
    def setup_method(self) -> None:
        enr = enrolments(enrolment("E1", "A"), enrolment("E2", "A"))
        self.table = run(persons("A"), enr)
        (self.flag,) = flags_from_table(self.table)

    def test_open_confirmed_recovered_with_history(self) -> None:
        at = dt.datetime(2027, 1, 5, 9, 0, tzinfo=dt.UTC)
        f = transition(self.flag, "confirmed", "inspector Li", "two records, one person", at=at)
        owed = self.flag.amount_at_risk
        f = transition(f, "recovered", "clerk Zhao", "repaid by bank", amount=owed, at=at)
        assert (f.status, f.amount_recovered) == ("recovered", owed)
        assert [(h.from_status, h.to_status, h.who) for h in f.history] == [
            ("open", "confirmed", "inspector Li"),
            ("confirmed", "recovered", "clerk Zhao"),
        ]
        assert self.flag.status == "open"  # the original is unchanged

    @pytest.mark.parametrize(
        ("path", "illegal"),
        [([], "recovered"), (["dismissed"], "confirmed"), (["confirmed"], "open")],
    )
    def test_illegal_transitions_are_refused(self, path: list[str], illegal: str) -> None:
        f = self.flag
        for step in path:
            f = transition(f, step, "li", "step")  # type: ignore[arg-type]
        with pytest.raises(IllegalTransition, match="cannot move"):
            transition(f, illegal, "li", "nope")  # type: ignore[arg-type]

    def test_recovered_needs_an_amount_and_who(self) -> None:
        f = transition(self.flag, "confirmed", "li", "checked")
        with pytest.raises(IllegalTransition, match="amount"):
            transition(f, "recovered", "li", "repaid")
        with pytest.raises(IllegalTransition, match="who and why"):
            transition(f, "dismissed", " ", "x")

    def test_merge_keeps_investigators_work_on_rerun(self) -> None:
        worked = transition(self.flag, "confirmed", "li", "checked at the counter")
        saved = flags_to_table([worked])
        rerun = merge(self.table, saved)
        (again,) = flags_from_table(rerun)
        assert again.status == "confirmed"
        assert again.history[0].why == "checked at the counter"


class TestSeverity:
    """The policy's [flags] severity: a late death report is routine, a long one a case."""

    def deaths(self, catalogue: Catalogue):  # type: ignore[no-untyped-def]
        people = persons("A", "B")
        enr = enrolments(
            enrolment("E1", "A", paid_until=D(2026, 10, 1)),  # died in September: one month
            enrolment("E2", "B", paid_until=D(2026, 12, 1)),  # died in March: nine months
        )
        evs = events(
            ev("A", "DEATH_CERT", D(2026, 9, 20), reported=D(2026, 9, 21)),
            ev("B", "DEATH_CERT", D(2026, 3, 5), reported=D(2026, 3, 6)),
        )
        return grade(run(people, enr, evs, catalogue), policy())

    def test_one_month_of_reporting_lag_is_routine(self, catalogue: Catalogue) -> None:
        graded = {f["enrollment_ids"][0]: f for f in self.deaths(catalogue).to_pylist()}
        assert (graded["E1"]["months"], graded["E1"]["severity"]) == (1, "routine")
        assert (graded["E2"]["months"], graded["E2"]["severity"]) == (9, "suspicious")

    def test_the_policy_decides_what_is_routine(self, catalogue: Catalogue) -> None:
        people = persons("A")
        enr = enrolments(enrolment("E1", "A", paid_until=D(2026, 10, 1)))
        evs = events(ev("A", "DEATH_CERT", D(2026, 9, 20)))
        strict = policy(flags={"severity": {"paid_after_death": "suspicious"}})
        [flag] = grade(run(people, enr, evs, catalogue), strict).to_pylist()
        assert flag["severity"] == "suspicious"
        unlisted = policy(flags={"default_severity": "review"})
        [flag] = grade(run(people, enr, evs, catalogue), unlisted).to_pylist()
        assert flag["severity"] == "review"


def test_flags_of_a_version_written_before_severities_carry_over(catalogue: Catalogue) -> None:
    """A data folder whose current version predates [flags]: its flags carry over, graded."""
    people = persons("A")
    enr = enrolments(enrolment("E1", "A", paid_until=D(2026, 10, 1)))
    evs = events(ev("A", "DEATH_CERT", D(2026, 9, 20)))
    found = run(people, enr, evs, catalogue)
    old = found.drop_columns(["severity"]).set_column(
        found.schema.get_field_index("raised_on"), "raised_on", pa.array([D(2026, 10, 31)])
    )
    carried = grade(carry_flags(found, old, FLAG.empty_table()), policy())
    [flag] = carried.to_pylist()
    assert (flag["raised_on"], flag["severity"]) == (D(2026, 10, 31), "routine")
