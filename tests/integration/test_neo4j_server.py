"""The project's Neo4j server: Bolt with auth, the Browser, and bulk import with the admin tool."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from linkgraph.config import Settings, get_settings
from linkgraph.neo4j_server import Neo4jServerError, admin_import, start, status, stop
from linkgraph.neo4j_server.server import ADMIN_TOOL, MARKER

if TYPE_CHECKING:
    from conftest import Neo4jConnection

pytestmark = pytest.mark.neo4j


def test_bolt_answers_cypher_with_auth(neo4j_server: Neo4jConnection) -> None:
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        records, _, _ = driver.execute_query("RETURN 1 + 1 AS two")
        assert records[0]["two"] == 2
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition RETURN *"
        )
    component = records[0]
    assert component["name"] == "Neo4j Kernel"
    assert component["versions"][0].startswith("5.26.")
    assert component["edition"] == "community"


def test_wrong_password_is_refused(neo4j_server: Neo4jConnection) -> None:
    with (
        GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, "not-the-password")) as d,
        pytest.raises(AuthError),
    ):
        d.verify_connectivity()


def test_browser_is_served(neo4j_server: Neo4jConnection) -> None:
    page = httpx.get(neo4j_server.browser_url, timeout=10.0)
    assert page.status_code == 200
    assert "Neo4j Browser" in page.text
    discovery = httpx.get(neo4j_server.http_url + "/", timeout=10.0).json()
    assert discovery["neo4j_edition"] == "community"
    assert discovery["bolt_direct"].endswith(neo4j_server.uri.rsplit(":", 1)[1])


def test_status_and_idempotent_start(neo4j_server: Neo4jConnection) -> None:
    before = status()
    assert before.running and before.pid is not None
    assert before.version is not None and before.version.startswith("5.26.")
    assert start().pid == before.pid  # a running server is left alone


# ----------------------------------------------------------------- admin import
# Importing replaces the whole `neo4j` database (Community has no other user
# database), so it runs on a scratch server of its own that shares the jars,
# never on the session's server, whose data other tests and developers use.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def scratch_server(neo4j_server: Neo4jConnection) -> Iterator[Settings]:
    """A second server in var/neo4j-scratch on free ports, sharing the main server's jars.

    It is kept between runs (as is var/neo4j), so its stores and class-data-sharing archives
    are warm; its lib/ holds links to the jars rather than being one, because those archives
    name the paths they were made from. A lock keeps concurrent test runs out of each other's way.
    """
    main = get_settings()
    home = main.neo4j_home.with_name(main.neo4j_home.name + "-scratch")
    lib = home / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    if any(link.is_symlink() and not link.exists() for link in lib.iterdir()):
        shutil.rmtree(lib)  # the main server was reinstalled: drop stale links and archives
        lib.mkdir()
    for jar in (main.neo4j_home / "lib").iterdir():
        if (jar.suffix == ".jar" or jar.name == MARKER) and not (lib / jar.name).is_symlink():
            (lib / jar.name).symlink_to(jar)
    settings = main.model_copy(
        update={
            "neo4j_home": home,
            "neo4j_bolt_port": _free_port(),
            "neo4j_http_port": _free_port(),
            "neo4j_heap_initial": "256m",
            "neo4j_heap_max": "512m",
            "neo4j_pagecache": "64m",
        }
    )
    with (home / "test.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield settings
        finally:
            stop(settings=settings)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_admin_import_replaces_a_running_database(scratch_server: Settings, tmp_path: Path) -> None:
    settings = scratch_server
    people = _write(tmp_path / "people.csv", "id:ID,name\np1,Ann\np2,Bo\np3,Cy\n")
    benefits = _write(tmp_path / "benefits.csv", "id:ID,name\nb1,pension\nb2,housing\n")
    receives = _write(
        tmp_path / "receives.csv",
        ":START_ID,:END_ID,since:int\np1,b1,2019\np2,b1,2020\np2,b2,2021\np3,b2,2022\n",
    )
    first = start(settings=settings)
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(first.bolt_uri, auth=auth) as driver:
        driver.execute_query("CREATE (:Stale {n: 1})")

    output = admin_import(
        nodes=[("Person", people), ("Benefit", benefits)],
        relationships=[("RECEIVES", receives)],
        settings=settings,
    )

    assert "IMPORT DONE" in output
    after = status(settings=settings)
    assert after.running and after.pid != first.pid  # stopped, imported, started again
    with GraphDatabase.driver(after.bolt_uri, auth=auth) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (n) WITH labels(n)[0] AS label, count(*) AS n RETURN label, n ORDER BY label"
        )
        assert {r["label"]: r["n"] for r in records} == {"Benefit": 2, "Person": 3}
        records, _, _ = driver.execute_query(
            "MATCH (:Person)-[r:RECEIVES]->(b:Benefit {name: 'housing'}) RETURN min(r.since) AS s"
        )
        assert records[0]["s"] == 2021


def _kill_the_import_tool(home: Path, stop_looking: threading.Event) -> None:
    """kill -9 the import tool of ``home`` as soon as it runs."""
    while not stop_looking.is_set():
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or ())
            if ADMIN_TOOL in cmdline and str(home) in cmdline:
                os.kill(proc.info["pid"], signal.SIGKILL)
                return
        time.sleep(0.05)


def test_an_import_killed_half_way_keeps_the_previous_graph(
    scratch_server: Settings, tmp_path: Path
) -> None:
    settings = scratch_server
    first = start(settings=settings)
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(first.bolt_uri, auth=auth) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n")
        driver.execute_query("CREATE (:Kept {n: 1})")
    people = _write(tmp_path / "people.csv", "id:ID,name\np1,Ann\n")
    stop_looking = threading.Event()
    killer = threading.Thread(
        target=_kill_the_import_tool, args=(settings.neo4j_home, stop_looking)
    )
    killer.start()
    try:
        with pytest.raises(Neo4jServerError):
            admin_import(nodes=[("Person", people)], relationships=[], settings=settings)
    finally:
        stop_looking.set()
        killer.join()
    after = status(settings=settings)
    assert after.running  # started again, on the previous graph
    with GraphDatabase.driver(after.bolt_uri, auth=auth) as driver:
        records, _, _ = driver.execute_query("MATCH (n) RETURN labels(n)[0] AS label")
        assert [r["label"] for r in records] == ["Kept"]
