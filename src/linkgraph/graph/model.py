"""Graph tables: the graph as columnar node and relationship tables, checked against the schema.

A :class:`GraphTables` holds, per node label, one Arrow table (the key column
plus properties, named as in ``cypher/schema.cypher``) and, per relationship
type, one Arrow table with ``start`` and ``end`` (the end nodes' keys) plus the
relationship's properties. Both stores load exactly this value, so the two can
be compared row for row.

:func:`build_graph` turns the pipeline's tables into it with set-at-a-time
joins (DuckDB over Arrow), never a Python loop per row; :func:`graph_parts` gives
the same graph in parts, for a store to load one part at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.func import ARROW
from duckdb.sqltypes import VARCHAR

from linkgraph import duck
from linkgraph.catalogue import Catalogue
from linkgraph.errors import InputError
from linkgraph.graph.schema import ARROW_TYPES, GraphSchema, load_schema
from linkgraph.link.cluster import connected_labels
from linkgraph.masking import mask_account, mask_id_number, mask_names, mask_phone, pseudonym
from linkgraph.normalise import pinyin_keys
from linkgraph.tables import (
    ENROLLMENT,
    LINKED_EVENT,
    PERSON,
    RESOLUTION,
    ROSTER,
    conform,
    event_keys,
)

__all__ = [
    "DOOR_KNOCK",
    "EVENT_PART_ROWS",
    "SETTLED_FLAG_STATUSES",
    "Audience",
    "GraphTables",
    "build_graph",
    "for_audience",
    "graph_parts",
    "merge",
    "with_date_texts",
]

#: Negative channels that report a death; the death date is the earliest among them.

#: The kind of a Task from a table without one: dispatch's TASK rows are all door knocks.
DOOR_KNOCK = "door_knock"


def _widens(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Whether a column of ``actual`` type may be taken as ``expected`` without losing meaning."""
    if actual == expected:
        return True
    if pa.types.is_dictionary(actual):
        return _widens(actual.value_type, expected)
    if pa.types.is_null(actual):
        return True
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_floating(expected):
        return pa.types.is_integer(actual) or pa.types.is_floating(actual)
    if pa.types.is_string(expected):
        return pa.types.is_large_string(actual)
    if pa.types.is_date(expected):
        return pa.types.is_date(actual)
    if pa.types.is_list(expected) and (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
        return _widens(actual.value_type, expected.value_type)
    return False


def _first_value(column: pa.ChunkedArray | pa.Array) -> tuple[int, Any]:
    valid = pc.indices_nonzero(pc.is_valid(column))
    if len(valid) == 0:
        return 0, None
    index = valid[0].as_py()
    return index, column[index].as_py()


@dataclass(frozen=True)
class GraphTables:
    """Node tables by label and relationship tables by type.

    ``nodes["Person"]`` has a ``person_id`` column and any of Person's properties;
    ``relationships["HAS"]`` has ``start`` (a person_id), ``end`` (an enrollment_id)
    and any of HAS's properties. A table may carry only some properties: an
    upsert then sets only those.
    """

    nodes: Mapping[str, pa.Table] = field(default_factory=dict)
    relationships: Mapping[str, pa.Table] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            **{label: t.num_rows for label, t in self.nodes.items()},
            **{rtype: t.num_rows for rtype, t in self.relationships.items()},
        }

    @property
    def num_rows(self) -> int:
        return sum(self.counts().values())

    def conformed(self, schema: GraphSchema | None = None) -> GraphTables:
        """Check every table against the schema and cast to its types.

        Raises InputError naming the table, the record (by key, or start → end)
        and the property when a label or type is unknown, a key is missing or
        repeated, or a property has the wrong type.
        """
        schema = schema or load_schema()
        nodes = {label: _conform_nodes(schema, label, t) for label, t in self.nodes.items()}
        rels = {rtype: _conform_rels(schema, rtype, t) for rtype, t in self.relationships.items()}
        return GraphTables(nodes, rels)

    def check_references(
        self,
        schema: GraphSchema | None = None,
        existing: Any = None,
    ) -> None:
        """Raise InputError naming the first relationship whose end node is not there.

        ``existing(label, keys) -> pa.Array`` reports which of ``keys`` a store
        already holds; without it only this value's node tables count.
        """
        schema = schema or load_schema()
        for rtype, table in self.relationships.items():
            spec = schema.rel(rtype)
            for side, label in (("start", spec.start), ("end", spec.end)):
                known = self.nodes.get(label)
                keys = (
                    pc.unique(table[side])
                    if known is None
                    else _absent(table[side], known[schema.key(label)])
                )
                if len(keys) and existing is not None:
                    there = existing(label, keys)
                    keys = keys.filter(pc.invert(pc.is_in(keys, there)))
                if len(keys):
                    missing = keys[0].as_py()
                    row = pc.index(table[side], missing).as_py()
                    start, end = table["start"][row].as_py(), table["end"][row].as_py()
                    raise InputError(
                        f"{rtype} relationship {spec.start} {start!r} -> {spec.end} {end!r}:"
                        f" {side} node {label} {missing!r} is not there"
                        f" ({len(keys)} missing {label} key(s) in {rtype})"
                    )

    def batches(self, size: int) -> Iterator[GraphTables]:
        """Slices of at most ``size`` rows in all, node tables first, then relationships."""
        if size <= 0:
            raise InputError(f"batch size must be positive, got {size}")
        parts: list[tuple[str, str, pa.Table]] = [
            *(("node", k, t) for k, t in self.nodes.items()),
            *(("rel", k, t) for k, t in self.relationships.items()),
        ]
        nodes: dict[str, pa.Table] = {}
        rels: dict[str, pa.Table] = {}
        room = size
        for kind, name, table in parts:
            offset = 0
            while offset < table.num_rows:
                take = min(room, table.num_rows - offset)
                (nodes if kind == "node" else rels)[name] = table.slice(offset, take)
                offset += take
                room -= take
                if room == 0:
                    yield GraphTables(nodes, rels)
                    nodes, rels, room = {}, {}, size
        if nodes or rels:
            yield GraphTables(nodes, rels)


