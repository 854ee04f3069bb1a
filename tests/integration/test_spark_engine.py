"""`linkgraph run --engine spark` against the embedded engine on one small city.

The same city through both engines (Spark in local mode, real shuffles and Python
workers): the same person for every record, the same answer for every enrolment,
person, task and flag, the same events file and report; a reviewer's decision honoured
alike on the next run. Spark's driver never collects the city's events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkgraph.config import Settings
from linkgraph.link.cluster import connected_labels
from linkgraph.link.state import StateStore
from linkgraph.pipeline import RunResult, run_city
from linkgraph.synth import generate_city

pytestmark = pytest.mark.spark

KEYS = {
    "resolution": "record_id",
    "persons": "person_id",
    "enrollments": "enrollment_id",
    "certifications": "person_id",
    "recognitions": "enrollment_id",
    "tasks": "task_id",
    "flags": "flag_id",
}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    # three times the roster errors: twins, legacy IDs and slips for the guard to weigh
    generate_city(out, 1500, months=6, seed=23, errors=3.0, fraud=100)
    return out


def _settings(root: Path, engine: str) -> Settings:
    return Settings(data_dir=root / engine, engine=engine, spark_partitions=4)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")


#: what the Spark run's driver collected with ``DataFrame.toArrow``: each table's columns
#: and rows (filled by the ``runs`` fixture)
COLLECTED: list[tuple[list[str], int]] = []


@pytest.fixture(scope="module")
def runs(city: Path, root: Path) -> dict[str, RunResult]:
    from pyspark.sql.classic.dataframe import DataFrame  # the frames of a local session

    to_arrow = DataFrame.toArrow

    def recorded(frame: DataFrame) -> pa.Table:
        table = to_arrow(frame)
        COLLECTED.append((table.column_names, table.num_rows))
        return table

    found = {"embedded": run_city(city, settings=_settings(root, "embedded"), load_store=False)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DataFrame, "toArrow", recorded)
        found["spark"] = run_city(city, settings=_settings(root, "spark"), load_store=False)
    return found


def _differences(a: pa.Table, b: pa.Table, key: str) -> list[str]:
    a, b = a.sort_by(key), b.sort_by(key)
    assert a.num_rows == b.num_rows
    return [c for c in a.column_names if not a.column(c).equals(b.column(c))]


def test_spark_gives_the_same_person_for_every_record(runs: dict[str, RunResult]) -> None:
    embedded, spark = runs["embedded"].tables, runs["spark"].tables
    assert embedded["resolution"].num_rows > 1500
    assert _differences(embedded["resolution"], spark["resolution"], "record_id") == []
    merged = pc.count_distinct(spark["resolution"]["person_id"]).as_py()
    assert merged < spark["resolution"].num_rows  # records were linked, not left alone


@pytest.mark.parametrize("table", ["certifications", "recognitions", "tasks", "flags"])
def test_spark_gives_the_same_answer_for_every_enrolment_person_task_and_flag(
    runs: dict[str, RunResult], table: str
) -> None:
    embedded, spark = runs["embedded"].tables[table], runs["spark"].tables[table]
    assert embedded.num_rows > 0
    assert _differences(embedded, spark, KEYS[table]) == []


def _events_file(run: RunResult) -> pa.Table:
    """The version's events file, in its order."""
    assert run.version is not None
    return pa.ipc.open_file(pa.memory_map(str(run.version.path / "events.arrow"))).read_all()


def test_spark_writes_the_same_events_file_and_index(runs: dict[str, RunResult]) -> None:
    """The same events, in the same persons' order, indexed alike (a person's events may
    come in another order: the file is ordered by person only)."""
    import pyarrow.parquet as pq

    by_person = [("person_id", "ascending"), ("channel", "ascending"), ("event_id", "ascending")]
    files = {engine: _events_file(run) for engine, run in runs.items()}
    assert files["embedded"].num_rows > 10_000
    assert files["spark"].sort_by(by_person).equals(files["embedded"].sort_by(by_person))
    assert files["spark"]["person_id"].equals(files["embedded"]["person_id"])
    by_id = {}
    index = {}
    for engine, run in runs.items():
        assert run.version is not None
        index[engine] = pq.read_table(run.version.path / "event_index.parquet")
        ids = np.load(run.version.path / "event_ids.npy")
        rows = np.load(run.version.path / "event_rows.npy")
        events = files[engine].take(pa.array(rows))
        assert np.array_equal(events["event_id"].to_numpy(), ids)  # each id finds its row
        by_id[engine] = events.sort_by([("event_id", "ascending"), ("channel", "ascending")])
    assert index["spark"].equals(index["embedded"])
    assert by_id["spark"].equals(by_id["embedded"])


def test_spark_reports_the_same_figures(runs: dict[str, RunResult]) -> None:
    embedded, spark = runs["embedded"].report, runs["spark"].report
    assert embedded["totals"]["events"] > 10_000
    for key in ("totals", "reform", "certification"):
        assert spark[key] == embedded[key]
    by_channel = {
        engine: sorted(run.report["channels"], key=lambda c: c["channel"])
        for engine, run in runs.items()
    }
    assert by_channel["spark"] == by_channel["embedded"]


