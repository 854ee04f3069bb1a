"""``linkgraph simulate``: a small generated city through twelve months of the monthly cycle."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from linkgraph.cli import app
from linkgraph.config import Settings, get_settings
from linkgraph.ledger import Journal
from linkgraph.monthly import MONTHLY_FIELDS
from linkgraph.pipeline import run_city
from linkgraph.simulate import Simulation, simulate_city
from linkgraph.synth import GeneratorConfig, generate_city
from linkgraph.versions import Versions


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    # cases of every kind to work; sentences and departures for good a few a month (at the
    # default rates a city this size sees about one a year)
    config = GeneratorConfig.load()
    more = {"imprisoned": 0.01, "left_city": 0.01}
    config = config.model_copy(update={"situations": config.situations.model_copy(update=more)})
    generate_city(out, 3000, months=12, seed=2, fraud=100, config=config)
    return out


@pytest.fixture(scope="module")
def year(city: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, Path]:
    data = tmp_path_factory.mktemp("data")
    return simulate_city(city, 12, settings=Settings(data_dir=data)), data


def test_every_kind_of_monthly_event_happens(year: tuple[Simulation, Path]) -> None:
    sim, _ = year
    assert [m["month"] for m in sim.monthly] == [f"2026-{m:02d}" for m in range(1, 13)]
    # an offset taken from arrears needs a suspicious case whose person is suspended and then
    # found: rare in a city this size (tests/unit/test_arrears_offsets.py shows it)
    for key in set(MONTHLY_FIELDS[1:]) - {"arrears_offset"}:
        assert sum(m[key] for m in sim.monthly) > 0, key
    # the work follows the month before: nothing is visited or decided in the first month
    assert sim.monthly[0]["visits_done"] == sim.monthly[0]["flags_confirmed"] == 0


def test_sentences_and_departures_follow_their_course(year: tuple[Simulation, Path]) -> None:
    """A sentence suspends without a door check until release; a departure for good is held
    for a door check and stopped once the worker confirms it."""
    sim, _ = year
    assert max(m["serving_sentence"] for m in sim.monthly) >= 2
    assert sum(m["released"] for m in sim.monthly) >= 1
    assert sum(m["left_confirmed"] for m in sim.monthly[1:]) >= 3
    villages = sim.out / "villages"
    suspected = [r for p in villages.glob("*-suspected.csv") for r in pacsv.read_csv(p).to_pylist()]
    confirmed = [r for p in villages.glob("*-confirmed.csv") for r in pacsv.read_csv(p).to_pylist()]
    assert any("serving a sentence" in r["reason"] for r in suspected)
    assert any("left the city for good confirmed at the door" in r["reason"] for r in confirmed)


def test_tip_offs_arrive_every_month_and_are_checked_at_the_door(
    year: tuple[Simulation, Path],
) -> None:
    sim, _ = year
    received = [m["tipoffs_received"] for m in sim.monthly]
    assert sum(received) >= 12 and sum(r > 0 for r in received) >= 9  # a few a month
    assert 0 < sum(m["tipoffs_checked"] for m in sim.monthly[1:]) <= sum(received)
    assert sim.monthly[0]["tipoffs_checked"] == 0  # checked the month after, at the earliest


def test_offsets_and_write_offs_are_counted_apart_from_cash(year: tuple[Simulation, Path]) -> None:
    sim, _ = year
    cash, offset, off = (
        sum(m[k] for m in sim.monthly)
        for k in ("recovered_yuan", "offset_yuan", "written_off_yuan")
    )
    assert cash > 0 and offset > 0 and off > 0
    report = json.loads((sim.out / "report.json").read_text(encoding="utf-8"))
    assert sum(f["written_off"] for f in report["flags"]) > 0
    # what a flag recovered is cash and offsets; what was written off is kept apart
    assert report["totals"]["amount_written_off"] == off
    assert report["totals"]["amount_recovered"] == cash + offset


def test_each_month_writes_its_notices_and_village_lists(year: tuple[Simulation, Path]) -> None:
    sim, _ = year
    notices = [pacsv.read_csv(sim.out / "notices" / f"2026-{m:02d}.csv") for m in range(1, 13)]
    assert [n.num_rows for n in notices] == [m["reminders_sent"] for m in sim.monthly]
    channels = {c for n in notices for c in n["channel"].to_pylist()}
    assert channels == {"sms", "letter"}
    assert all(n.num_rows == 0 or all(n["send_to"].to_pylist()) for n in notices)
    confirmed = [
        pacsv.read_csv(sim.out / "villages" / f"2026-{m:02d}-confirmed.csv") for m in range(2, 13)
    ]
    reasons = " ".join(r for t in confirmed for r in t["reason"].to_pylist())
    assert "death confirmed at the door" in reasons and "confirmed:" in reasons
    suspected = pacsv.read_csv(sim.out / "villages" / "2026-12-suspected.csv")
    assert suspected.num_rows > 0 and set(suspected.column_names) >= {"village", "person_id"}


def test_a_death_confirmed_at_the_door_leaves_the_suspected_lists(
    year: tuple[Simulation, Path],
) -> None:
    """Once a grid worker confirms a death, the person is on that month's confirmed list and
    on no later list of suspects; the certification says payment stops, not that it waits."""
    sim, _ = year
    villages = sim.out / "villages"
    confirmed_in: dict[str, int] = {}
    for month in range(2, 13):
        for row in pacsv.read_csv(villages / f"2026-{month:02d}-confirmed.csv").to_pylist():
            if "death confirmed at the door" in row["reason"]:
                confirmed_in.setdefault(row["person_id"], month)
    assert len(confirmed_in) >= 3
    for month in range(2, 13):
        suspected = pacsv.read_csv(villages / f"2026-{month:02d}-suspected.csv").to_pylist()
        late = [r for r in suspected if confirmed_in.get(r["person_id"], 13) <= month]
        assert late == [], (month, late[:2])
    for row in pacsv.read_csv(villages / "2026-12-suspected.csv").to_pylist():
        assert "confirmed by a door check" not in row["reason"]


def test_the_report_shows_the_year_against_the_reform(year: tuple[Simulation, Path]) -> None:
    sim, _ = year
    report = json.loads((sim.out / "report.json").read_text(encoding="utf-8"))
    assert report["monthly"] == sim.monthly and report["months_observed"] == 12
    assert {r["measure"] for r in report["reform"]} >= {"suspicious_cases_per_month"}
    page = (sim.out / "report.html").read_text(encoding="utf-8")
    assert "Month by month" in page and page.count("<svg") >= 7


def test_the_simulation_leaves_the_data_folder_alone(year: tuple[Simulation, Path]) -> None:
    """No version served, no ledger line, no report: the simulation's linking is its own."""
    sim, data = year
    assert Versions(data).current() is None
    assert Journal.of(data).read() == []
    assert not (data / "report").exists()
    assert (sim.out / "report.json").exists()


