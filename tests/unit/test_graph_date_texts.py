"""Issue 13: a date in a Neo4j Browser caption shows without quotes.

Neo4j Browser 5 writes a DATE into a node's caption in quotes (``"2026-06-14"``) and GraSS
cannot format it, so each date a caption shows has a text copy in the graph Neo4j holds
(``death_date_text``, declared in ``cypher/schema.cypher``), written on every write of the
Neo4j store, and the style captions the copy. No server runs here: each write path is cut
where it would reach the server, and what it would write is read there.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from linkgraph.graph import GraphTables, load_schema, neo4j_store
from linkgraph.graph.model import with_date_texts
from linkgraph.graph.neo4j_store import Neo4jStore, write_import_csv
from linkgraph.graph.schema import GraphSchema

#: One node of each label whose caption shows a date; the second person is alive.
DATED = GraphTables(
    {
        "Person": pa.table(
            {
                "person_id": ["P1", "P2"],
                "masked_name": ["王*英", "李*"],
                "death_date": pa.array([dt.date(2026, 6, 14), None], pa.date32()),
            }
        ),
        "Certification": pa.table(
            {
                "cert_id": ["P1@cert"],
                "status": ["certified"],
                "valid_until": pa.array([dt.date(2027, 6, 30)], pa.date32()),
            }
        ),
        "EvidenceEvent": pa.table(
            {
                "event_key": ["WST_FACE:7"],
                "channel": ["WST_FACE"],
                "occurred_on": pa.array([dt.date(2026, 3, 1)], pa.date32()),
            }
        ),
        "Task": pa.table(
            {
                "task_id": ["door:P2"],
                "kind": ["door_knock"],
                "due_on": pa.array([dt.date(2027, 1, 31)], pa.date32()),
            }
        ),
    }
)
#: What each label's text copy reads, by key.
TEXTS = {
    "Person": {"P1": "2026-06-14", "P2": None},
    "Certification": {"P1@cert": "2027-06-30"},
    "EvidenceEvent": {"WST_FACE:7": "2026-03-01"},
    "Task": {"door:P2": "2027-01-31"},
}
COPIES = {
    "Person": "death_date_text",
    "Certification": "valid_until_text",
    "EvidenceEvent": "occurred_on_text",
    "Task": "due_on_text",
}


def _texts(graph: GraphTables) -> dict[str, dict[str, Any]]:
    schema = load_schema()
    return {
        label: {r[schema.key(label)]: r.get(COPIES[label]) for r in graph.nodes[label].to_pylist()}
        for label in COPIES
    }


def test_the_schema_gives_each_captioned_date_a_text_copy() -> None:
    schema = load_schema()
    assert {label: schema.node(label).date_texts for label in COPIES} == {
        "Person": {"death_date_text": "death_date"},
        "Certification": {"valid_until_text": "valid_until"},
        "EvidenceEvent": {"occurred_on_text": "occurred_on"},
        "Task": {"due_on_text": "due_on"},
    }


def test_a_date_is_copied_as_text_where_a_table_carries_it() -> None:
    out = with_date_texts(DATED.conformed(), load_schema())
    assert _texts(out) == TEXTS
    # in the schema's order, right after the date (the import files' columns follow it)
    assert out.nodes["Person"].column_names == [
        "person_id",
        "masked_name",
        "death_date",
        "death_date_text",
    ]
    # an upsert of other properties leaves the copy alone: it is not written at all
    flags = GraphTables({"Person": pa.table({"person_id": ["P1"], "open_flags": [1]})})
    assert with_date_texts(flags.conformed(), load_schema()).nodes["Person"].column_names == [
        "person_id",
        "open_flags",
    ]


def _store(
    monkeypatch: pytest.MonkeyPatch, audience: str, **kwargs: Any
) -> tuple[Neo4jStore, list[GraphTables]]:
    """A Neo4j store whose writes are kept here instead of reaching a server."""
    store = Neo4jStore(
        "bolt://127.0.0.1:1",
        "neo4j",
        "x",
        audience=audience,  # type: ignore[arg-type]
        pseudonym_key=b"k" * 32,
        **kwargs,
    )
    written: list[GraphTables] = []
    monkeypatch.setattr(store, "_bulk_load", written.append)
    monkeypatch.setattr(store, "_write_batch", written.append)
    return store, written


@pytest.mark.parametrize("audience", ["investigator", "analyst"])
def test_every_write_of_the_neo4j_store_carries_the_text_copies(
    audience: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load (the batched Cypher one or a graph too small for the importer), a load in
    parts and the live API's upserts."""
    store, written = _store(monkeypatch, audience)
    try:
        store.load(DATED)
        store.load_parts([DATED])
        store.upsert(DATED)
    finally:
        store.close()
    assert [_texts(graph) for graph in written] == [TEXTS] * 3


def _csv_column(files: list[Path], column: str) -> list[str]:
    """One column of a label's import files (a header file, then headerless parts)."""
    header = next(csv.reader(files[0].open(encoding="utf-8")))
    rows = [r for f in files[1:] for r in csv.reader(f.open(encoding="utf-8"))]
    return [r[header.index(column)] for r in rows]


@pytest.mark.parametrize("audience", ["investigator", "analyst"])
def test_the_importers_files_carry_the_text_copies(
    audience: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bulk load through ``neo4j-admin`` (the run's graph stage): the files the store
    writes in process, and the parts an engine's writer (Spark's) is given."""
    monkeypatch.setattr(neo4j_store, "ADMIN_IMPORT_MIN_ROWS", 1)
    given: list[GraphTables] = []

    def engine(schema: GraphSchema, parts: Iterable[GraphTables], folder: Path) -> Any:
        parts = list(parts)
        given.extend(parts)
        return write_import_csv(schema, parts, folder)

    files: dict[str, list[Path]] = {}
    for name, writer in (("in process", None), ("engine", engine)):
        store, _ = _store(monkeypatch, audience, import_files=writer)
        folder = tmp_path / name
        monkeypatch.setattr(
            store, "_admin_load", lambda write, folder=folder: files.update(write(folder)[0])
        )
        try:
            store.load_parts([DATED])
        finally:
            store.close()
        assert _csv_column(files["Person"], "death_date_text:string") == ["2026-06-14", ""]
        assert _csv_column(files["EvidenceEvent"], "occurred_on_text:string") == ["2026-03-01"]
        assert _csv_column(files["Task"], "due_on_text:string") == ["2027-01-31"]
    assert [_texts(part) for part in given] == [TEXTS]