def test_the_spark_driver_never_collects_the_events(runs: dict[str, RunResult]) -> None:
    """The workers write the events file's parts; the driver streams them: no frame of
    events (nor any frame as long) reaches the driver whole."""
    from linkgraph.tables import LINKED_EVENT

    events = runs["embedded"].report["totals"]["events"]
    assert COLLECTED, "the driver collects the decisions with toArrow"
    collected = [
        (columns, rows)
        for columns, rows in COLLECTED
        if set(LINKED_EVENT.names) <= set(columns) or ("event_id" in columns and rows >= events)
    ]
    assert not collected


def test_the_guard_decides_alike_on_both_engines(runs: dict[str, RunResult]) -> None:
    saved = {
        engine: StateStore(run.version.linkage).load()
        for engine, run in runs.items()
        if run.version is not None
    }
    decisions = {
        engine: sorted(
            zip(
                *(snap.decisions.column(c).to_pylist() for c in ("record_a", "record_b", "rule")),
                strict=True,
            )
        )
        for engine, snap in saved.items()
        if snap is not None and snap.decisions is not None
    }
    assert decisions["embedded"], "the stressed city gives the guard something to refuse"
    assert decisions["spark"] == decisions["embedded"]
    assert saved["spark"].meta["engine"] == "spark"


def test_a_reviewers_decision_holds_on_the_next_spark_run(
    city: Path, root: Path, runs: dict[str, RunResult]
) -> None:
    """Force two records of one person apart on both engines: the next runs split them
    alike, and every other record keeps its person ID."""
    first = runs["spark"].tables["resolution"]
    sizes = pc.value_counts(first["person_id"])
    pair = sizes.filter(pc.greater_equal(sizes.field("counts"), 2))[0]["values"].as_py()
    records = first.filter(pc.equal(first["person_id"], pair))["record_id"].to_pylist()[:2]
    again = {}
    for engine, run in runs.items():
        assert run.version is not None
        StateStore(run.version.linkage).add_override(
            "apart", records[0], records[1], "li.wei", "two people, checked at the door"
        )
        rerun = run_city(city, settings=_settings(root, engine), load_store=False)
        again[engine] = rerun.tables["resolution"]
    assert _differences(again["embedded"], again["spark"], "record_id") == []
    split = again["spark"].filter(pc.is_in(again["spark"]["record_id"], pa.array(records)))
    assert len(set(split["person_id"].to_pylist())) == 2
    before = dict(zip(first["record_id"].to_pylist(), first["person_id"].to_pylist(), strict=True))
    after = again["spark"]
    moved = [
        r
        for r, p in zip(after["record_id"].to_pylist(), after["person_id"].to_pylist(), strict=True)
        if before[r] != p
    ]
    assert set(moved) <= set(records)


def test_large_star_small_star_finds_the_components_connected_labels_finds() -> None:
    from linkgraph.spark.components import connected_components
    from linkgraph.spark.session import spark_session

    rng = np.random.default_rng(7)
    n = 3000
    a = rng.integers(0, n, 2000)
    b = rng.integers(0, n, 2000)
    path = rng.permutation(np.arange(2000, 2600))  # a long path of shuffled nodes
    a, b = np.r_[a, path[:-1]], np.r_[b, path[1:]]
    spark = spark_session(Settings(spark_partitions=4))
    edges = spark.createDataFrame(pa.table({"l": a, "r": b}))
    found = connected_components(edges).toArrow()
    expected = connected_labels(n, a, b)
    nodes = found["node"].to_numpy()
    assert len(nodes) == len(np.unique(nodes))  # one component per node
    assert np.array_equal(found["component"].to_numpy(), expected[nodes])
    lonely = np.setdiff1d(np.arange(n), nodes)
    assert np.array_equal(expected[lonely], lonely)  # the rest stand alone


def test_a_feed_sent_twice_and_a_bad_row_are_read_alike(city: Path, tmp_path: Path) -> None:
    """Ingest on Spark keeps a re-sent row once and names a bad row as in process."""
    import shutil

    import pyarrow.parquet as pq

    from linkgraph.catalogue import Catalogue
    from linkgraph.pipeline import EmbeddedEngine
    from linkgraph.spark.engine import SparkEngine
    from linkgraph.spark.session import spark_session
    from linkgraph.tables import ROSTER

    rosters = tmp_path / "rosters"
    shutil.copytree(city / "rosters", rosters)
    first = sorted(rosters.glob("*.parquet"))[0]
    again = pq.read_table(first).slice(0, 40)
    bad = again.slice(0, 1).set_column(
        again.schema.get_field_index("record_id"), "record_id", pa.array(["X-1"])
    )
    bad = bad.set_column(bad.schema.get_field_index("item_code"), "item_code", pa.array(["NOPE"]))
    pq.write_table(pa.concat_tables([again, bad]), rosters / "ZZ_resent.parquet")
    catalogue = Catalogue.load()
    ledger = ROSTER.empty_table()
    embedded = EmbeddedEngine().read_rosters(rosters, catalogue, ledger)
    spark = SparkEngine(spark_session(Settings(spark_partitions=4)))
    on_spark = spark.read_rosters(rosters, catalogue, ledger)
    assert embedded.repeated == on_spark.repeated == 40
    assert [str(r) for r in on_spark.rejected] == [str(r) for r in embedded.rejected]
    assert any(r.key == "X-1" and r.field == "item_code" for r in on_spark.rejected)
    assert on_spark.table.equals(embedded.table)