def _absent(values: pa.ChunkedArray, keys: pa.ChunkedArray) -> pa.Array:
    """The distinct ``values`` not among ``keys``.

    Integer keys in a dense range (event ids) are looked up in a bitmap of that
    range: at 35 M events one pass, where hashing both sides took 15 s per column.
    """
    dense = (
        len(keys)
        and pa.types.is_integer(keys.type)
        and pa.types.is_integer(values.type)
        and not keys.null_count
        and not values.null_count
    )
    if dense:
        k = keys.to_numpy()
        low, high = int(k.min()), int(k.max())
        if high - low < 4 * len(k) + 1_000_000:
            present = np.zeros(high - low + 1, dtype=bool)
            present[k - low] = True
            v = values.to_numpy()
            inside = (v >= low) & (v <= high)
            found = np.zeros(len(v), dtype=bool)
            found[inside] = present[v[inside] - low]
            return pc.unique(pa.array(v[~found], type=values.type))
    return pc.unique(values.filter(pc.invert(pc.is_in(values, value_set=keys))))


def _check_type(
    what: str, table: pa.Table, name: str, expected: pa.DataType, naming: Any
) -> pa.ChunkedArray:
    column = table[name]
    if _widens(column.type, expected):
        if column.type == expected:
            return column
        return column.cast(expected)
    index, value = _first_value(column)
    raise InputError(
        f"{what} {naming(index)}: property {name!r} is {column.type} ({value!r}),"
        f" expected {_type_name(expected)}"
    )


def _type_name(t: pa.DataType) -> str:
    return next(name for name, arrow in ARROW_TYPES.items() if arrow == t)


def _conform_nodes(schema: GraphSchema, label: str, table: pa.Table) -> pa.Table:
    spec = schema.node(label)
    key = spec.key
    if key not in table.column_names:
        raise InputError(f"{label} table: key column {key!r} is missing")
    unknown = [c for c in table.column_names if c not in spec.properties]
    if unknown:
        raise InputError(
            f"{label} table: unknown propert{'y' if len(unknown) == 1 else 'ies'}"
            f" {', '.join(unknown)} (known: {', '.join(spec.properties)})"
        )
    keys = table[key]

    def naming(index: int) -> str:
        return f"{label} {keys[index].as_py()!r}"

    nulls = pc.indices_nonzero(pc.is_null(keys))
    if len(nulls):
        raise InputError(f"{label} table, row {nulls[0].as_py()}: key {key!r} is null")
    columns = {
        name: _check_type(label, table, name, ARROW_TYPES[spec.properties[name]], naming)
        for name in (n for n in spec.properties if n in table.column_names)
    }
    out = pa.table(columns)
    check_unique_keys(label, key, out[key])
    return out


def check_unique_keys(label: str, key: str, keys: pa.ChunkedArray) -> None:
    """Raise InputError naming a key of ``label`` that ``keys`` holds more than once."""
    if len(keys) and pc.count_distinct(keys).as_py() != len(keys):
        counts = pc.value_counts(keys)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))
        raise InputError(
            f"{label} {repeated[0]['values'].as_py()!r}: key {key!r} repeated"
            f" ({len(repeated)} repeated key(s) in {label})"
        )


def _conform_rels(schema: GraphSchema, rtype: str, table: pa.Table) -> pa.Table:
    spec = schema.rel(rtype)
    target = schema.rel_schema(rtype)
    for needed in ("start", "end"):
        if needed not in table.column_names:
            raise InputError(f"{rtype} table: column {needed!r} is missing")
    unknown = [c for c in table.column_names if c not in target.names]
    if unknown:
        raise InputError(
            f"{rtype} table: unknown column(s) {', '.join(unknown)}"
            f" (known: {', '.join(target.names)})"
        )

    def naming(index: int) -> str:
        return (
            f"relationship {spec.start} {table['start'][index].as_py()!r}"
            f" -> {spec.end} {table['end'][index].as_py()!r}"
        )

    for side in ("start", "end"):
        nulls = pc.indices_nonzero(pc.is_null(table[side]))
        if len(nulls):
            raise InputError(f"{rtype} {naming(nulls[0].as_py())}: {side} key is null")
    columns = {
        f.name: _check_type(rtype, table, f.name, f.type, naming)
        for f in target
        if f.name in table.column_names
    }
    return pa.table(columns)


