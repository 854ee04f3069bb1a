"""The generator writes a city a user can rely on: valid IDs, the reform's shape, planted cases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linkgraph import normalise
from linkgraph.catalogue import Catalogue
from linkgraph.cli import app
from linkgraph.synth import CitySummary, GeneratorConfig, generate_city
from linkgraph.tables import EVENT, ROSTER

PERSONS = 4000


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CitySummary]:
    out = tmp_path_factory.mktemp("city")
    return out, generate_city(out, PERSONS, months=12, seed=7, fraud=100)  # every situation


def _read(path: Path) -> pa.Table:
    return ds.dataset(path, format="parquet").to_table()


def test_true_id_numbers_carry_valid_check_characters(city: tuple[Path, CitySummary]) -> None:
    out, _ = city
    persons = pq.read_table(out / "truth" / "persons.parquet")
    status = normalise.resident_ids(persons["id_number"])["id_status"]
    assert pc.all(pc.equal(status, "valid")).as_py()
    assert len(pc.unique(persons["id_number"])) == PERSONS


def test_feeds_follow_the_published_formats(city: tuple[Path, CitySummary]) -> None:
    out, _ = city
    catalogue = Catalogue.load()
    rosters = sorted(p.stem for p in (out / "rosters").glob("*.parquet"))
    assert set(rosters) == {i.department for i in catalogue.benefit_items}
    assert _read(out / "rosters").schema.equals(ROSTER)
    assert {p.stem for p in (out / "events").glob("*.parquet")} == {
        c.code for c in catalogue.channels
    }
    assert _read(out / "events").schema.equals(EVENT)


def test_every_planted_situation_is_in_the_truth(city: tuple[Path, CitySummary]) -> None:
    _, summary = city
    expected = {
        "death",
        "paid_after_death",
        "proxy_card_use",
        "no_trace",
        "duplicate_enrolment",
        "exclusive_conflict",
        "shared_bank_account",
        "twin",
        "same_name_neighbour",
    }
    assert expected <= {k for k, n in summary.situations.items() if n > 0}


def test_the_product_never_sees_the_truth(city: tuple[Path, CitySummary]) -> None:
    out, _ = city
    for column in ("person_id", "death_date", "no_trace"):
        assert column not in _read(out / "rosters").column_names
        assert column not in _read(out / "events").column_names


def test_same_seed_same_city_other_seed_other_city(
    tmp_path: Path, city: tuple[Path, CitySummary]
) -> None:
    out, _ = city
    again = generate_city(tmp_path / "again", PERSONS, months=12, seed=7, fraud=100)
    other = generate_city(tmp_path / "other", PERSONS, months=12, seed=8, fraud=100)
    for part in ("rosters/HRSS.parquet", "events/BUS_TAP.parquet", "truth/situations.parquet"):
        assert pq.read_table(out / part).equals(pq.read_table(tmp_path / "again" / part)), part
    assert not pq.read_table(out / "rosters/HRSS.parquet").equals(
        pq.read_table(tmp_path / "other/rosters/HRSS.parquet")
    )
    assert again.situations == json.loads((out / "manifest.json").read_text())["situations"]
    assert other.events != again.events


def test_rates_match_the_reform_within_tolerance(city: tuple[Path, CitySummary]) -> None:
    out, summary = city
    per_person_year = summary.events / PERSONS
    assert 24 <= per_person_year <= 32  # 38.37 M records for 1.36 M people: about 28
    persons = pq.read_table(out / "truth" / "persons.parquet")
    dead_share = persons["death_date"].is_valid().to_numpy(zero_copy_only=False).mean()
    assert 0.02 <= dead_share <= 0.08  # elderly mortality over one year
    records = _read(out / "rosters")
    ids = records["id_number"].drop_null()
    legacy_share = pc.mean(pc.equal(pc.utf8_length(ids), 15)).as_py()
    cfg = GeneratorConfig.load()
    assert abs(legacy_share - cfg.corruption.id_legacy_15) < 0.02
    status = normalise.resident_ids(records["id_number"])["id_status"]
    invalid = pc.mean(pc.equal(status, "invalid")).as_py()
    assert 0.005 < invalid < 0.05  # a wrong digit or a transposition, about 2 %
    per_person = records.num_rows / PERSONS
    assert 1.2 < per_person < 2.5


def test_roster_spellings_vary_as_departments_write(city: tuple[Path, CitySummary]) -> None:
    out, _ = city
    records = _read(out / "rosters")
    names = records["name"].drop_null().to_pylist()
    simplified = normalise.names(pa.array(names)).to_pylist()
    assert sum(a != b for a, b in zip(names, simplified, strict=True)) > len(names) * 0.03
    births = records["birth_date"].drop_null().to_pylist()
    assert any("年" in b for b in births) and any("/" in b for b in births)
    assert any(len(b) == 8 and b.isdigit() for b in births)
    phones = records["phone"].drop_null().to_pylist()
    assert any(p.startswith("+86") for p in phones) and any("-" in p for p in phones)


def test_the_dead_leave_only_proxy_traces_after_death(city: tuple[Path, CitySummary]) -> None:
    out, _ = city
    persons = pq.read_table(out / "truth" / "persons.parquet", columns=["person_id", "death_date"])
    events = _read(out / "events").select(["event_id", "channel", "occurred_on"])
    truth = _read(out / "truth" / "events")
    joined = events.join(
        truth.cast(
            pa.schema(
                [("event_id", pa.int64()), ("person_id", pa.string()), ("by_proxy", pa.bool_())]
            )
        ),
        "event_id",
    ).join(persons, "person_id")
    positive = pc.invert(
        pc.is_in(
            joined["channel"],
            pa.array(["DEATH_CERT", "CREMATION", "HUKOU_CANCEL", "VILLAGE_DEATH_REPORT"]),
        )
    )
    after = pc.and_(positive, pc.greater_equal(joined["occurred_on"], joined["death_date"]))
    after_rows = joined.filter(pc.fill_null(after, False))
    assert after_rows.num_rows > 0
    assert pc.all(after_rows["by_proxy"]).as_py()
    weak = {c.code for c in Catalogue.load().channels if c.strength == "weak"}
    assert set(after_rows["channel"].to_pylist()) <= weak


def test_overpaid_amounts_are_months_times_the_monthly_amount(
    city: tuple[Path, CitySummary],
) -> None:
    out, summary = city
    situations = pq.read_table(out / "truth" / "situations.parquet")
    paid = situations.filter(pc.equal(situations["kind"], "paid_after_death")).to_pylist()
    records = {r["record_id"]: r for r in _read(out / "rosters").to_pylist()}
    assert paid
    for row in paid:
        assert row["amount"] == row["months"] * records[row["record_ids"][0]]["monthly_amount"]
    assert sum(r["amount"] for r in paid) == summary.paid_after_death_yuan


def test_twins_share_birth_and_home_but_not_id(city: tuple[Path, CitySummary]) -> None:
    out, _ = city
    persons = pq.read_table(out / "truth" / "persons.parquet").to_pylist()
    by_id = {p["person_id"]: p for p in persons}
    twins = [p for p in persons if p["twin_of"]]
    assert twins
    for p in twins:
        q = by_id[p["twin_of"]]
        assert (p["birth_date"], p["surname"], p["address"]) == (
            q["birth_date"],
            q["surname"],
            q["address"],
        )
        assert p["given_name"] != q["given_name"] and p["id_number"] != q["id_number"]


def test_cli_seed_writes_a_city_and_prints_its_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["seed", "--persons", "300", "--months", "3", "--out", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
    assert "roster records" in result.output
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["persons"] == 300 and manifest["months"] == 3
    assert np.isclose(manifest["events"], sum(manifest["events_by_channel"].values()))


def test_a_city_has_bozhous_shape_at_any_size(tmp_path: Path) -> None:
    """About 10 persons a grid, in a proportional subset of the villages; last in-person
    certifications spread through the year before the window; few irregularities."""
    summary = generate_city(tmp_path, PERSONS, months=12, seed=3)
    persons = pq.read_table(tmp_path / "truth" / "persons.parquet")
    grids = len(pc.unique(persons["grid"]))
    assert 9 <= PERSONS / grids <= 11
    assert len(pc.unique(persons["village"])) < len(Catalogue.load().villages) / 10
    visits = pq.read_table(tmp_path / "events" / "GRID_VISIT.parquet")
    before = visits.filter(pc.less(visits["occurred_on"], pa.scalar(dt.date(2026, 1, 1))))
    assert before.num_rows == PERSONS  # everyone's last check before the reform
    months = pc.unique(pc.strftime(before["occurred_on"], format="%Y-%m")).to_pylist()
    # ... on dates through the whole year, not one campaign day (and, for a person in prison
    # then, before the sentence)
    assert len([m for m in months if m.startswith("2025")]) == 12
    earlier = before.filter(pc.less(before["occurred_on"], pa.scalar(dt.date(2025, 1, 1))))
    assert earlier.num_rows <= persons["sentence_from"].is_valid().to_numpy(False).sum()
    assert summary.situations.get("duplicate_enrolment", 0) <= 2


def _events_with_truth(out: Path) -> pa.Table:
    events = _read(out / "events").select(["event_id", "channel", "occurred_on"])
    truth = _read(out / "truth" / "events").select(["event_id", "person_id", "by_proxy"])
    return events.join(truth.cast(pa.schema([("event_id", pa.int64()), ("person_id", pa.string()),
                                             ("by_proxy", pa.bool_())])), "event_id")  # fmt: skip


def test_persons_living_elsewhere_are_certified_by_another_city_or_a_video_call(
    city: tuple[Path, CitySummary],
) -> None:
    """A small share lives in another city: no trace in the city's channels (only last year's
    check), most certified through another city's data or a video call."""
    out, _ = city
    persons = pq.read_table(out / "truth" / "persons.parquet")
    away = set(persons.filter(persons["lives_elsewhere"])["person_id"].to_pylist())
    assert 0.01 <= len(away) / PERSONS <= 0.03
    start = GeneratorConfig.load().start_date
    joined = _events_with_truth(out)
    theirs = joined.filter(
        pc.and_(
            pc.and_(
                pc.is_in(joined["person_id"], pa.array(sorted(away))),
                pc.invert(joined["by_proxy"]),  # their own, not a dead person's card used
            ),
            pc.greater_equal(joined["occurred_on"], pa.scalar(start, pa.date32())),
        )
    )
    remote = {"OTHER_CITY", "VIDEO_CALL"}
    negative = {c.code for c in Catalogue.load().channels if c.polarity == "negative"}
    assert set(theirs["channel"].to_pylist()) <= remote | negative
    reached = {p for p, c in zip(theirs["person_id"].to_pylist(),
                                 theirs["channel"].to_pylist(), strict=True) if c in remote}  # fmt: skip
    assert len(reached) >= 0.8 * len(away)  # 90 % of them, less those who died early


