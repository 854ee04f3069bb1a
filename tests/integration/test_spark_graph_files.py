"""Spark's ``neo4j-admin`` import files are the in-process writer's, row for row.

A small city's graph, written once by :func:`linkgraph.graph.neo4j_store.write_import_csv`
and once by Spark (:func:`linkgraph.spark.graph.write_import_files`, in parts): every
label and type has the same header and the same rows, as sets. No Neo4j server is
started: the files are compared as files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.graph import load_schema, open_store
from linkgraph.graph.model import GraphTables, merge
from linkgraph.graph.neo4j_store import write_import_csv
from linkgraph.pipeline import graph_parts_of_run, run_city
from linkgraph.policy import Policy
from linkgraph.spark.graph import write_import_files
from linkgraph.spark.session import spark_session
from linkgraph.synth import generate_city

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> GraphTables:
    city = tmp_path_factory.mktemp("city")
    generate_city(city, 400, months=3, seed=41, fraud=20)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    t = run_city(city, settings=settings, load_store=False).tables
    policy = Policy.load(settings.seed_dir / "policy.toml")
    parts = graph_parts_of_run(t, Catalogue(settings.catalogue_dir), policy)
    return merge(parts).conformed(load_schema())


def _lines(files: list[Path]) -> tuple[str, list[str]]:
    """A label's header and its rows, sorted, from its files (the first holds the header)."""
    text = [f.read_text(encoding="utf-8").splitlines() for f in files]
    return text[0][0], sorted(line for part in [text[0][1:], *text[1:]] for line in part)


def test_spark_writes_the_import_files_the_embedded_path_writes(
    graph: GraphTables, tmp_path: Path
) -> None:
    schema = load_schema()
    here_nodes, here_rels = write_import_csv(schema, graph, tmp_path / "embedded")
    spark = spark_session(Settings(data_dir=tmp_path, spark_partitions=3))
    spark_nodes, spark_rels = write_import_files(spark, schema, graph, tmp_path / "spark")
    for here, there in ((here_nodes, spark_nodes), (here_rels, spark_rels)):
        assert [name for name, _ in here] == [name for name, _ in there]
        for (name, files), (_, parts) in zip(here, there, strict=True):
            header, rows = _lines(files)
            assert _lines(parts) == (header, rows), name
            assert len(rows) == graph.counts()[name]
    assert {"EvidenceEvent", "Person"} <= {name for name, _ in spark_nodes}
    assert max(len(parts) for _, parts in spark_nodes + spark_rels) > 2  # tasks wrote parts


def test_a_neo4j_store_takes_its_import_files_from_the_runs_engine(tmp_path: Path) -> None:
    def writer(*_: object) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, list[Path]]]]:
        return [], []

    settings = Settings(data_dir=tmp_path, backend="neo4j")
    with open_store(settings, import_files=writer) as store:
        assert store.import_files is writer  # type: ignore[attr-defined]


def test_keys_are_ranked_across_the_sorts_parts(tmp_path: Path) -> None:
    import pyarrow as pa

    from linkgraph.graph.neo4j_store import ranked_keys
    from linkgraph.spark.graph import _ranked

    spark = spark_session(Settings(data_dir=tmp_path))
    keys = pa.array([f"K{n * 7919 % 1000}" for n in range(1000)])
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # keep the sort's seven parts
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        ranks = _ranked(spark.createDataFrame(pa.table({"k": keys})), "k").toArrow()
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")
    ranks = ranks.sort_by("_rank")
    assert ranks["_rank"].to_pylist() == list(range(1000))
    ordered, rank = ranked_keys(keys)
    assert ranks["k"].to_pylist() == ordered.to_pylist()
    assert ordered.take(rank).to_pylist() == keys.to_pylist()