def test_the_command_keeps_the_live_version_and_its_persons(city: Path, tmp_path: Path) -> None:
    """Simulating after a run: the run's version stays in service, as of its own date, with
    its ledger as it was; the simulated months speak of the run's persons."""
    data = tmp_path / "data"
    live = run_city(city, settings=Settings(data_dir=data), load_store=False)
    assert live.version is not None
    ledger_before = Journal.of(data).read()
    get_settings.cache_clear()
    result = CliRunner().invoke(
        app,
        ["simulate", str(city), "--months", "2", "--out", str(tmp_path / "sim")],
        env={"LINKGRAPH_DATA_DIR": str(data)},
    )
    assert result.exit_code == 0, result.output
    assert "2026-02" in result.output and (tmp_path / "sim" / "report.html").exists()
    served = Versions(data).current()
    assert served is not None and served.id == live.version.id
    assert served.meta["as_of"] == live.as_of.isoformat()
    assert Journal.of(data).read() == ledger_before
    persons = live.tables["persons"].to_pydict()
    names = dict(zip(persons["person_id"], persons["name"], strict=True))
    notices = pacsv.read_csv(tmp_path / "sim" / "notices" / "2026-02.csv").to_pylist()
    assert notices and all(names.get(n["person_id"]) == n["name"] for n in notices)
