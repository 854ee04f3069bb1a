"""The Neo4j graph store: the official driver, parameterised Cypher only.

* Bulk initial load (:meth:`GraphStore.load`, :meth:`Neo4jStore.load_parts`) writes
  CSV files per label and per relationship type in ``neo4j-admin`` import format, part
  by part as the graph's parts come (:class:`ImportFileWriter`), hands them to
  :func:`linkgraph.neo4j_server.admin_import` (which stops the server, imports,
  starts it again), then applies ``cypher/schema.cypher`` and waits for the
  indexes. Each node file carries an unnamed integer ``:ID(Label)`` column (the
  id space) and the key as a typed property (``event_id:long``), so integer keys
  stay integers. ``bulk="cypher"`` instead
  deletes everything and upserts in batches, for a server this process cannot
  stop (a remote one).
* Incremental writes (:meth:`GraphStore.upsert`) are ``UNWIND $rows`` + ``MERGE``
  statements, one explicit write transaction per batch: a batch is committed
  whole or rolled back.
* Library queries run in read transactions (``session.execute_read``, a read-access
  session): the library has no write procedures. Label, type and property names
  come from the parsed schema only; every value is a parameter.

Driver errors never leave this module: :func:`map_driver_errors` turns
``ServiceUnavailable``/``SessionExpired``/``DatabaseUnavailable`` (and a failed
connection) into
:class:`~linkgraph.errors.StoreUnavailable`, every other driver error into
:class:`~linkgraph.errors.StoreError`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import neo4j
import neo4j.exceptions as nex
import neo4j.time
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from linkgraph import duck
from linkgraph.errors import InputError, StoreError, StoreUnavailable
from linkgraph.graph.model import (
    Audience,
    GraphTables,
    check_unique_keys,
    for_audience,
    merge,
    with_date_texts,
)
from linkgraph.graph.queries import LibraryQuery, analyst_reading
from linkgraph.graph.schema import GraphSchema
from linkgraph.graph.store import GraphStore, LoadReport, Row
from linkgraph.masking import secret_key

if TYPE_CHECKING:
    import duckdb

    from linkgraph.config import Settings

__all__ = [
    "ImportFileWriter",
    "ImportFiles",
    "Neo4jStore",
    "import_table",
    "map_driver_errors",
    "write_import_csv",
]

log = logging.getLogger(__name__)
# The driver warns at each retry it makes; its last failure reaches the caller as a
# StoreUnavailable that says what to do, so the warnings are only noise.
logging.getLogger("neo4j").setLevel(logging.ERROR)

#: Rows per UNWIND statement inside one batch's transaction.
STATEMENT_ROWS = 10_000

_IMPORT_TYPES = {
    "string": "string",
    "int": "long",
    "float": "double",
    "date": "date",
    "boolean": "boolean",
    "string[]": "string[]",
    "int[]": "long[]",
}


@contextlib.contextmanager
def map_driver_errors(what: str) -> Iterator[None]:
    """Re-raise the driver's exceptions as linkgraph's (httpx's ``map_httpcore_exceptions``)."""
    try:
        yield
    except (nex.ServiceUnavailable, nex.SessionExpired, nex.DatabaseUnavailable) as exc:
        raise StoreUnavailable(f"neo4j: {what}: {exc}{START_ADVICE}") from exc
    except nex.AuthError as exc:
        raise StoreUnavailable(f"neo4j: {what}: authentication failed: {exc}") from exc
    except (nex.Neo4jError, nex.DriverError) as exc:
        raise StoreError(f"neo4j: {what}: {exc}") from exc
    except OSError as exc:  # socket errors the driver lets through
        raise StoreUnavailable(f"neo4j: {what}: {exc}") from exc


#: What to do when the server does not answer (the project's own server is started by hand).
START_ADVICE = (
    "; is the server running? `linkgraph neo4j status` tells,"
    " `linkgraph neo4j start` starts the project's server"
)

#: Seconds the driver keeps retrying a transaction, and waits to connect: a server that is
#: down is said so in seconds (the driver's defaults, 30 s each, took a minute).
RETRY_SECONDS = 3.0
CONNECT_SECONDS = 5.0


#: A statement of ``schema.cypher``: its name, label and property (single-property schema).
_SCHEMA_STATEMENT = re.compile(
    r"CREATE (?:CONSTRAINT|INDEX) (?P<name>\w+) IF NOT EXISTS FOR \(n:(?P<label>\w+)\)"
    r" (?:REQUIRE|ON \() ?n\.(?P<prop>\w+)"
)
#: A full-text index of ``schema.cypher``: its name, label and properties.
_FULLTEXT_STATEMENT = re.compile(
    r"CREATE FULLTEXT INDEX (?P<name>\w+) IF NOT EXISTS FOR \(n:(?P<label>\w+)\)"
    r"\s+ON EACH \[(?P<props>[^\]]*)\]"
)


def _definition(statement: str) -> tuple[str, list[str]] | None:
    """(name, [label, properties...]) of a constraint or index statement of ``schema.cypher``."""
    if m := _SCHEMA_STATEMENT.match(statement):
        return m["name"], [m["label"], m["prop"]]
    if m := _FULLTEXT_STATEMENT.match(statement):
        props = [p.strip().removeprefix("n.") for p in m["props"].split(",")]
        return m["name"], [m["label"], *props]
    return None


def _bt(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _native(value: Any) -> Any:
    """Driver values as plain Python: neo4j.time.Date -> datetime.date, lists element-wise."""
    if isinstance(value, neo4j.time.Date):
        return value.to_native()
    if isinstance(value, neo4j.time.DateTime):
        return value.to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def _csv_column(column: pa.ChunkedArray, typ: str) -> pa.ChunkedArray | pa.Array:
    if typ.endswith("[]"):
        text = pc.list_value_length(column)  # keep nulls null
        joined = pc.binary_join(column.cast(pa.list_(pa.string())), ";")
        return pc.if_else(pc.is_null(text), pa.scalar(None, pa.string()), joined)
    return column


Files = list[tuple[str, list[Path]]]


def import_table(
    schema: GraphSchema, kind: Literal["node", "rel"], name: str, table: pa.Table, ids: list[Any]
) -> pa.Table:
    """A label's (``kind="node"``) or type's rows as its import file holds them: the import
    ids given (a node's; a relationship's start and end), then every property of ``table``
    typed for ``neo4j-admin`` (``person_id:string``, ``event_id:long``; lists joined by ``;``).
    """
    if kind == "node":
        props = schema.node(name).properties
        names = [f":ID({name})"]
    else:
        rspec = schema.rel(name)
        props = rspec.properties
        names = [f":START_ID({rspec.start})", f":END_ID({rspec.end})"]
    cols = list(ids)
    for column in table.column_names:
        if kind == "rel" and column in ("start", "end"):
            continue
        typ = props[column]
        cols.append(_csv_column(table[column], typ))
        names.append(f"{column}:{_IMPORT_TYPES[typ]}")
    return pa.Table.from_arrays(cols, names=names)


class ImportFileWriter:
    """The graph's ``neo4j-admin`` import files, written part by part as the parts come, so
    a city's graph is never in memory whole (:func:`write_import_csv`).

    Each label and type gets ``nodes/<Label>/`` or ``rels/<TYPE>/``: a ``header.csv`` and
    one headerless ``part-<n>.csv`` per part that holds its rows (the layout Spark's
    writer uses too). Import ids are integers (``--id-type=integer``): a label's nodes are
    numbered in the order they come, and a relationship's ends are found among the keys
    written so far, the newest part's first. The key itself stays a node property.

    What :meth:`GraphStore.load` checks over the whole graph is checked here across
    parts: a relationship whose end node has not come yet waits for the later parts, and
    :meth:`finish` raises InputError (naming the record) for a key repeated across parts
    or an end node that never came. Nothing is imported before :meth:`finish` returns.
    """

    def __init__(self, schema: GraphSchema, directory: Path) -> None:
        self.schema = schema
        self.directory = directory
        self._keys: dict[str, list[pa.Array]] = {}  # label -> its parts' keys, in id order
        self._files: dict[tuple[str, str], list[Path]] = {}  # (kind, name) -> header, parts
        self._columns: dict[str, list[str]] = {}
        self._waiting: dict[str, list[pa.Table]] = {}  # type -> rows whose ends come later

    def add(self, part: GraphTables) -> None:
        """Write one conformed part's rows; keep only its keys."""
        jobs: list[tuple[pa.Table, Path]] = []
        for label, table in part.nodes.items():
            if table.num_rows:
                key = table[self.schema.node(label).key].combine_chunks()
                first = sum(len(k) for k in self._keys.get(label, []))
                self._keys.setdefault(label, []).append(key)
                ids = pa.array(np.arange(first, first + table.num_rows, dtype=np.int64))
                jobs.append(self._rows("node", label, table, [ids]))
        for rtype, table in part.relationships.items():
            ready = self._with_ends(rtype, table, wait=True)
            if ready is not None:
                jobs.append(ready)
        _write_all(jobs)

    def finish(self) -> tuple[Files, Files]:
        """Write the rows that waited for later parts; check keys across parts; return the
        ``(label, files)`` and ``(type, files)`` pairs ``admin_import`` takes."""
        for label, chunks in self._keys.items():
            if len(chunks) > 1:  # each part's keys were checked when it was conformed
                check_unique_keys(label, self.schema.node(label).key, _sharing_a_hash(chunks))
        jobs = []
        for rtype, tables in self._waiting.items():
            ready = self._with_ends(rtype, pa.concat_tables(tables), wait=False)
            if ready is not None:
                jobs.append(ready)
        _write_all(jobs)
        by_kind: dict[str, Files] = {"node": [], "rel": []}
        for (kind, name), files in self._files.items():
            by_kind[kind].append((name, files))
        return by_kind["node"], by_kind["rel"]

    def _with_ends(
        self, rtype: str, table: pa.Table, *, wait: bool
    ) -> tuple[pa.Table, Path] | None:
        """A relationship table's rows with both ends' import ids; rows whose end node has
        not come yet wait (``wait``) for :meth:`finish`, or are refused, named."""
        if not table.num_rows:
            return None
        rspec = self.schema.rel(rtype)
        start, end = self._ids(rspec.start, table["start"]), self._ids(rspec.end, table["end"])
        found = pc.and_(pc.is_valid(start), pc.is_valid(end))
        if not pc.all(found).as_py():
            later = table.filter(pc.invert(found))
            if not wait:  # raises, naming the first relationship whose end never came
                GraphTables({}, {rtype: later}).check_references(self.schema, existing=self._known)
            self._waiting.setdefault(rtype, []).append(later)
            table, start, end = table.filter(found), start.filter(found), end.filter(found)
            if not table.num_rows:
                return None
        return self._rows("rel", rtype, table, [start, end])

    def _ids(self, label: str, keys: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Each key's import id among ``label``'s nodes written so far (null: not yet).

        Looked up part by part, the newest first (a part's relationships mostly end at its
        own nodes), each time only the keys not found yet: no copy of all of a label's
        keys (a city's 37.5 M events) is ever made."""
        keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        ids = np.full(len(keys), -1, dtype=np.int64)
        chunks = self._keys.get(label, [])
        offsets = np.cumsum([0, *map(len, chunks)])
        for chunk, offset in zip(reversed(chunks), reversed(offsets[:-1].tolist()), strict=True):
            missing = np.flatnonzero(ids < 0)
            if not len(missing):
                break
            asked = keys if len(missing) == len(keys) else keys.take(pa.array(missing))
            found = pc.index_in(asked, value_set=chunk)
            there = found.is_valid().to_numpy(zero_copy_only=False)
            ids[missing[there]] = found.drop_null().to_numpy() + offset
        return pa.array(ids, mask=ids < 0)

    def _known(self, label: str, keys: pa.Array) -> pa.Array:
        return keys.filter(pc.is_valid(self._ids(label, keys)))

    def _rows(
        self, kind: Literal["node", "rel"], name: str, table: pa.Table, ids: list[pa.Array]
    ) -> tuple[pa.Table, Path]:
        """``table`` as its next part file holds it; the header file on its first part."""
        # conformed tables keep the schema's order: the same properties, the same columns
        if table.column_names != self._columns.setdefault(name, table.column_names):
            raise InputError(
                f"{name}: one part gives the properties {', '.join(table.column_names)},"
                f" an earlier one {', '.join(self._columns[name])}"
            )
        folder = self.directory / ("nodes" if kind == "node" else "rels") / name
        files = self._files.get((kind, name))
        if files is None:
            folder.mkdir(parents=True, exist_ok=True)
            header = import_table(self.schema, kind, name, table.slice(0, 0), [i[:0] for i in ids])
            pacsv.write_csv(header, folder / "header.csv")
            files = self._files[(kind, name)] = [folder / "header.csv"]
        files.append(folder / f"part-{len(files) - 1:05d}.csv")
        return import_table(self.schema, kind, name, table, ids), files[-1]


def _sharing_a_hash(chunks: list[pa.Array]) -> pa.ChunkedArray:
    """The keys of ``chunks`` whose 64-bit hash (DuckDB's) another of them shares: the only
    ones that can be repeated, for :func:`check_unique_keys` to decide on.

    The hashes are sorted in numpy, 8 bytes a key (0.3 GiB for a city's 37.5 M event
    keys), where a distinct count of the keys themselves held 3 GiB more, for 40 s."""
    con = duck.connect()
    try:
        ordered, filled = np.empty(sum(map(len, chunks)), dtype=np.uint64), 0
        for chunk in chunks:
            ordered[filled : filled + len(chunk)] = _key_hashes(con, chunk)
            filled += len(chunk)
        ordered.sort()
        shared = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not len(shared):
            return pa.chunked_array([], type=chunks[0].type)
        return pa.chunked_array(
            [c.filter(pa.array(np.isin(_key_hashes(con, c), shared))) for c in chunks]
        )
    finally:
        con.close()


def _key_hashes(con: duckdb.DuckDBPyConnection, keys: pa.Array) -> np.ndarray:
    """DuckDB's 64-bit hash of each of ``keys``, in their order."""
    con.register("part_keys", pa.table({"key": keys}))
    return con.sql("SELECT hash(key) FROM part_keys").to_arrow_table()[0].to_numpy()


def _write_all(jobs: list[tuple[pa.Table, Path]]) -> None:
    """Write headerless CSV files side by side (Arrow's CSV writer releases the GIL)."""
    jobs.sort(key=lambda job: -job[0].num_rows)  # the largest first, so the threads end together
    options = pacsv.WriteOptions(include_header=False)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda job: pacsv.write_csv(*job, write_options=options), jobs))


def write_import_csv(
    schema: GraphSchema, parts: Iterable[GraphTables], directory: Path
) -> tuple[Files, Files]:
    """The import files of conformed ``parts`` (:class:`ImportFileWriter`), in ``neo4j-admin``
    header format: ``nodes/Person/header.csv`` holds ``:ID(Person),person_id:string,...``,
    ``rels/HAS/header.csv`` ``:START_ID(Person),:END_ID(Enrollment)[,prop:type...]``
    (:func:`import_table`). Returns the ``(label, files)`` and ``(type, files)`` pairs
    ``admin_import`` takes."""
    writer = ImportFileWriter(schema, directory)
    for part in parts:
        writer.add(part)
    return writer.finish()


#: What writes a graph's import files: ``(schema, conformed parts, directory)`` ->
#: ``(label, files)`` and ``(type, files)`` pairs (:func:`write_import_csv`, or an engine's);
#: it raises InputError for a key repeated across parts or an end node that is not there.
ImportFiles = Callable[[GraphSchema, Iterable[GraphTables], Path], tuple[Files, Files]]


#: Graph rows from which a bulk load goes through ``neo4j-admin database import``.
ADMIN_IMPORT_MIN_ROWS = 1_000_000


class Neo4jStore(GraphStore):
    """The graph in a Neo4j 5 database; see the module docstring."""

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        *,
        database: str = "neo4j",
        settings: Settings | None = None,
        bulk: Literal["admin", "cypher"] = "admin",
        schema: GraphSchema | None = None,
        import_files: ImportFiles | None = None,
        audience: Audience = "investigator",
        pseudonym_key: bytes | None = None,
    ) -> None:
        super().__init__(schema)
        self.audience = audience
        self._pseudonym_key = pseudonym_key
        self.uri = uri
        self.import_files = import_files or write_import_csv
        self.database = database
        self.settings = settings
        self.bulk = bulk
        self._whole = False  # see _ensure_whole
        with map_driver_errors(f"connecting to {uri}"):
            self.driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password),
                notifications_min_severity="OFF",
                max_transaction_retry_time=RETRY_SECONDS,
                connection_timeout=CONNECT_SECONDS,
            )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Neo4jStore:
        """The store of ``settings``; bulk loads use neo4j-admin only for a local server."""
        host = urlsplit(settings.neo4j_uri).hostname or ""
        kwargs.setdefault(
            "bulk", "admin" if host in ("127.0.0.1", "localhost", "::1") else "cypher"
        )
        kwargs.setdefault("audience", settings.neo4j_audience)
        return cls(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            settings=settings,
            **kwargs,
        )

    def _session(self, write: bool = True) -> neo4j.Session:
        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        return self.driver.session(database=self.database, default_access_mode=mode)

    # -------------------------------------------------------------- statements

    def _node_merge(self, label: str, columns: list[str]) -> str:
        key = self.schema.key(label)
        sets = [c for c in columns if c != key]
        set_clause = " SET " + ", ".join(f"n.{_bt(c)} = row.{_bt(c)}" for c in sets) if sets else ""
        return (
            f"UNWIND $rows AS row MERGE (n:{_bt(label)} {{{_bt(key)}: row.{_bt(key)}}}){set_clause}"
        )

    def _rel_merge(self, rtype: str, columns: list[str]) -> str:
        spec = self.schema.rel(rtype)
        sk, ek = self.schema.key(spec.start), self.schema.key(spec.end)
        props = [c for c in columns if c not in ("start", "end")]
        set_clause = (
            " SET " + ", ".join(f"r.{_bt(c)} = row.{_bt(c)}" for c in props) if props else ""
        )
        return (
            f"UNWIND $rows AS row"
            f" MATCH (a:{_bt(spec.start)} {{{_bt(sk)}: row.start}})"
            f" MATCH (b:{_bt(spec.end)} {{{_bt(ek)}: row.`end`}})"
            f" MERGE (a)-[r:{_bt(rtype)}]->(b){set_clause}"
        )

    # ------------------------------------------------------------------- hooks

    def load_parts(self, parts: Iterable[GraphTables]) -> LoadReport:
        """Write each part's import files as it comes (:class:`ImportFileWriter`), so the
        whole graph is never in memory at once; a graph too small for the importer is
        merged and loaded as one (:meth:`_bulk_load`)."""
        started = time.perf_counter()
        coming, head, rows = iter(parts), deque[GraphTables](), 0
        for part in coming:
            head.append(part)
            rows += part.num_rows
            if rows >= ADMIN_IMPORT_MIN_ROWS:
                break
        else:
            return self.load(merge(head))
        if self.bulk == "cypher":
            return self.load(merge(itertools.chain(head, coming)))
        counts: dict[str, int] = {}

        def conformed() -> Iterator[GraphTables]:
            while head:  # let each part go once written
                yield self._counted(head.popleft(), counts)
            for part in coming:
                yield self._counted(part, counts)

        self._admin_load(lambda directory: self.import_files(self.schema, conformed(), directory))
        return LoadReport(counts, 1, time.perf_counter() - started)

    def _projected(self, tables: GraphTables) -> GraphTables:
        """The graph as the Browser shows it: each date a caption shows with its text copy
        (:func:`linkgraph.graph.model.with_date_texts`) and, for analysts, only the masked
        forms (:func:`linkgraph.graph.model.for_audience`), phones, accounts and addresses
        keyed under the key of ``Settings.pseudonym_key_file`` (made at the first analysts'
        load)."""
        tables = with_date_texts(tables, self.schema)
        if self.audience == "investigator":
            return tables
        if self._pseudonym_key is None:
            from linkgraph.config import get_settings

            path = (self.settings or get_settings()).pseudonym_key_file
            self._pseudonym_key = secret_key(path)
        return for_audience(tables, self.audience, self._pseudonym_key)

    def _counted(self, part: GraphTables, counts: dict[str, int]) -> GraphTables:
        part = self._projected(part.conformed(self.schema))
        for name, n in part.counts().items():
            counts[name] = counts.get(name, 0) + n
        return part

    def _bulk_load(self, tables: GraphTables) -> None:
        # Below ADMIN_IMPORT_MIN_ROWS, batched Cypher beats the importer's stop and restart,
        # unless the database holds a big graph: the importer replaces a store, where the
        # Cypher wipe deletes it row by row (a city's 31 M rows ran out of heap).
        small = tables.num_rows < ADMIN_IMPORT_MIN_ROWS  # and the database asked only then
        if self.bulk == "cypher" or (small and self._held_rows() < ADMIN_IMPORT_MIN_ROWS):
            self._wipe()
            self._apply_schema()
            for batch in tables.batches(50_000):
                self._write_batch(batch)
            return
        self._admin_load(lambda directory: self.import_files(self.schema, [tables], directory))

    def _admin_load(self, write_files: Callable[[Path], tuple[Files, Files]]) -> None:
        """Replace the database with the files ``write_files`` writes into a folder, through
        ``neo4j-admin database import``; then the schema. A failure keeps the old graph."""
        from linkgraph import neo4j_server
        from linkgraph.config import get_settings

        settings = self.settings or get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="neo4j-import-", dir=settings.data_dir))
        try:
            started = time.perf_counter()
            nodes, rels = write_files(directory)
            log.info("import CSV written in %.1f s", time.perf_counter() - started)
            try:
                started = time.perf_counter()
                output = neo4j_server.admin_import(
                    nodes,
                    rels,
                    self.database,
                    extra_args=(f"--threads={os.cpu_count() or 1}", "--id-type=integer"),
                    start_after=False,
                    settings=settings,
                )
                log.info(
                    "neo4j-admin import in %.1f s: %s",
                    time.perf_counter() - started,
                    output.strip().splitlines()[-1] if output.strip() else "",
                )
                log.debug("neo4j-admin import output:\n%s", output)
                self._start_after_import(settings)
            except neo4j_server.Neo4jServerError as exc:
                raise StoreError(f"neo4j: bulk import failed: {exc}") from exc
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        started = time.perf_counter()
        self._apply_schema()
        log.info("constraints and indexes online in %.1f s", time.perf_counter() - started)
        neo4j_server.imports.finish(settings.neo4j_home)
        self._whole = True

    @staticmethod
    def _start_after_import(settings: Settings, attempts: int = 3) -> None:
        """Start the server on the imported store, restarting it if the database stays offline.

        Seen under load: a server started right after the import tool exits can find
        the store still locked and keep the database offline; a second start opens it.
        """
        from linkgraph import neo4j_server

        for attempt in range(1, attempts + 1):
            try:
                neo4j_server.start(timeout=120.0, settings=settings)
                return
            except neo4j_server.Neo4jServerError:
                if attempt == attempts:
                    raise
                neo4j_server.stop(settings=settings)
                time.sleep(2.0)

    def _held_rows(self) -> int:
        """Nodes and relationships in the database (from the count store: no scan)."""

        def read(tx: neo4j.ManagedTransaction) -> int:
            nodes = tx.run("MATCH (n) RETURN count(n)").single(strict=True)[0]
            rels = tx.run("MATCH ()-[r]->() RETURN count(r)").single(strict=True)[0]
            return int(nodes) + int(rels)

        with map_driver_errors("counting"), self._session(False) as session:
            return session.execute_read(read)

    def _wipe(self) -> None:
        with map_driver_errors("wiping the database"), self._session() as session:
            session.run(
                "MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
            ).consume()

    def _await_online(self, timeout: float = 600.0) -> None:
        """Wait until the database answers: after a restart Bolt is up before the database is."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._session() as session:
                    session.run("RETURN 1").consume()
                return
            except (nex.TransientError, nex.ServiceUnavailable, nex.SessionExpired) as exc:
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"neo4j: database {self.database!r} not online after {timeout:.0f}s: {exc}"
                    ) from exc
                time.sleep(1.0)

    def _apply_schema(self) -> None:
        """Create the constraints and indexes, two statements at a time, and wait for them.

        A uniqueness constraint returns only once its index is populated, and the one
        on 35 M events takes most of a minute: a second session meanwhile creates the rest.
        """
        self._await_online()

        def run(statement: str) -> None:
            with map_driver_errors(f"applying schema.cypher: {statement}"), self._session() as s:
                s.run(statement).consume()

        for name in self._stale_schema():
            run(f"DROP CONSTRAINT {_bt(name)} IF EXISTS")
            run(f"DROP INDEX {_bt(name)} IF EXISTS")
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(run, self.schema.statements))
        run("CALL db.awaitIndexes(3600)")

    def _stale_schema(self) -> list[str]:
        """Constraints and indexes the database holds that ``schema.cypher`` does not say as
        they are: ``CREATE ... IF NOT EXISTS`` keeps an old definition under the same name
        (a key once on ``event_id``, now on ``event_key``; a full-text index over fewer
        properties), and lookups would become scans or miss."""
        wanted, held = self._wanted_schema(), self._held_schema()
        return sorted(name for name, found in held.items() if wanted.get(name, found) != found)

    def _missing_schema(self) -> bool:
        """Whether a constraint or index ``schema.cypher`` names is not in the database."""
        return not self._wanted_schema().keys() <= self._held_schema().keys()

    def _wanted_schema(self) -> dict[str, list[str]]:
        """Each ``schema.cypher`` constraint's or index's name: [label, properties...]."""
        return dict(d for d in map(_definition, self.schema.statements) if d is not None)

    def _held_schema(self) -> dict[str, list[str]]:
        """The same of what the database holds (lookup indexes aside)."""
        with map_driver_errors("reading the database's schema"), self._session(False) as s:
            return {
                r["name"]: [*r["labelsOrTypes"], *r["properties"]]
                for r in s.run(
                    "SHOW INDEXES YIELD name, type, labelsOrTypes, properties"
                    " WHERE type <> 'LOOKUP' RETURN name, labelsOrTypes, properties"
                )
            }

    def _begin(self) -> tuple[neo4j.Session, neo4j.Transaction]:
        with map_driver_errors("opening a write transaction"):
            session = self._session()
            try:
                return session, session.begin_transaction()
            except BaseException:
                session.close()
                raise

    def _run_rows(self, tx: Any, statement: str, table: pa.Table, what: str) -> None:
        _, transaction = tx
        with map_driver_errors(what):
            for offset in range(0, table.num_rows, STATEMENT_ROWS):
                rows = table.slice(offset, STATEMENT_ROWS).to_pylist()
                transaction.run(statement, rows=rows).consume()

    def _write_nodes(self, tx: Any, label: str, table: pa.Table) -> None:
        self._run_rows(tx, self._node_merge(label, table.column_names), table, f"writing {label}")

    def _write_relationships(self, tx: Any, rtype: str, table: pa.Table) -> None:
        self._run_rows(tx, self._rel_merge(rtype, table.column_names), table, f"writing {rtype}")

    def _commit(self, tx: Any) -> None:
        session, transaction = tx
        try:
            with map_driver_errors("committing a batch"):
                transaction.commit()
        finally:
            session.close()

    def _rollback(self, tx: Any) -> None:
        session, transaction = tx
        try:
            with contextlib.suppress(nex.Neo4jError, nex.DriverError, OSError):
                if not transaction.closed():
                    transaction.rollback()
        finally:
            session.close()

    def _existing_keys(self, label: str, keys: pa.Array) -> pa.Array:
        key = self.schema.key(label)
        statement = f"UNWIND $keys AS k MATCH (n:{_bt(label)} {{{_bt(key)}: k}}) RETURN k"

        def read(tx: neo4j.ManagedTransaction) -> list[Any]:
            found = []
            for offset in range(0, len(keys), STATEMENT_ROWS):
                chunk = keys.slice(offset, STATEMENT_ROWS).to_pylist()
                found += [record["k"] for record in tx.run(statement, keys=chunk)]
            return found

        with map_driver_errors(f"looking up {label} keys"), self._session(False) as session:
            found = session.execute_read(read)
        return pa.array(found, type=keys.type)

    def _ensure_whole(self) -> None:
        """Before the first read: refuse a graph whose import failed with nothing before
        it; give one imported but not yet indexed (a crash after the import) its
        constraints and indexes; and make any schema.cypher names missing, so a
        lookup is never a silent scan. Once per store object."""
        if self._whole:
            return
        from linkgraph.config import get_settings
        from linkgraph.neo4j_server import imports

        home = (self.settings or get_settings()).neo4j_home
        found = imports.state(home) if self.bulk == "admin" else None
        if found is not None and found.phase == "failed":
            raise StoreError(
                f"neo4j: the import of {found.started_at} did not finish and there was no"
                " graph before it; load it again: `linkgraph run CITY --backend neo4j`"
            )
        if (found is not None and found.phase == "imported") or self._missing_schema():
            log.warning("neo4j: constraints or indexes missing; making them now")
            self._apply_schema()
            if found is not None:
                imports.finish(home)
        self._whole = True

    def _run_query(self, spec: LibraryQuery, params: dict[str, Any]) -> list[Row]:
        if self.audience == "analyst" and spec.name == "find_person":
            analyst_reading(params["text"])  # a name on a graph of masked names: refused
        self._ensure_whole()
        cypher = spec.cypher

        def read(tx: neo4j.ManagedTransaction) -> list[Row]:
            result = tx.run(cypher, params)
            return [{k: _native(v) for k, v in record.items()} for record in result]

        with map_driver_errors(f"query {spec.name!r}"), self._session(False) as session:
            return session.execute_read(read)

    def _counts(self) -> dict[str, int]:
        self._ensure_whole()
        statements = {
            **{label: f"MATCH (n:{_bt(label)}) RETURN count(n)" for label in self.schema.nodes},
            **{
                rtype: f"MATCH ()-[r:{_bt(rtype)}]->() RETURN count(r)"
                for rtype in self.schema.relationships
            },
        }

        def read(tx: neo4j.ManagedTransaction) -> dict[str, int]:
            return {name: int(tx.run(q).single(strict=True)[0]) for name, q in statements.items()}

        with map_driver_errors("counting"), self._session(False) as session:
            return session.execute_read(read)

    def _ping(self) -> None:
        with map_driver_errors(f"reaching {self.uri}"):
            self.driver.verify_connectivity()

    def _close(self) -> None:
        with map_driver_errors("closing"):
            self.driver.close()
