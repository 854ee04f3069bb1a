"""An interrupted bulk import never leaves a half-written graph served as a whole one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from linkgraph.config import Settings
from linkgraph.errors import StoreError
from linkgraph.graph.neo4j_store import Neo4jStore
from linkgraph.neo4j_server import imports


def _store_files(home: Path, database: str, content: str) -> None:
    for part in imports.STORE_PARTS:
        folder = home / "data" / part / database
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "store").write_text(content)


def _content(home: Path, database: str = "neo4j") -> str | None:
    path = home / "data" / "databases" / database / "store"
    return path.read_text() if path.exists() else None


def _interrupted(home: Path) -> None:
    """The record left by an import whose process died (pid of a finished process)."""
    record = home / "data" / "linkgraph-import.json"
    found = json.loads(record.read_text())
    dead = subprocess.Popen(["true"])
    dead.wait()
    record.write_text(json.dumps({**found, "pid": dead.pid}))


def test_a_failed_import_brings_the_previous_graph_back(tmp_path: Path) -> None:
    _store_files(tmp_path, "neo4j", "previous graph")
    imports.begin(tmp_path, "neo4j")
    assert _content(tmp_path) is None  # set aside while the tool writes
    _store_files(tmp_path, "neo4j", "half written")
    assert "previous graph is back" in imports.restore(tmp_path)
    assert _content(tmp_path) == "previous graph"
    assert imports.state(tmp_path) is None


def test_an_import_killed_half_way_is_rolled_back_at_the_next_start(tmp_path: Path) -> None:
    _store_files(tmp_path, "neo4j", "previous graph")
    imports.begin(tmp_path, "neo4j")
    _store_files(tmp_path, "neo4j", "half written")
    _interrupted(tmp_path)  # kill -9 of the importing process
    assert "previous graph is back" in (imports.recover(tmp_path) or "")
    assert _content(tmp_path) == "previous graph"


def test_a_whole_import_replaces_the_graph_once_its_indexes_are_online(tmp_path: Path) -> None:
    _store_files(tmp_path, "neo4j", "previous graph")
    imports.begin(tmp_path, "neo4j")
    _store_files(tmp_path, "neo4j", "new graph")
    imports.imported(tmp_path)
    _interrupted(tmp_path)  # a crash before the constraints were made: nothing to roll back
    assert imports.recover(tmp_path) is None
    assert imports.state(tmp_path) is not None and imports.state(tmp_path).phase == "imported"
    imports.finish(tmp_path)
    assert _content(tmp_path) == "new graph"
    assert imports.state(tmp_path) is None
    assert not (tmp_path / "data" / "aside" / "neo4j" / "databases").exists()


def test_a_running_import_is_not_rolled_back_under_it(tmp_path: Path) -> None:
    imports.begin(tmp_path, "neo4j")
    record = tmp_path / "data" / "linkgraph-import.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "pid": os.getppid()}))
    with pytest.raises(imports.ImportRunning, match="is running"):
        imports.recover(tmp_path)


def test_a_failed_first_import_is_refused_not_served_empty(tmp_path: Path) -> None:
    imports.begin(tmp_path, "neo4j")  # no graph before it
    _store_files(tmp_path, "neo4j", "half written")
    _interrupted(tmp_path)
    assert "no graph before it" in (imports.recover(tmp_path) or "")
    assert _content(tmp_path) is None
    store = Neo4jStore("bolt://127.0.0.1:1", "neo4j", "x", settings=Settings(neo4j_home=tmp_path))
    with pytest.raises(StoreError, match="did not finish"):
        store.query("paid_after_death")
    store.close()
