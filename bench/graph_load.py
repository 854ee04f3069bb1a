"""Graph stores side by side: bulk-load wall time and each library query's latency.

    python bench/graph_load.py                      # 100 k persons (default)
    python bench/graph_load.py --persons 1360000    # the full city
    python bench/graph_load.py --persons 20000 --city /tmp/c20k --skip-neo4j

Generates a city (or reuses ``--city`` when it already holds one of that size),
runs the pipeline up to certification and recognition (``linkgraph.pipeline.run_city``
without its store load), builds the graph tables once (with the core's enrolment
statuses, flags, tasks and the persons' facts), then loads them into

* the embedded store (one DuckDB file in a temporary data directory), and
* Neo4j via ``neo4j-admin database import full`` (the project's server from
  ``linkgraph.neo4j_server``; its database is replaced),

and times every library query on both (all read-only; ``find_person`` and
``connection`` in a few cases each): the first (cold) run and the median of
``--repeat`` warm runs. Rows are compared: a query whose two stores
disagree is marked ``DIFF``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings, get_settings
from linkgraph.graph import GraphStore, GraphTables, load_schema
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.graph.model import merge
from linkgraph.pipeline import graph_parts_of_run, run_city
from linkgraph.policy import Policy

sys.path.insert(0, str(Path(__file__).parent))
from _measure import ensure_city

console = Console(width=150)


def _graph(city: Path, data: Path) -> tuple[GraphTables, dict[str, float]]:
    settings = Settings(data_dir=data, backend="embedded")
    result = run_city(city, settings=settings, load_store=False)
    t = result.tables
    started = time.perf_counter()
    policy = Policy.load(settings.seed_dir / "policy.toml")
    graph = merge(graph_parts_of_run(t, Catalogue(settings.catalogue_dir), policy)).conformed(
        load_schema()
    )
    times = {s.name: s.seconds for s in result.stages}
    times["build_graph"] = time.perf_counter() - started
    return graph, times


def _cached_graph(city: Path, data: Path, rebuild: bool) -> tuple[GraphTables, dict[str, float]]:
    """The city's graph tables, kept in ``<city>/graph/`` so a rerun skips the pipeline.

    A cache written before the graph held the core's enrolment statuses, flags, tasks and
    the persons' facts lacks them: ``--rebuild`` it.
    """
    cache = city / "graph"
    if cache.exists() and not rebuild:
        nodes = {p.stem: pq.read_table(p) for p in sorted((cache / "nodes").glob("*.parquet"))}
        rels = {p.stem: pq.read_table(p) for p in sorted((cache / "rels").glob("*.parquet"))}
        return GraphTables(nodes, rels), {"cached": 0.0}
    graph, times = _graph(city, data)
    for kind, tables in (("nodes", graph.nodes), ("rels", graph.relationships)):
        (cache / kind).mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, cache / kind / f"{name}.parquet")
    return graph, times


def _cases(graph: GraphTables) -> dict[str, tuple[str, dict[str, Any]]]:
    """What to time: case name -> (library query, parameters), every query at least once."""
    has = graph.relationships["HAS_EVIDENCE"]
    person = has["start"][has.num_rows // 2].as_py()
    enrolled = graph.relationships["HAS"]
    persons = graph.nodes["Person"]
    middle = persons.slice(persons.num_rows // 2, 1).to_pylist()[0]
    rings: dict[str, list[str]] = {}
    for pid, ring in zip(
        persons["person_id"].to_pylist(), persons["ring_id"].to_pylist(), strict=True
    ):
        if ring:
            rings.setdefault(ring, []).append(pid)
    largest = max(rings.values(), key=len)
    window = {"since": "2026-01-01", "until": "2026-12-31"}
    return {
        "person_360": ("person_360", {"person_id": person}),
        "duplicate_claims": ("duplicate_claims", {}),
        "paid_after_death": ("paid_after_death", {}),
        "shared_identifiers": ("shared_identifiers", {"min_persons": 2}),
        "no_trace": ("no_trace", {"since": "2026-07-01", "until": "2026-12-31"}),
        "certification_coverage": ("certification_coverage", {"on": "2026-12-31"}),
        "certification_spread": (
            "certification_spread",
            {"person_id": enrolled["start"][enrolled.num_rows // 2].as_py()},
        ),
        "find_person (2 characters of a name)": ("find_person", {"text": middle["name"][-2:]}),
        "find_person (pinyin prefix)": ("find_person", {"text": middle["pinyin"][:6]}),
        "find_person (last 6 ID digits)": ("find_person", {"text": middle["id_number"][-6:]}),
        f"connection (ring of {len(largest)})": (
            "connection",
            {"person_id": largest[0], "other_id": largest[-1]},
        ),
        "connection (not tied)": (
            "connection",
            {"person_id": person, "other_id": middle["person_id"]},
        ),
        "collusion_rings": ("collusion_rings", {"min_persons": 3, "limit": 50}),
        "person_timeline": ("person_timeline", {"person_id": person, **window}),
        "grid_workload": ("grid_workload", {"on": "2026-12-31"}),
    }


def _time_queries(
    store: GraphStore, cases: dict[str, tuple[str, dict[str, Any]]], repeat: int
) -> dict:
    out = {}
    for name, (query, p) in cases.items():
        started = time.perf_counter()
        rows = store.query(query, **p)
        cold = time.perf_counter() - started
        warm = []
        for _ in range(repeat):
            started = time.perf_counter()
            store.query(query, **p)
            warm.append(time.perf_counter() - started)
        out[name] = {"cold": cold, "warm": statistics.median(warm) if warm else cold, "rows": rows}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--city", type=Path, help="Directory for (or with) the city.")
    parser.add_argument("--repeat", type=int, default=3, help="Warm runs per query.")
    parser.add_argument("--skip-neo4j", action="store_true")
    parser.add_argument(
        "--rebuild", action="store_true", help="Rerun the pipeline even if <city>/graph/ exists."
    )
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("linkgraph").setLevel(logging.INFO)  # the Neo4j load's phases

    with tempfile.TemporaryDirectory() as tmp:
        city = args.city or Path(tmp) / "city"
        generated = ensure_city(city, args.persons)
        console.print(f"city: {args.persons:,} persons at {city} (generated in {generated:.1f}s)")
        graph, stages = _cached_graph(city, Path(tmp) / "data", args.rebuild)
        console.print(
            "pipeline: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
            + f"; graph: {graph.num_rows:,} rows "
            + f"({sum(t.num_rows for t in graph.nodes.values()):,} nodes,"
            + f" {sum(t.num_rows for t in graph.relationships.values()):,} relationships)"
        )
        cases = _cases(graph)
        loads: dict[str, float] = {}
        results: dict[str, dict] = {}

        embedded = EmbeddedStore(Path(tmp) / "embedded" / "graph.duckdb")
        loads["embedded"] = embedded.load(graph).seconds
        size = embedded.path.stat().st_size / 2**20
        console.print(f"embedded load: {loads['embedded']:.1f}s, file {size:.0f} MiB")
        results["embedded"] = _time_queries(embedded, cases, args.repeat)
        embedded.close()

        if not args.skip_neo4j:
            from linkgraph import neo4j_server
            from linkgraph.graph.neo4j_store import Neo4jStore

            if not neo4j_server.status().running:
                neo4j_server.start()
            with Neo4jStore.from_settings(get_settings()) as neo4j:
                loads["neo4j"] = neo4j.load(graph).seconds
                console.print(f"neo4j admin import + schema: {loads['neo4j']:.1f}s")
                results["neo4j"] = _time_queries(neo4j, cases, args.repeat)

    table = Table(title=f"library queries, {args.persons:,} persons (seconds; warm = median)")
    table.add_column("query")
    table.add_column("rows", justify="right")
    for backend in results:
        table.add_column(f"{backend} cold", justify="right")
        table.add_column(f"{backend} warm", justify="right")
    table.add_column("same rows")
    for name in results["embedded"]:
        cells = []
        for backend in results:
            r = results[backend][name]
            cells += [f"{r['cold']:.3f}", f"{r['warm']:.3f}"]
        rows = results["embedded"][name]["rows"]
        same = (
            "-"
            if len(results) < 2
            else ("yes" if all(results[b][name]["rows"] == rows for b in results) else "DIFF")
        )
        table.add_row(name, str(len(rows)), *cells, same)
    console.print(table)
    console.print("load wall time: " + ", ".join(f"{b} {s:.1f}s" for b, s in loads.items()))


if __name__ == "__main__":
    main()
