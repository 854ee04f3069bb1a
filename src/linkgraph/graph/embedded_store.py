"""The embedded graph store: columnar tables in one DuckDB file, networkx per traversal.

Layout
------
One DuckDB file (by default ``settings.data_dir / "graph.duckdb"``) holds one
table per node label (``n_person``: the key column and every property of the
label in ``cypher/schema.cypher``) and one per relationship type
(``r_has_evidence``: ``start``, ``end`` — the end nodes' keys — and the
relationship's properties). Every write runs in a DuckDB transaction, so a
batch is written whole or not at all, and a new process opening the same file
finds everything committed before.

Why not one networkx graph
--------------------------
The full city is 1.36 M persons, ~2.2 M records and enrolments and ~38 M evidence
events: as Python objects in a networkx graph that is tens of GiB, far beyond a
12 GiB machine. The columnar tables take a few hundred MiB on disk. So:

* set-at-a-time questions (duplicate claims, payments after death, coverage,
  no-trace lists, one person's enrolments beside their certification) are SQL
  joins over the node and relationship tables;
* traversals build the small networkx graph they need from those tables — the
  radius-1 ego graph of one person for ``person_360``; the person–identifier
  bipartite graph restricted to identifiers held by several persons for
  ``shared_identifiers`` and :meth:`EmbeddedStore.identifier_rings`
  (connected components of that graph).

A bulk load writes node tables sorted by key and relationship tables sorted by
``(start, end)``, so DuckDB's zone maps (min/max per row group) make one
person's edges a read of a few row groups. :meth:`EmbeddedStore.load_parts`
appends the graph part by part in one transaction, then re-sorts the tables
several parts wrote, so the city's 38 M events never sit in memory as one graph.
There are no ART indexes: at 100 k persons they did not speed ``person_360``
(0.03–0.09 s either way), cost a quarter of the load time, and at 38 M events
they would cost GiBs of memory.

Concurrency: DuckDB lets one process write a file at a time; a second process
opening it gets :class:`~linkgraph.errors.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph import duck
from linkgraph.errors import InputError, StoreError, StoreUnavailable
from linkgraph.graph.model import GraphTables
from linkgraph.graph.queries import LibraryQuery, node_table, rel_table
from linkgraph.graph.schema import ARROW_TYPES, GraphSchema
from linkgraph.graph.store import GraphStore, LoadReport, Row

__all__ = ["EmbeddedStore"]

_SQL_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "string[]": "VARCHAR[]",
    "int[]": "BIGINT[]",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class EmbeddedStore(GraphStore):
    """The graph in one local DuckDB file; see the module docstring for the layout."""

    holds_file_lock = True

    backend = "embedded"

    def __init__(
        self, path: Path | str, schema: GraphSchema | None = None, *, read_only: bool = False
    ) -> None:
        """Open (creating if needed) the store in ``path``.

        ``read_only=True`` lets several processes (API workers) read one file while
        no process writes it; writes then raise StoreError.
        """
        super().__init__(schema)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only
        try:
            self.con = duck.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"embedded store {self.path}: {exc}") from exc
        self._closed = False
        if not read_only:
            self._create_tables(self.con)

    # ------------------------------------------------------------------ tables

    def _ddl(self) -> list[tuple[str, str]]:
        out = []
        for label, spec in self.schema.nodes.items():
            cols = ", ".join(f"{_q(n)} {_SQL_TYPES[t]}" for n, t in spec.properties.items())
            out.append((node_table(label), cols))
        for rtype, rspec in self.schema.relationships.items():
            start = self.schema.node(rspec.start)
            end = self.schema.node(rspec.end)
            cols = ", ".join(
                [
                    f"start {_SQL_TYPES[start.properties[start.key]]} NOT NULL",
                    f'"end" {_SQL_TYPES[end.properties[end.key]]} NOT NULL',
                    *(f"{_q(n)} {_SQL_TYPES[t]}" for n, t in rspec.properties.items()),
                ]
            )
            out.append((rel_table(rtype), cols))
        return out

    def _create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        for name, cols in self._ddl():
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")

    def _full(self, label: str | None, rtype: str | None, table: pa.Table) -> pa.Table:
        """``table`` with every column of its label/type (absent ones null), in table order."""
        target = (
            self.schema.node(label).arrow_schema() if label else self.schema.rel_schema(rtype or "")
        )
        cols = [
            table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in target
        ]
        return pa.Table.from_arrays(cols, schema=target)

    # ------------------------------------------------------------------ public

    def load_parts(self, parts: Iterable[GraphTables]) -> LoadReport:
        """Write each part as it comes, so only one part is in memory at a time.

        What :meth:`load` checks over the whole graph before writing (a key repeated
        across parts, a relationship whose end node is not there) is checked here in
        SQL over the written tables, before the commit: an error leaves the store
        as it was.
        """
        started = time.perf_counter()
        rows, n = self._replace((part.conformed(self.schema) for part in parts), check=True)
        return LoadReport(rows, n, time.perf_counter() - started)

    # ------------------------------------------------------------------- hooks

    def _bulk_load(self, tables: GraphTables) -> None:
        self._replace([tables], check=False)

    def _replace(self, parts: Iterable[GraphTables], *, check: bool) -> tuple[dict[str, int], int]:
        """Empty the store, append ``parts``, sort what several parts wrote, commit.

        Returns rows written per label/type and the number of parts.
        """
        con = self.con
        rows: dict[str, int] = {}
        writes: dict[str, int] = {}  # label/type -> parts that wrote to it
        n = 0
        try:
            con.begin()
            for name, _ in self._ddl():
                con.execute(f"DROP TABLE IF EXISTS {name}")
            self._create_tables(con)
            for part in parts:
                n += 1
                for label, table in part.nodes.items():
                    self._append(con, label, None, table)
                    rows[label] = rows.get(label, 0) + table.num_rows
                    writes[label] = writes.get(label, 0) + 1
                for rtype, table in part.relationships.items():
                    self._append(con, None, rtype, table)
                    rows[rtype] = rows.get(rtype, 0) + table.num_rows
                    writes[rtype] = writes.get(rtype, 0) + 1
            for name, count in writes.items():
                if count > 1:
                    self._sort(con, name)
            if check:
                self._check_keys(con, [n for n, c in writes.items() if c > 1])
                self._check_references(con)
            con.commit()
        except BaseException as exc:
            con.rollback()
            if isinstance(exc, duckdb.Error):
                raise StoreError(f"embedded store {self.path}: load failed: {exc}") from exc
            raise
        con.execute("CHECKPOINT")
        return rows, n

    def _order(self, name: str) -> tuple[str, str]:
        """(table, ORDER BY list) of a label or type: nodes by key, relationships by ends."""
        if name in self.schema.nodes:
            return node_table(name), _q(self.schema.key(name))
        return rel_table(name), 'start, "end"'

    def _append(
        self, con: duckdb.DuckDBPyConnection, label: str | None, rtype: str | None, table: pa.Table
    ) -> None:
        name, order = self._order(label or rtype or "")
        # a relation, not ``register``: a view dropped in a transaction keeps its table
        # alive until the commit, and so would every part
        con.from_arrow(self._full(label, rtype, table)).order(order).insert_into(name)

    def _sort(self, con: duckdb.DuckDBPyConnection, label_or_type: str) -> None:
        """Rewrite a table several parts appended to in key order (for the zone maps)."""
        name, order = self._order(label_or_type)
        cols = dict(self._ddl())[name]
        con.execute(f"CREATE TABLE {name}__sorted ({cols})")
        con.execute(f"INSERT INTO {name}__sorted SELECT * FROM {name} ORDER BY {order}")
        con.execute(f"DROP TABLE {name}")
        con.execute(f"ALTER TABLE {name}__sorted RENAME TO {name}")

    def _check_keys(self, con: duckdb.DuckDBPyConnection, labels: list[str]) -> None:
        for label in (x for x in labels if x in self.schema.nodes):
            key = self.schema.key(label)
            repeated = con.execute(
                f"SELECT min({_q(key)}), count(*) FROM (SELECT {_q(key)} FROM {node_table(label)}"
                f" GROUP BY ALL HAVING count(*) > 1)"
            ).fetchall()[0]
            if repeated[1]:
                raise InputError(
                    f"{label} {repeated[0]!r}: key {key!r} repeated"
                    f" ({repeated[1]} repeated key(s) in {label})"
                )

    def _check_references(self, con: duckdb.DuckDBPyConnection) -> None:
        """Raise InputError naming a relationship whose end node is not there, as ``load`` does."""
        for rtype, spec in self.schema.relationships.items():
            for side, label in (("start", spec.start), ("end", spec.end)):
                key = _q(self.schema.key(label))
                missing, count = con.execute(
                    f"SELECT min(k), count(*) FROM (SELECT DISTINCT r.{_q(side)} AS k"
                    f" FROM {rel_table(rtype)} r ANTI JOIN {node_table(label)} n"
                    f" ON n.{key} = r.{_q(side)})"
                ).fetchall()[0]
                if count:
                    start, end = con.execute(
                        f'SELECT start, "end" FROM {rel_table(rtype)} WHERE {_q(side)} = ? LIMIT 1',
                        [missing],
                    ).fetchall()[0]
                    raise InputError(
                        f"{rtype} relationship {spec.start} {start!r} -> {spec.end} {end!r}:"
                        f" {side} node {label} {missing!r} is not there"
                        f" ({count} missing {label} key(s) in {rtype})"
                    )

    def _begin(self) -> duckdb.DuckDBPyConnection:
        self.con.begin()
        return self.con

    def _write_nodes(self, tx: duckdb.DuckDBPyConnection, label: str, table: pa.Table) -> None:
        name = node_table(label)
        key = _q(self.schema.key(label))
        cols = [_q(c) for c in table.column_names]
        try:
            old, new = _split_known(tx, name, table, [self.schema.key(label)])
            sets = [c for c in cols if c != key]
            if sets and old.num_rows:
                tx.register("_batch", old)
                tx.execute(
                    f"UPDATE {name} SET {', '.join(f'{c} = b.{c}' for c in sets)}"
                    f" FROM _batch b WHERE {name}.{key} = b.{key}"
                )
            if new.num_rows:
                tx.register("_batch", new)
                tx.execute(
                    f"INSERT INTO {name} ({', '.join(cols)})"
                    f" SELECT {', '.join('b.' + c for c in cols)} FROM _batch b"
                )
        except duckdb.Error as exc:
            raise StoreError(f"embedded store: writing {label} nodes failed: {exc}") from exc
        finally:
            tx.unregister("_batch")

    def _write_relationships(
        self, tx: duckdb.DuckDBPyConnection, rtype: str, table: pa.Table
    ) -> None:
        name = rel_table(rtype)
        cols = [_q(c) for c in table.column_names]
        props = [c for c in cols if c not in ('"start"', '"end"')]
        match = 'r.start = b.start AND r."end" = b."end"'
        try:
            old, new = _split_known(tx, name, table, ["start", "end"])
            if props and old.num_rows:
                tx.register("_batch", old)
                tx.execute(
                    f"UPDATE {name} r SET {', '.join(f'{c} = b.{c}' for c in props)}"
                    f" FROM _batch b WHERE {match}"
                )
            if new.num_rows:
                tx.register("_batch", new)
                tx.execute(
                    f"INSERT INTO {name} ({', '.join(cols)})"
                    f' SELECT DISTINCT ON (b.start, b."end") {", ".join("b." + c for c in cols)}'
                    " FROM _batch b"
                )
        except duckdb.Error as exc:
            raise StoreError(
                f"embedded store: writing {rtype} relationships failed: {exc}"
            ) from exc
        finally:
            tx.unregister("_batch")

    def _commit(self, tx: duckdb.DuckDBPyConnection) -> None:
        tx.commit()

    def _rollback(self, tx: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(duckdb.Error):  # no transaction left to roll back
            tx.rollback()

    def _existing_keys(self, label: str, keys: pa.Array) -> pa.Array:
        key = _q(self.schema.key(label))
        want = pa.table(
            {
                "k": keys.cast(
                    ARROW_TYPES[self.schema.node(label).properties[self.schema.key(label)]]
                )
            }
        )
        self.con.register("_keys", want)
        try:
            found = self.con.sql(
                f"SELECT k FROM _keys WHERE k IN (SELECT {key} FROM {node_table(label)})"
            ).to_arrow_table()
        finally:
            self.con.unregister("_keys")
        return found["k"].combine_chunks()

    def _run_query(self, spec: LibraryQuery, params: dict[str, Any]) -> list[Row]:
        try:
            rows = spec.embedded(self.con, params)
        except duckdb.Error as exc:
            raise StoreError(f"embedded store: query {spec.name!r} failed: {exc}") from exc
        return list(rows)

    def _counts(self) -> dict[str, int]:
        parts = [
            f"SELECT '{label}' AS name, count(*) AS n FROM {node_table(label)}"
            for label in self.schema.nodes
        ] + [
            f"SELECT '{rtype}', count(*) FROM {rel_table(rtype)}"
            for rtype in self.schema.relationships
        ]
        return {name: int(n) for name, n in self.con.execute(" UNION ALL ".join(parts)).fetchall()}

    def _ping(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"embedded store {self.path} is closed")
        try:
            self.con.execute("SELECT 1").fetchall()
        except duckdb.Error as exc:
            raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc

    def _close(self) -> None:
        if not self._closed:
            self.con.close()
            self._closed = True

    # ------------------------------------------------------------- traversals

    def identifier_rings(self, min_persons: int = 2) -> list[list[str]]:
        """Groups of persons tied together through shared bank accounts or phones.

        Parameters
        ----------
        min_persons : int
            Smallest ring returned (at least 2).

        Returns
        -------
        list of sorted person-id lists, largest ring first, then by first id.

        Notes
        -----
        Builds the person–identifier bipartite graph restricted to identifiers
        held by two or more persons (so its size is that of the shared part, not
        of the city) and returns the person sides of its connected components.
        O(E) SQL scan plus O(V + E) over the shared subgraph.
        """
        rows = self.query("shared_identifiers", min_persons=2)
        g = nx.Graph()
        for row in rows:
            ident = (row["kind"], row["number"])
            for pid in row["person_ids"]:
                g.add_edge(ident, ("person", pid))
        rings = [
            sorted(n[1] for n in comp if n[0] == "person") for comp in nx.connected_components(g)
        ]
        rings = [r for r in rings if len(r) >= max(2, min_persons)]
        return sorted(rings, key=lambda r: (-len(r), r[0]))


def _split_known(
    tx: duckdb.DuckDBPyConnection, name: str, table: pa.Table, keys: list[str]
) -> tuple[pa.Table, pa.Table]:
    """The rows of ``table`` whose key the store's table already holds, and the others.

    One semi-join with the batch on the build side: the store's table (35 M events at
    city scale) is only probed, with the batch's key range pushed into its scan, where
    an anti-join would hash the whole table for every write.
    """
    tx.register("_keys", table.select(keys))
    try:
        on = " AND ".join(f"n.{_q(k)} = b.{_q(k)}" for k in keys)
        known = tx.sql(
            f"SELECT DISTINCT {', '.join('n.' + _q(k) for k in keys)} FROM {name} n"
            f" SEMI JOIN _keys b ON {on}"
        ).to_arrow_table()
    finally:
        tx.unregister("_keys")
    if known.num_rows == 0:
        return table.slice(0, 0), table
    if len(keys) == 1:
        found = pc.is_in(table[keys[0]], value_set=known.column(0).combine_chunks())
    else:
        sep = "\x1f"
        joined = pc.binary_join_element_wise(*[table[k].cast(pa.string()) for k in keys], sep)
        held = pc.binary_join_element_wise(*[known[k].cast(pa.string()) for k in keys], sep)
        found = pc.is_in(joined, value_set=held.combine_chunks())
    found = pc.fill_null(found, False)
    return table.filter(found), table.filter(pc.invert(found))
