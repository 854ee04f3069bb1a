"""The graph-store port: one small interface, two adapters (embedded DuckDB+networkx, Neo4j).

Callers (pipeline, API, certification) use only the public methods of
:class:`GraphStore`. Those do the bookkeeping — checking tables against the
schema, refusing dangling references, cutting batches, timing, mapping named
queries and their parameters — and then call a few small abstract hooks that
each adapter fills in (cosmicpython's repository shape).

Writes go through a unit of work per batch: ``_begin`` opens a transaction, the
``_write_*`` hooks add to it, and it is rolled back unless ``_commit`` is
reached, so a batch interrupted halfway leaves the store as it was before that
batch.

No caller Cypher or SQL text is ever executed: ``query`` takes the name of a
library query (``linkgraph.graph.queries.QUERIES``) and its parameters. The
library only reads; there are no write procedures. What the graph says of an
enrolment's status is what the domain core (``linkgraph.recognise``) decided and
the pipeline or the live service wrote with ``load``/``upsert``.

    >>> from linkgraph.graph import open_store
    >>> with open_store() as store:                            # doctest: +SKIP
    ...     store.load(graph)
    ...     store.query("person_360", person_id="P0000001")
    ...     store.query("certification_spread", person_id="P0000001")
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from linkgraph.errors import NoGraph, NoResults
from linkgraph.graph.model import GraphTables
from linkgraph.graph.queries import LibraryQuery, library_query
from linkgraph.graph.schema import GraphSchema, load_schema

if TYPE_CHECKING:
    from linkgraph.config import Settings
    from linkgraph.graph.neo4j_store import ImportFiles
    from linkgraph.versions import Version

__all__ = ["GraphStore", "LoadReport", "open_store"]

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load or upsert wrote: rows by label/type, batches and wall time."""

    rows: dict[str, int]
    batches: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


