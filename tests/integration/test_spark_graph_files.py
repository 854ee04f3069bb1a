"""Spark's ``neo4j-admin`` import files hold the in-process writer's rows.

A small city's graph, written once by :func:`linkgraph.graph.neo4j_store.write_import_csv`
(in the parts the run makes) and once by Spark (:func:`linkgraph.spark.graph.write_import_files`,
in its tasks' parts): every label and type has the same header and the same rows, as sets,
once each writer's import ids are read back as the nodes' keys (the two number nodes
differently). No Neo4j server is started: the files are compared as files.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from neo4j import GraphDatabase

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.graph import load_schema, neo4j_store, open_store
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.graph.model import GraphTables, merge
from linkgraph.graph.neo4j_store import write_import_csv
from linkgraph.pipeline import graph_parts_of_run, run_city
from linkgraph.policy import Policy
from linkgraph.spark.graph import write_import_files
from linkgraph.spark.session import spark_session
from linkgraph.synth import generate_city

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[GraphTables]:
    city = tmp_path_factory.mktemp("city")
    generate_city(city, 400, months=3, seed=41, fraud=20)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    t = run_city(city, settings=settings, load_store=False).tables
    policy = Policy.load(settings.seed_dir / "policy.toml")
    return [
        p.conformed(load_schema())
        for p in graph_parts_of_run(t, Catalogue(settings.catalogue_dir), policy)
    ]


def _read(files: list[Path]) -> tuple[list[str], list[tuple[str, ...]]]:
    """A label's or type's header and rows, every field as written, from its files (the
    first holds the header alone)."""
    header = next(csv.reader(files[0].open(encoding="utf-8")))
    rows = [tuple(r) for f in files[1:] for r in csv.reader(f.open(encoding="utf-8"))]
    return header, rows


def _by_key(
    nodes: list[tuple[str, list[Path]]], rels: list[tuple[str, list[Path]]]
) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    """Every label's and type's header and sorted rows, each import id read back as the
    key of the node it numbers."""
    schema = load_schema()
    key_of: dict[str, dict[str, str]] = {}
    out = {}
    for label, files in nodes:
        header, rows = _read(files)
        key = next(i for i, h in enumerate(header) if h.split(":")[0] == schema.node(label).key)
        key_of[label] = {r[0]: r[key] for r in rows}
        out[label] = (header, sorted(r[1:] for r in rows))
    for rtype, files in rels:
        header, rows = _read(files)
        start, end = schema.rel(rtype).start, schema.rel(rtype).end
        out[rtype] = (
            header,
            sorted((key_of[start][r[0]], key_of[end][r[1]], *r[2:]) for r in rows),
        )
    return out


def test_spark_writes_the_rows_the_embedded_path_writes(
    parts: list[GraphTables], tmp_path: Path
) -> None:
    schema = load_schema()
    here = _by_key(*write_import_csv(schema, parts, tmp_path / "embedded"))
    spark = spark_session(Settings(data_dir=tmp_path, spark_partitions=3))
    spark_nodes, spark_rels = write_import_files(spark, schema, parts, tmp_path / "spark")
    there = _by_key(spark_nodes, spark_rels)
    assert sorted(here) == sorted(there)
    counts = merge(parts).counts()
    for name, (header, rows) in here.items():
        assert there[name] == (header, rows), name
        assert len(rows) == counts[name]
    assert {"EvidenceEvent", "Person"} <= {name for name, _ in spark_nodes}
    assert max(len(files) for _, files in spark_nodes + spark_rels) > 2  # tasks wrote parts


@pytest.mark.neo4j
def test_neo4j_imports_sparks_files_and_answers_as_the_embedded_store(
    parts: list[GraphTables], neo4j_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neo4j_store, "ADMIN_IMPORT_MIN_ROWS", 1)  # the importer, at any size
    spark = spark_session(Settings(data_dir=tmp_path, spark_partitions=3))
    store = neo4j_server.store(
        import_files=lambda schema, graph, folder: write_import_files(spark, schema, graph, folder)
    )
    embedded = EmbeddedStore(tmp_path / "embedded.duckdb")
    embedded.load(merge(parts))
    try:
        report = store.load_parts(parts)
        assert store.counts() == embedded.counts()
        assert report.rows == {k: v for k, v in embedded.counts().items() if k in report.rows}
        for name in ("paid_after_death", "shared_identifiers"):
            rows = embedded.query(name)
            assert rows, name  # the city has fraud: each query has rows to compare
            assert store.query(name) == rows, name
        person = merge(parts).nodes["Person"]["person_id"][0].as_py()
        assert store.query("person_360", person_id=person) == embedded.query(
            "person_360", person_id=person
        )
        # the store gave Spark its parts with the Browser's captions' dates as text too
        with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
            events = driver.execute_query(
                "MATCH (e:EvidenceEvent) RETURN count(e) AS events,"
                " count(CASE WHEN e.occurred_on_text = toString(e.occurred_on) THEN 1 END)"
                " AS texts"
            ).records[0]
        assert events["texts"] == events["events"] > 0
    finally:
        store.close()


def test_a_neo4j_store_takes_its_import_files_from_the_runs_engine(tmp_path: Path) -> None:
    def writer(*_: object) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, list[Path]]]]:
        return [], []

    settings = Settings(data_dir=tmp_path, backend="neo4j")
    with open_store(settings, import_files=writer) as store:
        assert store.import_files is writer  # type: ignore[attr-defined]


def test_keys_are_ranked_across_the_sorts_parts(tmp_path: Path) -> None:
    import pyarrow as pa

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
    assert ranks["k"].to_pylist() == sorted(keys.to_pylist())
