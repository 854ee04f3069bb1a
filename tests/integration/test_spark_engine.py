"""`linkgraph run --engine spark` against the embedded engine on one small city.

The same city through both engines (Spark in local mode, real shuffles and Python
workers): the same person for every record, the same answer for every enrolment,
person, task and flag; a reviewer's decision honoured alike on the next run.
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


@pytest.fixture(scope="module")
def runs(city: Path, root: Path) -> dict[str, RunResult]:
    return {
        engine: run_city(city, settings=_settings(root, engine), load_store=False)
        for engine in ("embedded", "spark")
    }


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