# --------------------------------------------------------------------------- build


def _masked(mask: Callable[[str | None], str | None]) -> Callable[[Any], pa.Array]:
    """``mask`` (a function of :mod:`linkgraph.masking`) over a column: a DuckDB Arrow
    function, or applied to an Arrow column directly."""

    def apply(values: Any) -> pa.Array:
        return pa.array([mask(v) for v in values.to_pylist()], pa.string())

    return apply


def _arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pa.Table:
    return con.sql(sql, params=params).to_arrow_table()


def _catalogue_tables(catalogue: Catalogue) -> dict[str, pa.Table]:
    villages = catalogue.villages
    counts = np.array([v.grids for v in villages], dtype=np.int64)
    village_index = np.repeat(np.arange(len(villages)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    number = np.arange(len(village_index)) - starts + 1
    vcode = pa.array([v.code for v in villages]).take(pa.array(village_index))
    grid_code = pc.binary_join_element_wise(
        vcode, pc.utf8_lpad(pa.array(number).cast(pa.string()), 3, "0"), "G"
    )
    return {
        "departments": pa.Table.from_pylist([d.model_dump() for d in catalogue.departments]),
        "items": pa.Table.from_pylist(
            [i.model_dump() for i in catalogue.benefit_items],
            schema=pa.schema(
                [
                    ("code", pa.string()),
                    ("name", pa.string()),
                    ("name_en", pa.string()),
                    ("department", pa.string()),
                    ("monthly_amount", pa.int64()),
                    ("exclusive_group", pa.string()),
                ]
            ),
        ),
        "channels": pa.Table.from_pylist(
            [
                {
                    **c.model_dump(),
                    **{k: str(getattr(c, k)) for k in ("polarity", "strength", "identifier")},
                }
                for c in catalogue.channels
            ]
        ),
        "grids": pa.table(
            {
                "code": grid_code,
                "village": vcode,
                "village_name": pa.array([v.name for v in villages]).take(pa.array(village_index)),
                "township": pa.array([v.township for v in villages]).take(pa.array(village_index)),
                "district": pa.array([v.district for v in villages]).take(pa.array(village_index)),
            }
        ),
    }


def build_graph(
    catalogue: Catalogue,
    persons: pa.Table,
    records: pa.Table,
    resolution: pa.Table,
    enrollments: pa.Table,
    events: pa.Table,
    *,
    certifications: pa.Table | None = None,
    enrollment_status: pa.Table | None = None,
    flags: pa.Table | None = None,
    tasks: pa.Table | None = None,
    all_grids: bool = False,
    death_channels: Collection[str] | None = None,
    schema: GraphSchema | None = None,
) -> GraphTables:
    """The pipeline's tables as one graph, checked: every edge's ends are present.

    Parameters
    ----------
    catalogue : the departments, items, channels and geography.
    persons : PERSON rows (linkgraph.tables.PERSON).
    records, resolution : ROSTER rows and the RESOLUTION of each to a person.
    enrollments : ENROLLMENT rows (one per roster record).
    events : LINKED_EVENT rows; those with no person are left out (see schema.cypher).
    certifications : optional; person_id, status, method, certified_on, valid_until,
        rule, evidence_event_keys (and cert_id, else ``<person_id>@cert``: :data:`CERT_SUFFIX`).
    enrollment_status : optional; enrollment_id, status, valid_until, reason.
    flags : optional; flag_id, kind, person_ids, enrollment_ids, evidence_event_keys,
        amount_at_risk, months, status, detail.
    tasks : optional; task_id, person_id, grid, and any of kind (else ``DOOR_KNOCK``),
        due_on, status, reason: dispatch's TASK table as it is.
    all_grids : make a Grid node of every grid of the catalogue (135,711 in the city),
        not only of those a person lives in or a task points to.
    death_channels : the channels that report a death (``Channel.reports_death``); by
        default the policy's (``[negative] death_channels`` in ``seed/policy.toml``).

    Returns
    -------
    GraphTables, conformed to ``cypher/schema.cypher``.

    Raises
    ------
    InputError
        A table lacks a column or has a wrong type (naming table and column), or a
        relationship's end node is missing (naming the relationship).
    """
    schema = schema or load_schema()
    parts = graph_parts(
        catalogue,
        persons,
        records,
        resolution,
        enrollments,
        events,
        certifications=certifications,
        enrollment_status=enrollment_status,
        flags=flags,
        tasks=tasks,
        all_grids=all_grids,
        death_channels=death_channels,
    )
    graph = merge(parts).conformed(schema)
    graph.check_references(schema)
    return graph


def merge(parts: Iterable[GraphTables]) -> GraphTables:
    """One GraphTables of ``parts``; a label or type in several parts has their rows appended."""
    nodes: dict[str, list[pa.Table]] = {}
    rels: dict[str, list[pa.Table]] = {}
    for part in parts:
        for label, table in part.nodes.items():
            nodes.setdefault(label, []).append(table)
        for rtype, table in part.relationships.items():
            rels.setdefault(rtype, []).append(table)

    def one(tables: list[pa.Table]) -> pa.Table:
        return (
            tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
        )

    return GraphTables({k: one(v) for k, v in nodes.items()}, {k: one(v) for k, v in rels.items()})


#: Who a graph projected into Neo4j is for (``Settings.neo4j_audience``): investigators
#: see persons whole; analysts browse a graph that holds no more than they may see.
Audience = Literal["investigator", "analyst"]


def _flag_detail(kind: str | None, detail: str | None) -> str | None:
    """A flag's detail as analysts keep it: an ``id_name_mismatch`` lists the names an ID
    number is carried by (``…carried by 2 names: 王秀英, 王秀音``), so the list is cut (a
    detail written without its kind, when it reads so)."""
    names = kind == "id_name_mismatch" or (kind is None and " names: " in (detail or ""))
    return detail.split(": ", 1)[0] if names and detail else detail


def for_audience(tables: GraphTables, audience: Audience, key: bytes | None = None) -> GraphTables:
    """``tables`` as a graph for ``audience`` holds them.

    ``investigator``: unchanged (the same object). ``analyst``: only the masked forms of
    :mod:`linkgraph.masking`, so the Browser's property panel has nothing to unmask (Neo4j
    Community has no property-level security):

    * Person and SourceRecord: ``name`` as ``mask_names`` (王*英), ``id_number`` (and a
      record's ``sscard_no``) as ``mask_id_number``; ``address`` and the Person's
      ``pinyin`` (which spells the name) not kept. District, village and grid stay.
    * Phone, BankAccount, Address nodes and the REACHABLE_AT, PAID_TO, LIVES_AT ends that
      name them: keyed by :func:`~linkgraph.masking.pseudonym` under ``key``, the masked
      number and a keyed hash (``138****5678 #5f0c…``; an address by its hash alone), so
      a phone, account or address two persons share is still one node.
    * Flag: an ``id_name_mismatch``'s detail without the names it lists.

    A table may carry only some columns (an upsert): those present are rewritten. Apply it
    once: a pseudonym of a pseudonym is another node.
    """
    if audience == "investigator":
        return tables
    if audience != "analyst":
        raise InputError(f"unknown audience {audience!r} (known: investigator, analyst)")
    if key is None:
        raise InputError("a graph for analysts needs the pseudonyms' key")
    secret = key

    def keyed(mask: Callable[[str | None], str | None] | None) -> Callable[[Any], pa.Array]:
        return _masked(lambda v: pseudonym(secret, v, mask(v) if mask else None))

    phone, account, address = keyed(mask_phone), keyed(mask_account), keyed(None)

    def dropped(values: Any) -> pa.Array:
        return pa.nulls(len(values), pa.string())

    person = {"name": mask_names, "id_number": _masked(mask_id_number)}
    columns: dict[str, dict[str, Callable[[Any], pa.Array]]] = {
        "Person": {**person, "address": dropped, "pinyin": dropped},
        "SourceRecord": {**person, "address": dropped, "sscard_no": _masked(mask_id_number)},
        "Phone": {"number": phone},
        "BankAccount": {"number": account},
        "Address": {"address": address},
        "REACHABLE_AT": {"end": phone},
        "PAID_TO": {"end": account},
        "LIVES_AT": {"end": address},
    }

    def rewritten(name: str, table: pa.Table) -> pa.Table:
        for column, apply in columns.get(name, {}).items():
            if column in table.column_names:
                i = table.column_names.index(column)
                table = table.set_column(i, column, apply(table[column]))
        if name == "Flag" and "detail" in table.column_names:
            kinds = table["kind"].to_pylist() if "kind" in table.column_names else None
            details = table["detail"].to_pylist()
            kept = [_flag_detail(kinds[i] if kinds else None, d) for i, d in enumerate(details)]
            table = table.set_column(
                table.column_names.index("detail"), "detail", pa.array(kept, pa.string())
            )
        return table

    return GraphTables(
        {label: rewritten(label, t) for label, t in tables.nodes.items()},
        {rtype: rewritten(rtype, t) for rtype, t in tables.relationships.items()},
    )


def with_date_texts(tables: GraphTables, schema: GraphSchema) -> GraphTables:
    """``tables`` (conformed) with the text copy of each date the schema gives one
    (``NodeSpec.date_texts``: ``death_date_text``), where a table carries the date.

    Neo4j Browser 5 writes a DATE into a node's caption in quotes (``"2026-06-14"``) and GraSS
    cannot format it, so the style captions the copy. One Arrow cast per column (ISO 8601),
    no loop per row; a null date gives a null copy, so an upsert clearing one clears both.
    """

    def copied(label: str, table: pa.Table) -> pa.Table:
        spec = schema.node(label)
        texts = {t: d for t, d in spec.date_texts.items() if d in table.column_names}
        if not texts:
            return table
        columns = {name: table[name] for name in table.column_names}
        columns |= {text: table[date].cast(pa.string()) for text, date in texts.items()}
        return pa.table({name: columns[name] for name in spec.properties if name in columns})

    return GraphTables(
        {label: copied(label, t) for label, t in tables.nodes.items()}, tables.relationships
    )


#: Evidence events per part of :func:`graph_parts`: the city's 37.5 M in parts of this
#: size keep the graph's copy of them to a few hundred MiB at a time.
EVENT_PART_ROWS = 2_000_000


def graph_parts(
    catalogue: Catalogue,
    persons: pa.Table,
    records: pa.Table,
    resolution: pa.Table,
    enrollments: pa.Table,
    events: pa.Table | pa.RecordBatchReader,
    *,
    certifications: pa.Table | None = None,
    enrollment_status: pa.Table | None = None,
    flags: pa.Table | None = None,
    tasks: pa.Table | None = None,
    all_grids: bool = False,
    death_channels: Collection[str] | None = None,
) -> Iterator[GraphTables]:
    """:func:`build_graph`'s graph in unchecked parts, built one after the other.

    One part per source table, and the evidence events (the bulk of the graph) in
    parts of :data:`EVENT_PART_ROWS`, so a store can write each part and let it go
    (``GraphStore.load_parts``). Parameters as :func:`build_graph`, but ``events``
    may also be a reader of LINKED_EVENT batches (a version's events file), read as
    the parts need them; every input is checked before the first part is made.
    """
    persons = _conform_named(persons, PERSON, "persons", "person_id")
    records = _conform_named(records, ROSTER, "records", "record_id")
    resolution = _conform_named(resolution, RESOLUTION, "resolution", "record_id")
    enrollments = _conform_named(enrollments, ENROLLMENT, "enrollments", "enrollment_id")
    if isinstance(events, pa.Table):
        events = _conform_named(events, LINKED_EVENT, "events", "event_id")
    elif not events.schema.equals(LINKED_EVENT):
        raise InputError(f"events: a reader of {events.schema.names}, not of LINKED_EVENT")
    if enrollment_status is not None:
        _require(enrollment_status, "enrollment_status", ("enrollment_id", "status", "valid_until"))
    if certifications is not None:
        _require(
            certifications,
            "certifications",
            ("person_id", "status", "method", "certified_on", "valid_until", "rule"),
        )
    if flags is not None:
        _require(flags, "flags", ("flag_id", "kind", "person_ids", "enrollment_ids"))
    if tasks is not None:
        _require(tasks, "tasks", ("task_id", "person_id", "grid"))
    con = duck.connect()
    # 王秀英 -> 王*英: the Person's caption in the Browser, by the masking module's rule
    con.create_function("mask_name", mask_names, [VARCHAR], VARCHAR, type=ARROW)
    try:
        for name, table in {
            "persons": persons,
            "records": records,
            "resolution": resolution,
            "enrollments": enrollments,
            **({"tasks": tasks} if tasks is not None else {}),
            **_catalogue_tables(catalogue),
        }.items():
            con.register(name, table)
        if death_channels is None:
            from linkgraph.policy import Policy

            death_channels = Policy.load().negative.death_channels
        # every node before the relationships that end at it, so a store writing part by
        # part finds each end among the parts written (certifications and flags cite events)
        yield _catalogue_part(con, tasks, all_grids, death_channels)
        yield _person_part(con, certifications, flags)
        yield _enrollment_part(con, enrollment_status)
        yield _record_part(con)
        yield from _event_parts(events)
        if certifications is not None:
            yield _certification_part(con, certifications)
        if flags is not None:
            yield _flag_part(con, flags)
        if tasks is not None:
            yield _task_part(con, tasks)
    finally:
        con.close()


def _catalogue_part(
    con: duckdb.DuckDBPyConnection,
    tasks: pa.Table | None,
    all_grids: bool,
    death_channels: Collection[str],
) -> GraphTables:
    used = "SELECT grid FROM persons" + (
        " UNION SELECT grid FROM tasks" if tasks is not None else ""
    )
    return GraphTables(
        {
            "Department": _arrow(con, "SELECT code, name, name_en FROM departments"),
            "BenefitItem": _arrow(con, "SELECT * FROM items"),
            "Channel": _arrow(
                con,
                "SELECT code, name, name_en, polarity, strength, identifier,"
                " list_contains($death, code) AS reports_death FROM channels",
                {"death": list(death_channels)},
            ),
            "Grid": _arrow(
                con,
                "SELECT * FROM grids"
                + ("" if all_grids else f" WHERE code IN ({used})")
                + " ORDER BY code",
            ),
        },
        {
            "ADMINISTERS": _arrow(con, 'SELECT department AS start, code AS "end" FROM items'),
            "PROVIDED_BY": _arrow(con, 'SELECT code AS start, department AS "end" FROM channels'),
        },
    )


#: Flag statuses that need nothing more: a person's open flags and money at risk leave them out.
SETTLED_FLAG_STATUSES = ("dismissed", "recovered", "written_off")


def _person_part(
    con: duckdb.DuckDBPyConnection, certifications: pa.Table | None, flags: pa.Table | None
) -> GraphTables:
    """Persons with the facts investigators sort by, their phones and their addresses.

    The facts come from the core's results: the death date its certification found, the
    flags still to be settled, and the ring the person's shared identifiers tie them to.
    """
    con.register("person_pinyin", _pinyin(con))
    con.register("person_ring", _rings(con))
    death = "SELECT NULL::VARCHAR AS person_id, NULL::DATE AS death_on WHERE false"
    if certifications is not None and "death_on" in certifications.column_names:
        con.register("death_certs", certifications.select(["person_id", "death_on"]))
        death = "SELECT person_id, max(death_on) AS death_on FROM death_certs GROUP BY ALL"
    at_risk = "SELECT NULL::VARCHAR AS person_id, 0 AS open_flags, 0 AS money_at_risk WHERE false"
    if flags is not None:
        recovered = "f.amount_recovered" if "amount_recovered" in flags.column_names else "0"
        amount = "f.amount_at_risk" if "amount_at_risk" in flags.column_names else "0"
        status = "f.status" if "status" in flags.column_names else "'open'"
        settled = ", ".join(f"'{s}'" for s in SETTLED_FLAG_STATUSES)
        con.register("person_flags", flags)
        at_risk = (
            "SELECT person_id, count(*) AS open_flags, sum(at_risk) AS money_at_risk FROM"
            f" (SELECT unnest(f.person_ids) AS person_id,"
            f" coalesce({amount}, 0) - coalesce({recovered}, 0) AS at_risk"
            f" FROM person_flags f WHERE coalesce({status}, 'open') NOT IN ({settled}))"
            " GROUP BY person_id"
        )
    return GraphTables(
        {
            "Person": _arrow(
                con,
                "SELECT p.person_id, p.name, p.id_number, p.birth_date, p.gender, p.address,"
                " p.village, p.grid, p.district, mask_name(p.name) AS masked_name, y.pinyin,"
                " d.death_on AS death_date, coalesce(f.open_flags, 0)::BIGINT AS open_flags,"
                " coalesce(f.money_at_risk, 0)::BIGINT AS money_at_risk, r.ring_id"
                " FROM persons p JOIN person_pinyin y USING (person_id)"
                f" LEFT JOIN ({death}) d USING (person_id)"
                f" LEFT JOIN ({at_risk}) f USING (person_id)"
                " LEFT JOIN person_ring r USING (person_id)",
            ),
            "Phone": _arrow(
                con,
                "SELECT DISTINCT phone AS number FROM persons WHERE phone IS NOT NULL ORDER BY 1",
            ),
            "Address": _arrow(
                con,
                "SELECT DISTINCT address FROM persons WHERE nullif(trim(address), '') IS NOT NULL"
                " ORDER BY 1",
            ),
        },
        {
            "REACHABLE_AT": _arrow(
                con,
                'SELECT person_id AS start, phone AS "end" FROM persons WHERE phone IS NOT NULL',
            ),
            "LIVES_IN": _arrow(
                con,
                'SELECT person_id AS start, grid AS "end" FROM persons WHERE grid IS NOT NULL',
            ),
            "LIVES_AT": _arrow(
                con,
                'SELECT person_id AS start, address AS "end" FROM persons'
                " WHERE nullif(trim(address), '') IS NOT NULL",
            ),
        },
    )


def _pinyin(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Each person's name in toneless pinyin run together: 王秀英 -> ``wangxiuying``.

    One token for the full-text index, so a prefix (``wangx*``) finds it.
    """
    persons = _arrow(con, "SELECT person_id, name FROM persons")
    keys = pinyin_keys(persons["name"])
    return pa.table(
        {"person_id": persons["person_id"], "pinyin": pc.replace_substring(keys, " ", "")}
    )


def _rings(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """``ring_id`` of every person tied to another through a shared bank account or phone:
    the smallest person_id of its connected component (persons and their identifiers).

    Weakly connected components once per projection (numpy min-label propagation,
    O(E) per round): a query then groups by the property on either store, where a
    traversal per query would walk the city's 1.36 M persons.
    """
    held = _arrow(
        con,
        """
        WITH persons_sorted AS (
            SELECT person_id, row_number() OVER (ORDER BY person_id) - 1 AS i FROM persons
        ), held AS (
            SELECT DISTINCT 'a' || bank_account AS ident, person_id FROM enrollments
            WHERE bank_account IS NOT NULL
            UNION SELECT 'p' || phone, person_id FROM persons WHERE phone IS NOT NULL
        ), shared AS (
            SELECT ident FROM held GROUP BY ident HAVING count(*) > 1
        )
        SELECT s.i AS person, dense_rank() OVER (ORDER BY h.ident) - 1 AS ident
        FROM held h JOIN shared USING (ident) JOIN persons_sorted s USING (person_id)
        """,
    )
    ids = _arrow(con, "SELECT person_id FROM persons ORDER BY person_id")["person_id"]
    n = len(ids)
    person, ident = held["person"].to_numpy(), held["ident"].to_numpy()
    idents = int(ident.max()) + 1 if len(ident) else 0
    # identifiers numbered after the persons, so a component's smallest label is a person
    labels = connected_labels(n + idents, person, ident + n)
    tied = np.unique(person)
    ring = labels[tied]
    return pa.table(
        {"person_id": ids.take(pa.array(tied)), "ring_id": ids.take(pa.array(ring))},
    )


def _record_part(con: duckdb.DuckDBPyConnection) -> GraphTables:
    return GraphTables(
        {
            "SourceRecord": _arrow(
                con,
                "SELECT record_id, source, name, id_number, birth_date, address, sscard_no"
                " FROM records",
            ),
        },
        {
            "RESOLVES_TO": _arrow(
                con,
                'SELECT record_id AS start, person_id AS "end", band, match_probability'
                " FROM resolution",
            ),
            "RECORDS": _arrow(
                con,
                'SELECT r.record_id AS start, e.enrollment_id AS "end" FROM records r'
                " JOIN enrollments e ON e.enrollment_id = r.record_id",
            ),
        },
    )


def _enrollment_part(
    con: duckdb.DuckDBPyConnection, enrollment_status: pa.Table | None
) -> GraphTables:
    if enrollment_status is None:
        enrollment = _arrow(
            con,
            "SELECT enrollment_id, item_code, enrolled_on, paid_until,"
            " monthly_amount::BIGINT AS monthly_amount FROM enrollments",
        )
    else:
        con.register("enrollment_status", enrollment_status)
        reason = "s.reason" if "reason" in enrollment_status.column_names else "NULL::VARCHAR"
        enrollment = _arrow(
            con,
            "SELECT e.enrollment_id, e.item_code, e.enrolled_on, e.paid_until,"
            " e.monthly_amount::BIGINT AS monthly_amount, s.status,"
            f" s.valid_until::DATE AS valid_until, {reason} AS reason"
            " FROM enrollments e LEFT JOIN enrollment_status s USING (enrollment_id)",
        )
        unknown = _arrow(
            con,
            "SELECT enrollment_id FROM enrollment_status"
            " ANTI JOIN enrollments USING (enrollment_id) LIMIT 1",
        )
        if unknown.num_rows:
            raise InputError(
                f"enrollment_status {unknown['enrollment_id'][0].as_py()!r}:"
                " enrolment Enrollment is not there"
            )
    return GraphTables(
        {
            "Enrollment": enrollment,
            "BankAccount": _arrow(
                con,
                "SELECT DISTINCT bank_account AS number FROM enrollments"
                " WHERE bank_account IS NOT NULL ORDER BY 1",
            ),
        },
        {
            "HAS": _arrow(
                con, 'SELECT person_id AS start, enrollment_id AS "end" FROM enrollments'
            ),
            "OF": _arrow(con, 'SELECT enrollment_id AS start, item_code AS "end" FROM enrollments'),
            "PAID_TO": _arrow(
                con,
                'SELECT enrollment_id AS start, bank_account AS "end" FROM enrollments'
                " WHERE bank_account IS NOT NULL",
            ),
        },
    )


#: A person's certification node is ``<person_id>@cert``: one per person, the latest, which a
#: live decision updates in place (so the graph after it and after the next run agree).
CERT_SUFFIX = "@cert"


def _certification_part(con: duckdb.DuckDBPyConnection, certifications: pa.Table) -> GraphTables:
    con.register("certs_in", certifications)
    cert_id = (
        "cert_id" if "cert_id" in certifications.column_names else f"person_id || '{CERT_SUFFIX}'"
    )
    evidence = (
        "evidence_event_keys"
        if "evidence_event_keys" in certifications.column_names
        else "[]::VARCHAR[]"
    )
    warning = (
        "warning_until::DATE" if "warning_until" in certifications.column_names else "NULL::DATE"
    )
    con.execute(
        f"CREATE TEMP TABLE certs AS SELECT {cert_id} AS cert_id, person_id, status, method,"
        " certified_on::DATE AS certified_on, valid_until::DATE AS valid_until,"
        f" {warning} AS warning_until, rule,"
        f" {evidence} AS evidence_event_keys FROM certs_in"
    )
    try:
        return GraphTables(
            {
                "Certification": _arrow(
                    con,
                    "SELECT cert_id, status, method, certified_on, valid_until, warning_until,"
                    " rule FROM certs",
                ),
            },
            {
                "CERTIFIED_BY": _arrow(
                    con, 'SELECT person_id AS start, cert_id AS "end" FROM certs'
                ),
                "BASED_ON": _arrow(
                    con,
                    'SELECT DISTINCT cert_id AS start, unnest(evidence_event_keys) AS "end"'
                    " FROM certs",
                ),
            },
        )
    finally:
        con.execute("DROP TABLE certs")


def _flag_part(con: duckdb.DuckDBPyConnection, flags: pa.Table) -> GraphTables:
    con.register("flags", flags)
    props = [
        c
        for c in ("amount_at_risk", "amount_recovered", "months", "status", "detail", "raised_on")
        if c in flags.column_names
    ]
    rels = {
        "CONCERNS": _arrow(
            con, 'SELECT DISTINCT flag_id AS start, unnest(person_ids) AS "end" FROM flags'
        ),
        "ON": _arrow(
            con, 'SELECT DISTINCT flag_id AS start, unnest(enrollment_ids) AS "end" FROM flags'
        ),
    }
    if "evidence_event_keys" in flags.column_names:
        rels["CITES"] = _arrow(
            con,
            'SELECT DISTINCT flag_id AS start, unnest(evidence_event_keys) AS "end" FROM flags',
        )
    return GraphTables(
        {"Flag": _arrow(con, f"SELECT flag_id, kind{''.join(', ' + c for c in props)} FROM flags")},
        rels,
    )


def _task_part(con: duckdb.DuckDBPyConnection, tasks: pa.Table) -> GraphTables:
    kind = "kind" if "kind" in tasks.column_names else f"'{DOOR_KNOCK}' AS kind"
    props = [c for c in ("due_on", "status", "reason") if c in tasks.column_names]
    return GraphTables(
        {
            "Task": _arrow(
                con, f"SELECT task_id, {kind}{''.join(', ' + c for c in props)} FROM tasks"
            ),
        },
        {
            "FOR": _arrow(con, 'SELECT task_id AS start, person_id AS "end" FROM tasks'),
            "IN": _arrow(
                con, 'SELECT task_id AS start, grid AS "end" FROM tasks WHERE grid IS NOT NULL'
            ),
        },
    )


def _event_parts(events: pa.Table | pa.RecordBatchReader) -> Iterator[GraphTables]:
    """EvidenceEvent, HAS_EVIDENCE and FROM of the events tied to a person, a slice at a time.

    Column selections of one filtered slice: no SQL, no copy beyond the filter.
    """
    for part in _slices(events, EVENT_PART_ROWS):
        part = part.filter(pc.is_valid(part["person_id"]))
        keys = event_keys(part)
        yield GraphTables(
            {
                "EvidenceEvent": part.select(
                    ["event_id", "channel", "occurred_on", "reported_on", "linked_by"]
                ).add_column(0, "event_key", keys),
            },
            {
                "HAS_EVIDENCE": pa.table({"start": part["person_id"], "end": keys}),
                "FROM": pa.table({"start": keys, "end": part["channel"]}),
            },
        )


def _slices(events: pa.Table | pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """``events`` in slices of ``rows`` rows: the last fewer, one empty if there are none.

    A reader's batches are read only as the slices reach them and let go after: the
    pages of a memory-mapped table, once read, stay in the process's resident memory
    (1.8 GiB for a city's 37.5 M events)."""
    batches = events.to_batches() if isinstance(events, pa.Table) else events
    rest, sliced = events.schema.empty_table(), False
    for batch in batches:
        rest = pa.concat_tables([rest, pa.Table.from_batches([batch])])
        while rest.num_rows >= rows:
            yield rest.slice(0, rows)
            rest, sliced = rest.slice(rows), True
    if rest.num_rows or not sliced:
        yield rest


def _first_bad_cast(column: pa.Array, target: pa.DataType) -> int:
    """Index of the first value of ``column`` that does not cast to ``target`` (bisection).

    Runs only on the error path: O(log n) casts of halving slices, no loop per row.
    """
    lo, hi = 0, len(column)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            column.slice(lo, mid - lo).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
        else:
            lo = mid
    return lo


def _conform_named(table: pa.Table, schema: pa.Schema, what: str, key: str) -> pa.Table:
    """``conform``, but a value of the wrong type is reported with its record's key."""
    try:
        return conform(table, schema, what)
    except InputError as exc:
        for f in schema:
            if f.name not in table.column_names or table[f.name].type == f.type:
                continue
            column = table[f.name].combine_chunks()
            try:
                column.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                index = _first_bad_cast(column, f.type)
                record = table[key][index].as_py() if key in table.column_names else index
                raise InputError(
                    f"{what} {key}={record!r}: {f.name} {column[index].as_py()!r}"
                    f" is not a {f.type} (column is {column.type})"
                ) from exc
        raise


def _require(table: pa.Table, what: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(f"{what}: missing column(s) {', '.join(missing)}")
