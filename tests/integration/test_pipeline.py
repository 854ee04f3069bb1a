"""The whole job on a small city, on the embedded store: what a user of `linkgraph run` relies on."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from linkgraph.config import Settings
from linkgraph.graph import open_store
from linkgraph.link import pairwise_scores
from linkgraph.pipeline import RunResult, run_city
from linkgraph.synth import generate_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, 3000, months=12, seed=11, fraud=100)
    return out


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), backend="embedded")


@pytest.fixture(scope="module")
def first_run(city: Path, settings: Settings) -> RunResult:
    return run_city(city, settings=settings)


def test_records_resolve_to_the_true_persons(city: Path, first_run: RunResult) -> None:
    truth = pq.read_table(city / "truth" / "records.parquet")
    scores = pairwise_scores(truth, first_run.tables["resolution"])
    assert scores.precision >= 0.99 and scores.recall >= 0.97, scores


def test_evidence_reaches_the_right_person(city: Path, first_run: RunResult) -> None:
    linked = first_run.tables["events"]
    truth = ds.dataset(city / "truth" / "events").to_table(columns=["event_id", "person_id"])
    truth = truth.set_column(1, "true_person", truth["person_id"].cast(pa.string()))
    records = pq.read_table(city / "truth" / "records.parquet")
    # Map our person ids to true ones through the records each person holds.
    ours = first_run.tables["resolution"].join(records, "record_id", right_suffix="_true")
    to_true = dict(
        zip(ours["person_id"].to_pylist(), ours["person_id_true"].to_pylist(), strict=True)
    )
    joined = linked.join(truth, "event_id")
    tied = joined.filter(pc.is_valid(joined["person_id"]))
    assert tied.num_rows / joined.num_rows > 0.9
    right = sum(
        to_true.get(p) == t
        for p, t in zip(tied["person_id"].to_pylist(), tied["true_person"].to_pylist(), strict=True)
    )
    assert right / tied.num_rows > 0.99


def test_every_event_and_record_is_accounted_for(city: Path, first_run: RunResult) -> None:
    rosters = {p.name for p in (city / "rosters").glob("*.parquet")}
    refused_records = sum(1 for r in first_run.rejected if r.source in rosters)
    assert first_run.rows("records") + refused_records == ds.dataset(city / "rosters").count_rows()
    assert first_run.rows("events") == ds.dataset(city / "events").count_rows()  # well-formed feeds
    assert first_run.rows("enrollments") == first_run.rows("records")


def test_the_store_holds_what_the_run_produced(settings: Settings, first_run: RunResult) -> None:
    with open_store(settings) as store:
        counts = store.counts()
    assert counts["Person"] == first_run.rows("persons")
    assert counts["Enrollment"] == first_run.rows("enrollments")
    tied = pc.sum(pc.is_valid(first_run.tables["events"]["person_id"])).as_py()
    assert counts["EvidenceEvent"] == tied


def test_a_rerun_keeps_person_ids_and_adds_nothing_twice(
    city: Path, settings: Settings, first_run: RunResult
) -> None:
    second = run_city(city, settings=settings)
    assert (
        second.tables["resolution"]
        .sort_by("record_id")
        .equals(first_run.tables["resolution"].sort_by("record_id"))
    )
    with open_store(settings) as store:
        counts = store.counts()
    assert counts["Person"] == first_run.rows("persons")
    assert counts["SourceRecord"] == first_run.rows("records")
