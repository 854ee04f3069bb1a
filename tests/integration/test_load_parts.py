"""The embedded store's part-by-part load: the same store as one ``load``, the same refusals.

``GraphStore.load_parts`` writes :func:`~linkgraph.graph.model.graph_parts` one part
at a time; the checks ``load`` makes over the whole graph (a key repeated across
parts, a dangling reference) run in SQL before the commit.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from graph_city import truth_records
from truth_inputs import truth_inputs

from linkgraph.catalogue import Catalogue
from linkgraph.errors import InputError
from linkgraph.graph import GraphStore, GraphTables
from linkgraph.graph import model as graph_model
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.graph.model import build_graph, graph_parts
from linkgraph.synth import generate_city

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


def test_the_default_load_parts_merges_the_parts(tmp_path: Path) -> None:
    """What Neo4j does: one ``load`` of the merged parts."""
    store = EmbeddedStore(tmp_path / "g.duckdb")
    parts = [
        _part({"Person": ["P1"], "EvidenceEvent": ["RAIL:1"]}),
        _part({"EvidenceEvent": ["RAIL:2"]}),
    ]
    report = GraphStore.load_parts(store, parts)
    assert report.rows["EvidenceEvent"] == 2
    assert store.counts()["EvidenceEvent"] == 2
