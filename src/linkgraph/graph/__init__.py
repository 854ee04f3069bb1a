"""The graph: one model (``cypher/schema.cypher``), two stores, one query library.

from linkgraph.graph import build_graph, open_store
graph = build_graph(catalogue, persons, records, resolution, enrollments, events)
with open_store(settings) as store:
    store.load(graph)
    rows = store.query("paid_after_death")
"""

from linkgraph.graph.model import GraphTables, build_graph
from linkgraph.graph.queries import QUERIES, LibraryQuery
from linkgraph.graph.schema import GraphSchema, load_schema
from linkgraph.graph.store import GraphStore, LoadReport, open_store

__all__ = [
    "QUERIES",
    "GraphSchema",
    "GraphStore",
    "GraphTables",
    "LibraryQuery",
    "LoadReport",
    "build_graph",
    "load_schema",
    "open_store",
]
