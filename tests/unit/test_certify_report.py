"""The monthly report and ``linkgraph certify`` on a tiny city of hand-built tables."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from certify_fakes import D, enrolment, enrolments, ev, events, persons
from typer.testing import CliRunner

from linkgraph.charts import bar_chart
from linkgraph.cli import app
from linkgraph.config import get_settings


def tiny_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    pq.write_table(persons("A", "B", "C"), folder / "persons.parquet")
    pq.write_table(
        enrolments(
            enrolment("E1", "A"),
            enrolment("E2", "A", "OAA", department="CA", amount=100),
            enrolment("E3", "B", paid_until=D(2026, 12, 1)),
            enrolment("E4", "C"),
            enrolment("E5", "C"),
        ),
        folder / "enrollments.parquet",
    )
    pq.write_table(
        events(
            ev("A", "WST_FACE", D(2026, 11, 2)),
            ev("B", "DEATH_CERT", D(2026, 9, 14), reported=D(2026, 9, 15)),
        ),
        folder / "events.parquet",
    )
    return folder


def _env(tmp_path: Path) -> dict[str, str]:
    """The commands' data folder (settings are read once per process: forget earlier ones)."""
    get_settings.cache_clear()
    return {"LINKGRAPH_DATA_DIR": str(tmp_path / "data")}


@dataclass
class _Desk:
    """A tiny city certified once, its paid-after-death flag, and a clerk at the command line."""

    runner: CliRunner
    args: list[str]
    out: Path
    flag: dict[str, Any]

    def decide(self, *extra: str) -> tuple[int, str]:
        """The clerk's ``linkgraph flag`` step: its exit code and its output on one line."""
        command = ["flag", self.flag["flag_id"], "--who", "clerk Zhao", *extra]
        result = self.runner.invoke(app, command)
        return result.exit_code, " ".join(result.output.split())

    def next_month(self) -> dict[str, Any]:
        """Next month's run, which replays the ledger: the flag as it left it."""
        assert self.runner.invoke(app, self.args).exit_code == 0
        (after,) = [
            f for f in pq.read_table(self.out / "flags.parquet").to_pylist()
            if f["flag_id"] == self.flag["flag_id"]
        ]  # fmt: skip
        return after


def _clerk_with_a_dead_persons_flag(tmp_path: Path) -> _Desk:
    inputs = tiny_inputs(tmp_path / "linked")
    out = tmp_path / "data" / "report"
    args = ["certify", str(tmp_path), "--inputs", str(inputs), "--as-of", "2026-12-31"]
    runner = CliRunner(env=_env(tmp_path))
    assert runner.invoke(app, args).exit_code == 0
    (dead,) = [
        f for f in pq.read_table(out / "flags.parquet").to_pylist()
        if f["kind"] == "paid_after_death"
    ]  # fmt: skip
    return _Desk(runner, args, out, dead)


def test_certify_command_writes_json_and_an_offline_html_page(tmp_path: Path) -> None:
    inputs = tiny_inputs(tmp_path / "linked")
    out = tmp_path / "data" / "report"  # one place: the data folder's report
    result = CliRunner().invoke(
        app,
        ["certify", str(tmp_path), "--inputs", str(inputs), "--as-of", "2026-12-31"],
        env=_env(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "Certification as of 2026-12-31" in result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # C has left no trace since the policy's floor (2025-01-01): warned, then suspended
    assert report["certification"] == {
        "certified_strong": 1,
        "pending_review": 1,
        "suspended": 1,
    }
    kinds = {f["kind"]: f for f in report["flags"]}
    assert kinds["paid_after_death"]["amount_at_risk"] == 3 * 190  # Oct, Nov, Dec
    assert kinds["duplicate_enrolment"]["flags"] == 1
    assert report["totals"]["tasks"] == 2  # B's door check, C's expiring carry-over
    assert {i["item_code"] for i in report["items"]} == {"URRP", "OAA"}
    assert sum(g["tasks"] for g in report["tasks_by_grid_top"]) == 2
    assert sum(v["tasks"] for v in report["tasks_by_village"]) == 2

    # one month, and the table against the reform with every measure
    [month] = report["monthly"]
    assert (month["month"], month["certified_by_data"], month["suspended"]) == ("2026-12", 1, 1)
    reform = {row["measure"]: row for row in report["reform"]}
    assert reform["persons_per_occupied_grid"]["city"] == 1.0  # A, B, C: a grid each
    assert reform["paid_per_person_month"]["bozhou"] == 443.4
    assert reform["suspicious_cases_per_month"]["scaled"] == pytest.approx(
        reform["suspicious_cases_per_month"]["city"] * 1_360_000 / 3
    )

    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") >= 4
    assert "Against the reform" in page and "Month by month" in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)


def test_missing_inputs_are_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["certify", str(tmp_path), "--inputs", str(tmp_path / "nowhere")], env=_env(tmp_path)
    )
    assert result.exit_code == 1
    assert "persons.parquet" in result.output


