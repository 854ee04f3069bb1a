"""The part-by-part load: the same store as one ``load``, the same refusals.

``GraphStore.load_parts`` writes :func:`~linkgraph.graph.model.graph_parts` one part
at a time. The embedded store runs the checks ``load`` makes over the whole graph (a
key repeated across parts, a dangling reference) in SQL before the commit; Neo4j
writes each part's import files as it comes and checks across parts before importing.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from graph_city import truth_records
from truth_inputs import truth_inputs

from linkgraph.catalogue import Catalogue
from linkgraph.config import get_settings
from linkgraph.errors import InputError
from linkgraph.graph import GraphTables, load_schema, neo4j_store
from linkgraph.graph import model as graph_model
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.graph.model import build_graph, graph_parts
from linkgraph.graph.neo4j_store import Neo4jStore, write_import_csv
from linkgraph.synth import generate_city
from linkgraph.tables import LINKED_EVENT

pytestmark = pytest.mark.embedded

Inputs = tuple[Catalogue, pa.Table, pa.Table, pa.Table, pa.Table, pa.Table]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    city = tmp_path_factory.mktemp("city")
    generate_city(city, persons=300, months=12, seed=5, fraud=100)
    persons, enrollments, events = truth_inputs(city)
    records, resolution = truth_records(city)
    return Catalogue.load(), persons, records, resolution, enrollments, events


def _tables(store: EmbeddedStore) -> dict[str, pa.Table]:
    names = [r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    return {n: store.con.sql(f"SELECT * FROM {n}").to_arrow_table() for n in sorted(names)}


def test_parts_load_the_same_store_as_one_load(
    inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = EmbeddedStore(tmp_path / "whole.duckdb")
    whole.load(build_graph(*inputs))
    monkeypatch.setattr(graph_model, "EVENT_PART_ROWS", 1000)
    parts = EmbeddedStore(tmp_path / "parts.duckdb")
    report = parts.load_parts(graph_parts(*inputs))
    assert report.batches > 5  # the events came in several parts
    assert report.rows == {k: v for k, v in whole.counts().items() if k in report.rows}
    assert parts.counts() == whole.counts()
    assert _tables(parts) == _tables(whole)  # same rows, in the same (key) order
    first = parts.con.execute("SELECT min(event_key) FROM n_evidenceevent").fetchall()[0][0]
    assert (
        parts.con.execute("SELECT event_key FROM n_evidenceevent LIMIT 1").fetchall()[0][0] == first
    )


def test_events_read_from_a_reader_make_the_same_parts_as_the_table(
    inputs: Inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version's events file is read a batch at a time; the slices stay the table's."""
    monkeypatch.setattr(graph_model, "EVENT_PART_ROWS", 1000)
    *tables, events = inputs
    events = events.select(LINKED_EVENT.names).cast(LINKED_EVENT)
    reader = pa.RecordBatchReader.from_batches(LINKED_EVENT, events.to_batches(max_chunksize=700))

    def event_parts(events: pa.Table | pa.RecordBatchReader) -> list[GraphTables]:
        return [p for p in graph_parts(*tables, events) if "EvidenceEvent" in p.nodes]

    from_table = event_parts(events)
    assert len(from_table) > 5
    assert event_parts(reader) == from_table
    with pytest.raises(
        InputError, match=r"events: a reader of \['event_id'\], not of LINKED_EVENT"
    ):
        event_parts(pa.RecordBatchReader.from_batches(events.select(["event_id"]).schema, []))


def _part(
    nodes: dict[str, list[object]] | None = None, **rels: list[tuple[object, object]]
) -> GraphTables:
    keys = {"Person": "person_id", "EvidenceEvent": "event_key"}
    return GraphTables(
        {label: pa.table({keys[label]: values}) for label, values in (nodes or {}).items()},
        {
            rtype: pa.table({"start": [s for s, _ in ends], "end": [e for _, e in ends]})
            for rtype, ends in rels.items()
        },
    )


def test_a_dangling_reference_across_parts_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "g.duckdb")
    store.load_parts([_part({"Person": ["P1"]})])
    before = store.counts()
    parts = [
        _part({"Person": ["P2"], "EvidenceEvent": ["RAIL:1"]}),
        _part({"EvidenceEvent": ["RAIL:2"]}, HAS_EVIDENCE=[("P2", "RAIL:1"), ("P9", "RAIL:2")]),
    ]
    with pytest.raises(
        InputError,
        match=r"HAS_EVIDENCE relationship Person 'P9' -> EvidenceEvent 'RAIL:2': start node",
    ):
        store.load_parts(parts)
    assert store.counts() == before


def test_a_key_repeated_across_parts_is_refused(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "g.duckdb")
    with pytest.raises(InputError, match=r"EvidenceEvent 'RAIL:7': key 'event_key' repeated"):
        store.load_parts(
            [_part({"EvidenceEvent": ["RAIL:7", "RAIL:8"]}), _part({"EvidenceEvent": ["RAIL:7"]})]
        )


# ---------------------------------------------------------------- Neo4j, part by part


@pytest.fixture
def neo4j_big(neo4j_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Neo4jStore]:
    """A Neo4j store for which any graph is big enough for the importer."""
    monkeypatch.setattr(neo4j_store, "ADMIN_IMPORT_MIN_ROWS", 1)
    store = neo4j_server.store()
    try:
        yield store
    finally:
        store.close()


