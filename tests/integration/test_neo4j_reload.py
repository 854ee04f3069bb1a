"""Loading a small graph into a Neo4j database that holds a big one.

A load under ``ADMIN_IMPORT_MIN_ROWS`` goes through batched Cypher, which first deletes
what the database holds, row by row: on a database holding the city (31 M rows) that
ran out of heap. A database holding that many rows is replaced by the importer instead.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import pytest

from linkgraph.graph import GraphTables, neo4j_store


def _persons(count: int, tag: str) -> GraphTables:
    return GraphTables(
        nodes={"Person": pa.table({"person_id": [f"{tag}-{i:05d}" for i in range(count)]})}
    )


@pytest.mark.neo4j
def test_a_small_load_onto_a_big_database_replaces_it_by_import(
    neo4j_server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(neo4j_store, "ADMIN_IMPORT_MIN_ROWS", 200)  # "big" at this size
    store = neo4j_server.store()
    try:
        store.load(_persons(300, "BIG"))
        assert store.counts()["Person"] == 300
        with caplog.at_level(logging.INFO, logger=neo4j_store.log.name):
            store.load(_persons(3, "SMALL"))
        assert any("neo4j-admin import" in r.getMessage() for r in caplog.records)
        assert store.counts()["Person"] == 3
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=neo4j_store.log.name):
            store.load(_persons(2, "TINY"))  # the database now holds little: Cypher
        assert not any("neo4j-admin import" in r.getMessage() for r in caplog.records)
        assert store.counts()["Person"] == 2
    finally:
        store.close()