def test_bar_chart_escapes_labels() -> None:
    svg = bar_chart([("<b>王楼村</b>", 3), ("李寨村", 1)])
    assert "&lt;b&gt;王楼村" in svg and "<b>" not in svg


def test_flag_workflow_survives_the_next_monthly_run(tmp_path: Path) -> None:
    desk = _clerk_with_a_dead_persons_flag(tmp_path)
    runner, args, out, dead = desk.runner, desk.args, desk.out, desk.flag

    def move(*extra: str) -> str:
        result = runner.invoke(app, ["flag", dead["flag_id"], *extra])
        return result.output

    assert "confirmed" in move("--to", "confirmed", "--who", "inspector Li", "--why", "cremated")
    assert "cannot move" in move("--to", "open", "--who", "li", "--why", "oops")
    assert "recovered" in move(
        "--to", "recovered", "--who", "clerk Zhao", "--why", "bank", "--amount", "570"
    )

    assert runner.invoke(app, args).exit_code == 0  # next month's run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    kinds = {f["kind"]: f for f in report["flags"]}
    assert kinds["paid_after_death"]["recovered"] == 1
    assert report["totals"]["amount_recovered"] == 570


def test_a_recovery_is_checked_against_the_amount_at_risk_and_corrected_by_reversal(
    tmp_path: Path,
) -> None:
    desk = _clerk_with_a_dead_persons_flag(tmp_path)
    dead, decide, out = desk.flag, desk.decide, desk.out
    assert dead["amount_at_risk"] == 570

    assert decide("--to", "confirmed", "--why", "cremated")[0] == 0
    code, said = decide("--to", "recovered", "--why", "bank", "--amount", "99999")
    assert code == 1 and "beyond the ¥570 at risk" in said
    code, said = decide("--to", "recovered", "--why", "first instalment", "--amount", "300")
    assert code == 0 and "recovering" in said and "¥300 of ¥570" in said
    code, said = decide("--to", "recovered", "--why", "typo: 207", "--amount", "270")
    assert code == 0 and "recovered" in said
    code, said = decide("--to", "reverse", "--why", "the 270 was a typing error")
    assert code == 0 and "recovering" in said and "¥300 of ¥570" in said
    code, said = decide(
        "--to", "recovered", "--why", "rest with interest", "--amount", "280",
        "--over-recovery-reason", "¥10 interest for the late months",
    )  # fmt: skip
    assert code == 0 and "¥580 of ¥570" in said

    after = desk.next_month()
    assert (after["status"], after["amount_recovered"]) == ("recovered", 580)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["amount_recovered"] == 580
    steps = json.loads(after["history"])
    assert [s["to_status"] for s in steps] == [
        "confirmed", "recovering", "recovered", "recovering", "recovered",
    ]  # fmt: skip
    assert steps[3]["reverses"] == 2


def test_an_offset_a_correction_and_a_write_off_survive_the_next_run_and_are_reported_apart(
    tmp_path: Path,
) -> None:
    desk = _clerk_with_a_dead_persons_flag(tmp_path)
    decide, out = desk.decide, desk.out

    assert decide("--to", "confirmed", "--why", "cremated")[0] == 0
    code, said = decide("--to", "corrected", "--amount", "380", "--why", "two months, not three")
    assert code == 0 and "confirmed" in said and "¥0 of ¥380" in said
    code, said = decide(
        "--to", "recovered", "--kind", "offset", "--amount", "100",
        "--why", "arrears of the resumed pension kept",
    )  # fmt: skip
    assert code == 0 and "recovering" in said and "¥100 of ¥380" in said
    code, said = decide("--to", "written_off", "--amount", "280", "--why", "no estate")
    assert code == 0 and "written_off" in said and "¥280 written off" in said

    after = desk.next_month()
    assert (after["status"], after["amount_at_risk"], after["amount_recovered"]) == (
        "written_off",
        380,
        100,
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    kinds = {f["kind"]: f for f in report["flags"]}
    assert (
        kinds["paid_after_death"]["written_off"],
        kinds["paid_after_death"]["amount_written_off"],
    ) == (1, 280)
    assert (report["totals"]["amount_recovered"], report["totals"]["amount_written_off"]) == (
        100,
        280,
    )
    (month,) = report["monthly"]  # the steps count in the month they were taken (today's)
    taken_this_month = dt.date.today().strftime("%Y-%m") == month["month"]
    assert (month["recovered_yuan"], month["offset_yuan"], month["written_off_yuan"]) == (
        (0, 100, 280) if taken_this_month else (0, 0, 0)
    )