def _import_files() -> list[Path]:
    return sorted(get_settings().data_dir.glob("neo4j-import-*/*/*/part-*.csv"))


@pytest.mark.neo4j
def test_neo4j_writes_each_part_before_the_next_is_made_and_holds_the_whole_graph(
    inputs: Inputs, neo4j_big: Neo4jStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = EmbeddedStore(tmp_path / "whole.duckdb")
    whole.load(build_graph(*inputs))
    monkeypatch.setattr(graph_model, "EVENT_PART_ROWS", 1000)
    files_before_part: list[int] = []

    def watched() -> Iterator[GraphTables]:
        for part in graph_parts(*inputs):
            files_before_part.append(len(_import_files()))
            yield part

    report = neo4j_big.load_parts(watched())
    assert len(files_before_part) > 5  # the events came in several parts
    # each part after the first was asked for only once the one before it was on disk
    assert files_before_part[1] > 0
    assert all(a < b for a, b in itertools.pairwise(files_before_part[1:]))
    assert report.rows == {k: v for k, v in whole.counts().items() if k in report.rows}
    assert neo4j_big.counts() == whole.counts()
    person = inputs[1]["person_id"][0].as_py()
    assert neo4j_big.query("person_360", person_id=person) == whole.query(
        "person_360", person_id=person
    )


@pytest.mark.neo4j
def test_neo4j_refuses_a_dangling_reference_or_a_repeated_key_across_parts_and_keeps_its_graph(
    neo4j_big: Neo4jStore,
) -> None:
    neo4j_big.load_parts([_part({"Person": ["P1"]})])
    before = neo4j_big.counts()
    dangling = [
        _part({"Person": ["P2"], "EvidenceEvent": ["RAIL:1"]}),
        _part({"EvidenceEvent": ["RAIL:2"]}, HAS_EVIDENCE=[("P2", "RAIL:1"), ("P9", "RAIL:2")]),
    ]
    with pytest.raises(
        InputError,
        match=r"HAS_EVIDENCE relationship Person 'P9' -> EvidenceEvent 'RAIL:2': start node",
    ):
        neo4j_big.load_parts(dangling)
    with pytest.raises(InputError, match=r"EvidenceEvent 'RAIL:7': key 'event_key' repeated"):
        neo4j_big.load_parts(
            [_part({"EvidenceEvent": ["RAIL:7", "RAIL:8"]}), _part({"EvidenceEvent": ["RAIL:7"]})]
        )
    assert neo4j_big.counts() == before
    assert not _import_files()  # nothing left behind


def test_a_relationship_may_come_before_its_end_node(tmp_path: Path) -> None:
    """The in-process import files: ends found in a later part; ids read back as keys."""
    parts = [
        _part({"Person": ["P1", "P2"]}, HAS_EVIDENCE=[("P2", "RAIL:5"), ("P1", "RAIL:1")]),
        _part({"EvidenceEvent": ["RAIL:1", "RAIL:5"]}, HAS_EVIDENCE=[("P1", "RAIL:5")]),
    ]
    schema = load_schema()
    nodes, rels = write_import_csv(schema, [p.conformed(schema) for p in parts], tmp_path)
    files = dict(nodes + rels)

    def rows(name: str) -> list[list[str]]:
        return [row for f in files[name] for row in csv.reader(f.open(encoding="utf-8"))]

    person = {i: key for i, key in rows("Person")[1:]}
    event = {i: key for i, key, *_ in rows("EvidenceEvent")[1:]}
    assert rows("HAS_EVIDENCE")[0] == [":START_ID(Person)", ":END_ID(EvidenceEvent)"]
    assert sorted((person[s], event[e]) for s, e in rows("HAS_EVIDENCE")[1:]) == [
        ("P1", "RAIL:1"),
        ("P1", "RAIL:5"),
        ("P2", "RAIL:5"),
    ]


def test_the_import_files_refuse_a_key_repeated_across_parts(tmp_path: Path) -> None:
    parts = [_part({"EvidenceEvent": ["RAIL:7", "RAIL:8"]}), _part({"EvidenceEvent": ["RAIL:7"]})]
    schema = load_schema()
    with pytest.raises(InputError, match=r"EvidenceEvent 'RAIL:7': key 'event_key' repeated \(1 "):
        write_import_csv(schema, [p.conformed(schema) for p in parts], tmp_path)


def test_keys_that_only_share_a_hash_are_not_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across parts, only keys whose hashes meet are compared: a meeting is no repeat."""
    monkeypatch.setattr(
        neo4j_store, "_key_hashes", lambda con, keys: np.zeros(len(keys), dtype=np.uint64)
    )
    parts = [_part({"EvidenceEvent": ["RAIL:7", "RAIL:8"]}), _part({"EvidenceEvent": ["RAIL:9"]})]
    schema = load_schema()
    nodes, _ = write_import_csv(schema, [p.conformed(schema) for p in parts], tmp_path)
    assert [len(files) for label, files in nodes] == [3]  # the header and two parts
    repeated = [*parts, _part({"EvidenceEvent": ["RAIL:8"]})]
    with pytest.raises(InputError, match=r"EvidenceEvent 'RAIL:8': key 'event_key' repeated"):
        write_import_csv(schema, [p.conformed(schema) for p in repeated], tmp_path / "again")