class GraphStore(ABC):
    """A graph store holding the model of ``cypher/schema.cypher``.

    Public methods (the port): :meth:`load`, :meth:`load_parts`, :meth:`upsert`, :meth:`query`,
    :meth:`counts`, :meth:`ping`, :meth:`close`; also a context manager. Adapters
    implement the ``_``-prefixed hooks only.
    """

    backend: ClassVar[str]

    def __init__(self, schema: GraphSchema | None = None) -> None:
        self.schema = schema or load_schema()

    # ------------------------------------------------------------------ public

    def load(self, tables: GraphTables) -> LoadReport:
        """Replace the store's whole content with ``tables`` (the bulk initial load).

        Raises InputError (wrong type, repeated key, dangling reference — naming
        the record) before anything is written.
        """
        started = time.perf_counter()
        graph = self._projected(tables.conformed(self.schema))
        graph.check_references(self.schema)
        self._bulk_load(graph)
        return LoadReport(graph.counts(), 1, time.perf_counter() - started)

    @abstractmethod
    def load_parts(self, parts: Iterable[GraphTables]) -> LoadReport:
        """:meth:`load` the union of ``parts`` (``linkgraph.graph.model.graph_parts``).

        A label or type in several parts gets the rows of all of them. Each adapter
        writes part by part, so the whole graph is never in memory at once, and makes
        :meth:`load`'s checks across the parts before anything is replaced.
        """

    def upsert(self, tables: GraphTables, *, batch_size: int = 50_000) -> LoadReport:
        """Merge ``tables`` into the store: nodes by key, relationships by (start, end).

        Present properties are set, absent ones left alone. Work is cut into
        batches of at most ``batch_size`` rows (node tables first); each batch is
        one transaction, so an interruption leaves every earlier batch written
        and the interrupted one not at all. References may point at nodes the
        store already holds.
        """
        started = time.perf_counter()
        graph = self._projected(tables.conformed(self.schema))
        graph.check_references(self.schema, existing=self._existing_keys)
        n = 0
        for batch in graph.batches(batch_size):
            self._write_batch(batch)
            n += 1
        return LoadReport(graph.counts(), n, time.perf_counter() - started)

    def query(self, name: str, **params: Any) -> list[Row]:
        """Run the named library query; rows are dicts, in the query's fixed order."""
        spec = library_query(name)
        return self._run_query(spec, spec.bind(params))

    def counts(self) -> dict[str, int]:
        """Node count per label and relationship count per type (every one, zeros included)."""
        found = self._counts()
        return {
            **{label: found.get(label, 0) for label in self.schema.nodes},
            **{rtype: found.get(rtype, 0) for rtype in self.schema.relationships},
        }

    #: Whether an open store locks every other process out of it (a DuckDB file does):
    #: a long-lived client then opens it for each call, so the command line can use it too.
    holds_file_lock: ClassVar[bool] = False

    def ping(self) -> None:
        """Return if the store answers; raise StoreUnavailable otherwise."""
        self._ping()

    def close(self) -> None:
        self._close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------- unit of work

    def _projected(self, tables: GraphTables) -> GraphTables:
        """``tables`` (conformed) as this store keeps them; every write passes here once.
        As they are, unless an adapter keeps them otherwise (:meth:`Neo4jStore._projected`:
        dates as text too for the Browser's captions, less for an analysts' audience)."""
        return tables

    def _write_batch(self, batch: GraphTables) -> None:
        tx = self._begin()
        try:
            for label, table in batch.nodes.items():
                self._write_nodes(tx, label, table)
            for rtype, table in batch.relationships.items():
                self._write_relationships(tx, rtype, table)
            self._commit(tx)
        except BaseException:
            self._rollback(tx)
            raise

    # ------------------------------------------------------------------- hooks

    @abstractmethod
    def _bulk_load(self, tables: GraphTables) -> None:
        """Replace everything with ``tables`` (already conformed and checked)."""

    @abstractmethod
    def _begin(self) -> Any:
        """Open a write transaction; return its handle."""

    @abstractmethod
    def _write_nodes(self, tx: Any, label: str, table: pa.Table) -> None:
        """Merge node rows by key, setting the columns present."""

    @abstractmethod
    def _write_relationships(self, tx: Any, rtype: str, table: pa.Table) -> None:
        """Merge relationship rows by (start, end), setting the columns present."""

    @abstractmethod
    def _commit(self, tx: Any) -> None: ...

    @abstractmethod
    def _rollback(self, tx: Any) -> None: ...

    @abstractmethod
    def _existing_keys(self, label: str, keys: pa.Array) -> pa.Array:
        """Those of ``keys`` the store holds as ``label`` nodes."""

    @abstractmethod
    def _run_query(self, spec: LibraryQuery, params: dict[str, Any]) -> list[Row]: ...

    @abstractmethod
    def _counts(self) -> dict[str, int]: ...

    @abstractmethod
    def _ping(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...


def open_store(
    settings: Settings | None = None,
    *,
    version: Version | None = None,
    import_files: ImportFiles | None = None,
) -> GraphStore:
    """The store ``settings.backend`` names: ``embedded`` or ``neo4j``.

    The embedded graph is a DuckDB file of a version (``version``, which a run creates;
    else the current one's, which must exist: before the first run, or after
    ``linkgraph certify``, readers get an error rather than an empty graph; before any
    version, ``<data_dir>/graph.duckdb`` if a graph was loaded there), so a run
    writes its own file while the service reads the previous one. Neo4j is one server;
    its bulk load's import files are written by ``import_files`` (the run's engine),
    else in process.
    """
    from linkgraph.config import get_settings
    from linkgraph.versions import Versions

    settings = settings or get_settings()
    if settings.backend == "neo4j":
        from linkgraph.graph.neo4j_store import Neo4jStore

        return Neo4jStore.from_settings(settings, import_files=import_files)
    from linkgraph.graph.embedded_store import EmbeddedStore

    if version is None:  # a reader: the graph of the version in service, which must exist
        version = Versions(settings.data_dir).current()
        loose = settings.data_dir / "graph.duckdb"  # a graph loaded outside any version
        if version is None and loose.exists():
            return EmbeddedStore(loose)
        if version is None:
            raise NoResults(settings.data_dir)
        if not version.graph.exists():
            raise NoGraph(
                f"the version in service ({version.id}) has no graph: `linkgraph certify`"
                " made it without one; `linkgraph run CITY` builds the graph"
            )
    return EmbeddedStore(version.graph)