def test_departures_leave_no_trace_and_sentences_end_in_release(
    city: tuple[Path, CitySummary],
) -> None:
    out, _ = city
    persons = pq.read_table(out / "truth" / "persons.parquet")
    joined = _events_with_truth(out).join(
        persons.select(["person_id", "left_on", "sentence_from", "released_on"]), "person_id"
    )
    after = joined.filter(
        pc.and_(
            pc.fill_null(pc.greater(joined["occurred_on"], joined["left_on"]), False),
            pc.invert(joined["by_proxy"]),
        )
    )
    assert set(after["channel"].to_pylist()) <= {"HUKOU_MOVED_OUT", "EMIGRATED",
                                                 "VILLAGE_LEFT_REPORT"}  # fmt: skip
    left = joined.filter(pc.is_in(joined["channel"], pa.array(["HUKOU_MOVED_OUT", "EMIGRATED"])))
    assert left.num_rows > 0 and pc.all(pc.equal(left["occurred_on"], left["left_on"])).as_py()
    for channel, day in (("IMPRISONED", "sentence_from"), ("PRISON_RELEASE", "released_on")):
        rows = joined.filter(pc.equal(joined["channel"], channel))
        assert rows.num_rows > 0, channel
        assert pc.all(pc.equal(rows["occurred_on"], rows[day])).as_py(), channel
