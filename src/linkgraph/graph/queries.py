"""The Cypher library and its embedded twins: name -> (cypher file, embedded function).

Each query lives in ``cypher/queries/<name>.cypher``, runnable as is in the Neo4j
Browser once its ``:param`` lines (in the header) are set. The header is the
single description of the query: its parameters (name, example value and so
type, whether required) and its result columns are parsed from it here::

    // Parameters:
    //   :param person_id => 'P0000001'          (required) the person
    //   :param on => date('2026-12-31')         the day (default: the as-of date)
    // Returns: kind, id, detail, since, until, note

A date parameter whose doc says ``(default: the as-of date)`` or ``(default: N days
before the as-of date)`` defaults to the as-of date of the data served; the
example date is only an example.

The embedded twin of each query reads the DuckDB node and relationship tables of
:class:`~linkgraph.graph.embedded_store.EmbeddedStore` (``n_<label>``,
``r_<type>``) and, where the answer is a traversal, builds the small networkx
graph it needs. Twins return the same columns, values and order as the Cypher.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import networkx as nx

from linkgraph.errors import InputError
from linkgraph.graph.model import SETTLED_FLAG_STATUSES
from linkgraph.graph.schema import CYPHER_DIR

QUERY_DIR = CYPHER_DIR / "queries"

Row = dict[str, Any]
Embedded = Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], Any]

_PARAM = re.compile(
    r"^//\s*:param\s+(\w+)\s*=>\s*('[^']*'|-?\d+|date\('\d{4}-\d{2}-\d{2}'\))\s*(.*)$"
)
_RETURNS = re.compile(r"^//\s*Returns:\s*(.+?)\s*(?:—.*)?$")
_AS_OF_DEFAULT = re.compile(r"\(default: (?:(\d+) days before )?the as-of date\)")


def node_table(label: str) -> str:
    """The embedded store's table of ``label`` nodes: ``n_person``."""
    return f"n_{label.lower()}"


def rel_table(rtype: str) -> str:
    """The embedded store's table of ``rtype`` relationships: ``r_has_evidence``."""
    return f"r_{rtype.lower()}"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: type  # str, int or dt.date
    example: Any
    required: bool
    doc: str
    #: Days before the data's as-of date it defaults to (None: defaults to ``example``).
    before_as_of: int | None = None

    def coerce(self, value: Any) -> Any:
        if self.kind is dt.date:
            if isinstance(value, dt.date):
                return value
            try:
                return dt.date.fromisoformat(str(value))
            except ValueError:
                raise InputError(
                    f"parameter {self.name!r}: {value!r} is not a date (YYYY-MM-DD)"
                ) from None
        if self.kind is int:
            try:
                return int(value)
            except (TypeError, ValueError):
                raise InputError(f"parameter {self.name!r}: {value!r} is not an integer") from None
        return str(value)


@dataclass(frozen=True, slots=True)
class LibraryQuery:
    """A named, read-only query of the library.

    The library only reads: it traverses and aggregates for investigators and never
    decides eligibility. Enrolment statuses are the domain core's answer
    (:func:`linkgraph.recognise.recognise`), written into the graph by the pipeline
    and the live service.
    """

    name: str
    path: Path
    params: dict[str, Param]
    columns: tuple[str, ...]
    embedded: Embedded
    summary: str

    @property
    def cypher(self) -> str:
        """The statement the driver runs: the file without its comment lines."""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return "\n".join(line for line in lines if not line.lstrip().startswith("//")).strip()

    def bind(self, given: dict[str, Any], as_of: dt.date | None = None) -> dict[str, Any]:
        """Check and type the caller's parameters; fill the optional ones from the header,
        dates counted from ``as_of``, the as-of date of the data served."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise InputError(
                f"query {self.name!r}: unknown parameter(s) {', '.join(unknown)}"
                f" (allowed: {', '.join(self.params) or 'none'})"
            )
        bound = {}
        for name, param in self.params.items():
            if name in given and given[name] is not None:
                bound[name] = param.coerce(given[name])
            elif param.required:
                raise InputError(
                    f"query {self.name!r}: parameter {name!r} is required (e.g. {param.example!r})"
                )
            elif param.before_as_of is not None:
                if as_of is None:
                    raise InputError(
                        f"query {self.name!r}: parameter {name!r} is needed: it defaults to"
                        " the as-of date of the data served, and there is none (no run yet)"
                    )
                bound[name] = as_of - dt.timedelta(days=param.before_as_of)
            else:
                bound[name] = param.example
        return bound


def _literal(text: str) -> tuple[type, Any]:
    if text.startswith("'"):
        return str, text[1:-1]
    if text.startswith("date("):
        return dt.date, dt.date.fromisoformat(text[6:-2])
    return int, int(text)


def _library_query(name: str, embedded: Embedded) -> LibraryQuery:
    path = QUERY_DIR / f"{name}.cypher"
    lines = path.read_text(encoding="utf-8").splitlines()
    params: dict[str, Param] = {}
    columns: tuple[str, ...] = ()
    for line in lines:
        if match := _PARAM.match(line.strip()):
            pname, literal, rest = match.groups()
            kind, example = _literal(literal)
            required = "(required)" in rest
            doc = rest.replace("(required)", "").strip()
            default = _AS_OF_DEFAULT.search(rest)
            before = int(default.group(1) or 0) if default and kind is dt.date else None
            params[pname] = Param(pname, kind, example, required, doc, before)
        elif match := _RETURNS.match(line.strip()):
            columns = tuple(c.strip() for c in match.group(1).split(","))
    if not columns:
        raise InputError(f"{path.name}: header has no 'Returns:' line")
    summary = lines[0].lstrip("/ ").strip() if lines else name
    return LibraryQuery(name, path, params, columns, embedded, summary)


# ------------------------------------------------------------------ embedded twins
# Each takes the store's DuckDB connection and the bound parameters.

P, E, EV = node_table("Person"), node_table("Enrollment"), node_table("EvidenceEvent")


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[Row]:
    result = con.execute(sql, params or {})
    names = [d[0] for d in result.description or ()]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def person_360(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Everything linked to one person: the ego graph of radius 1 around the person node.

    The graph is built from the rows of every relationship table that touch
    the person (a few dozen edges), so the cost is that of the person's own
    degree, whatever the size of the city.

    Complexity: O(deg(p)) index lookups plus O(deg(p)) networkx work.
    """
    pid = params["person_id"]
    g = nx.MultiDiGraph()
    person = _rows(
        con, f"SELECT person_id, name, birth_date, grid FROM {P} WHERE person_id = $p", {"p": pid}
    )
    if not person:
        return []
    me = ("Person", pid)
    g.add_node(
        me,
        kind="person",
        id=pid,
        detail=person[0]["name"],
        since=person[0]["birth_date"],
        until=None,
        note=person[0]["grid"],
    )
    neighbours = {
        # rel type -> (SQL of id, detail, since, until, note; row kind)
        "RESOLVES_TO": (
            f"SELECT r.record_id AS id, r.source AS detail, NULL::DATE AS since,"
            f" NULL::DATE AS until, x.band AS note FROM {rel_table('RESOLVES_TO')} x"
            f' JOIN {node_table("SourceRecord")} r ON r.record_id = x.start WHERE x."end" = $p',
            "record",
        ),
        "HAS": (
            f"SELECT e.enrollment_id AS id, e.item_code AS detail, e.enrolled_on AS since,"
            f" e.paid_until AS until, e.status AS note FROM {rel_table('HAS')} x"
            f' JOIN {E} e ON e.enrollment_id = x."end" WHERE x.start = $p',
            "enrollment",
        ),
        "HAS_EVIDENCE": (
            f"SELECT e.event_key AS id, e.channel AS detail, e.occurred_on AS since,"
            f" NULL::DATE AS until, e.linked_by AS note FROM {rel_table('HAS_EVIDENCE')} x"
            f' JOIN {EV} e ON e.event_key = x."end" WHERE x.start = $p',
            "evidence",
        ),
        "CERTIFIED_BY": (
            f"SELECT c.cert_id AS id, c.status AS detail, c.certified_on AS since,"
            f" c.valid_until AS until, c.method AS note FROM {rel_table('CERTIFIED_BY')} x"
            f' JOIN {node_table("Certification")} c ON c.cert_id = x."end" WHERE x.start = $p',
            "certification",
        ),
        "CONCERNS": (
            f"SELECT f.flag_id AS id, f.kind AS detail, NULL::DATE AS since, NULL::DATE AS until,"
            f" f.status AS note FROM {rel_table('CONCERNS')} x"
            f' JOIN {node_table("Flag")} f ON f.flag_id = x.start WHERE x."end" = $p',
            "flag",
        ),
        "FOR": (
            f"SELECT t.task_id AS id, t.kind AS detail, t.due_on AS since, NULL::DATE AS until,"
            f" t.status AS note FROM {rel_table('FOR')} x"
            f' JOIN {node_table("Task")} t ON t.task_id = x.start WHERE x."end" = $p',
            "task",
        ),
        "REACHABLE_AT": (
            f'SELECT x."end" AS id, NULL::VARCHAR AS detail, NULL::DATE AS since,'
            f" NULL::DATE AS until, NULL::VARCHAR AS note FROM {rel_table('REACHABLE_AT')} x"
            " WHERE x.start = $p",
            "phone",
        ),
    }
    for rtype, (sql, kind) in neighbours.items():
        for row in _rows(con, sql, {"p": pid}):
            node = (kind, row["id"])
            g.add_node(node, kind=kind, **row)
            g.add_edge(me, node, key=rtype)
    ego = nx.ego_graph(g, me, radius=1, undirected=True)
    rows = [
        {c: data[c] for c in ("kind", "id", "detail", "since", "until", "note")}
        for _, data in ego.nodes(data=True)
    ]
    return sorted(rows, key=lambda r: (r["kind"], r["id"]))


def duplicate_claims(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Persons enrolled twice in one item, or in two items of one exclusive group (SQL joins)."""
    return _rows(
        con,
        f"""
        WITH claims AS (
            SELECT h.start AS person_id, e.enrollment_id, e.monthly_amount, i.code AS item,
                   i.exclusive_group AS grp
            FROM {rel_table("HAS")} h
            JOIN {E} e ON e.enrollment_id = h."end"
            JOIN {rel_table("OF")} o ON o.start = e.enrollment_id
            JOIN {node_table("BenefitItem")} i ON i.code = o."end"
        )
        SELECT person_id, 'same_item' AS kind, item AS detail,
               list(enrollment_id ORDER BY enrollment_id) AS enrollment_ids,
               sum(monthly_amount)::BIGINT AS monthly_total
        FROM claims GROUP BY person_id, item HAVING count(*) > 1
        UNION ALL
        SELECT person_id, 'exclusive_group', grp,
               list(enrollment_id ORDER BY enrollment_id), sum(monthly_amount)::BIGINT
        FROM claims WHERE grp IS NOT NULL
        GROUP BY person_id, grp HAVING count(DISTINCT item) > 1
        ORDER BY person_id, kind, detail
        """,
    )


def paid_after_death(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Enrolments paid past the month of the person's earliest death report (SQL joins)."""
    return _rows(
        con,
        f"""
        WITH deaths AS (
            SELECT h.start AS person_id, min(v.occurred_on) AS death_date
            FROM {rel_table("HAS_EVIDENCE")} h
            JOIN {EV} v ON v.event_key = h."end"
            JOIN {rel_table("FROM")} f ON f.start = v.event_key
            JOIN {node_table("Channel")} c ON c.code = f."end"
            WHERE c.reports_death
            GROUP BY h.start
        ), paid AS (
            SELECT d.person_id, d.death_date, e.enrollment_id, e.item_code, e.paid_until,
                   e.monthly_amount,
                   (year(e.paid_until) * 12 + month(e.paid_until))
                   - (year(d.death_date) * 12 + month(d.death_date)) AS months
            FROM deaths d
            JOIN {rel_table("HAS")} h ON h.start = d.person_id
            JOIN {E} e ON e.enrollment_id = h."end"
        )
        SELECT person_id, death_date, enrollment_id, item_code, paid_until,
               months::BIGINT AS months, (months * monthly_amount)::BIGINT AS amount
        FROM paid WHERE months > 0
        ORDER BY person_id, enrollment_id
        """,
    )


def shared_identifiers(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Bank accounts and phones used by ``min_persons`` or more persons.

    Builds the bipartite person–identifier graph restricted to identifiers held
    by more than one person (found first by an SQL GROUP BY, so the graph holds
    only the shared part of the city), then reads each identifier's neighbours.

    Complexity: O(E) SQL scan of PAID_TO/HAS/REACHABLE_AT, then O(shared edges).
    """
    pairs = _rows(
        con,
        f"""
        WITH held AS (
            SELECT DISTINCT 'bank_account' AS kind, p."end" AS number, h.start AS person_id
            FROM {rel_table("PAID_TO")} p JOIN {rel_table("HAS")} h ON h."end" = p.start
            UNION
            SELECT 'phone', "end", start FROM {rel_table("REACHABLE_AT")}
        ), shared AS (
            SELECT kind, number FROM held GROUP BY kind, number HAVING count(*) >= $m
        )
        SELECT kind, number, person_id FROM held JOIN shared USING (kind, number)
        """,
        {"m": max(2, params["min_persons"])},
    )
    g = nx.Graph()
    for row in pairs:
        g.add_node((row["kind"], row["number"]), bipartite=0)
        g.add_edge((row["kind"], row["number"]), ("person", row["person_id"]))
    rows = []
    for node, data in g.nodes(data=True):
        if data.get("bipartite") == 0:
            persons = sorted(p for _, p in g.neighbors(node))
            rows.append(
                {"kind": node[0], "number": node[1], "persons": len(persons), "person_ids": persons}
            )
    return sorted(rows, key=lambda r: (r["kind"], r["number"]))


def no_trace(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Persons with no positive evidence from ``since`` to ``until``, by grid (SQL anti-join)."""
    return _rows(
        con,
        f"""
        WITH traced AS (
            SELECT DISTINCT h.start AS person_id
            FROM {rel_table("HAS_EVIDENCE")} h
            JOIN {EV} v ON v.event_key = h."end"
            JOIN {rel_table("FROM")} f ON f.start = v.event_key
            JOIN {node_table("Channel")} c ON c.code = f."end"
            WHERE c.polarity = 'positive' AND v.occurred_on BETWEEN $since AND $until
        )
        SELECT g.code AS grid, g.village_name AS village, count(*)::BIGINT AS persons,
               list(p.person_id ORDER BY p.person_id) AS person_ids
        FROM {P} p
        JOIN {rel_table("LIVES_IN")} l ON l.start = p.person_id
        JOIN {node_table("Grid")} g ON g.code = l."end"
        WHERE p.person_id NOT IN (SELECT person_id FROM traced)
        GROUP BY g.code, g.village_name
        ORDER BY grid
        """,
        {"since": params["since"], "until": params["until"]},
    )


def certification_coverage(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Enrolments whose person holds a certification valid on ``on``, by department and item."""
    return _rows(
        con,
        f"""
        WITH certified AS (
            SELECT DISTINCT cb.start AS person_id
            FROM {rel_table("CERTIFIED_BY")} cb
            JOIN {node_table("Certification")} c ON c.cert_id = cb."end"
            WHERE c.status = 'certified' AND c.certified_on <= $on AND c.valid_until >= $on
        ), claims AS (
            SELECT a.start AS department, i.code AS item_code, e.enrollment_id,
                   h.start IN (SELECT person_id FROM certified) AS ok
            FROM {rel_table("ADMINISTERS")} a
            JOIN {node_table("BenefitItem")} i ON i.code = a."end"
            JOIN {rel_table("OF")} o ON o."end" = i.code
            JOIN {E} e ON e.enrollment_id = o.start
            JOIN {rel_table("HAS")} h ON h."end" = e.enrollment_id
        )
        SELECT department, item_code, count(*)::BIGINT AS enrollments,
               count(*) FILTER (WHERE ok)::BIGINT AS certified,
               round(1000.0 * count(*) FILTER (WHERE ok) / count(*)) / 10.0 AS coverage_pct
        FROM claims GROUP BY department, item_code
        ORDER BY department, item_code
        """,
        {"on": params["on"]},
    )


def certification_spread(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """One person's enrolments, each with the certification its status rests on (SQL joins).

    Reads the statuses the domain core wrote (``linkgraph.recognise``); decides
    nothing. The person's latest certification (by certified_on, then cert_id;
    Neo4j's order, so a null certified_on sorts first) is joined to every
    enrolment; its columns are null when the person has none.
    """
    return _rows(
        con,
        f"""
        WITH cert AS (
            SELECT c.cert_id, c.certified_on, c.method, c.rule
            FROM {rel_table("CERTIFIED_BY")} cb
            JOIN {node_table("Certification")} c ON c.cert_id = cb."end"
            WHERE cb.start = $p
            ORDER BY c.certified_on DESC NULLS FIRST, c.cert_id DESC NULLS FIRST
            LIMIT 1
        )
        SELECT p.person_id, e.enrollment_id, e.item_code, e.status, e.valid_until, e.reason,
               c.cert_id, c.certified_on, c.method, c.rule
        FROM {P} p
        JOIN {rel_table("HAS")} h ON h.start = p.person_id
        JOIN {E} e ON e.enrollment_id = h."end"
        LEFT JOIN cert c ON true
        WHERE p.person_id = $p
        ORDER BY e.enrollment_id
        """,
        {"p": params["person_id"]},
    )


#: What find_person reads its text as (the Cypher file's regular expressions, whole text).
_HAN_NAME = re.compile(r"[\u3400-\u9fff]{2,}")
_ID_DIGITS = re.compile(r"[0-9]{3,17}[0-9X]")
_PINYIN = re.compile(r"[a-z]+")

#: How find_person matches each reading of its text against the person's property.
_FIND_TESTS = {
    "name": "contains(name, $v)",
    "id_number": "ends_with(id_number, $v)",
    "pinyin": "starts_with(pinyin, $v)",
}


def _reading(text: str) -> tuple[str, str] | None:
    """What find_person reads ``text`` as: (property, value to match), as the Cypher's CASE.

    ``"秀英"`` -> ``("name", "秀英")``, ``"0123x"`` -> ``("id_number", "0123X")``,
    ``"Wang Xiu"`` -> ``("pinyin", "wangxiu")``; anything else None.
    """
    text = text.strip()
    letters, digits = text.lower().replace(" ", ""), text.upper()
    if _HAN_NAME.fullmatch(text):
        return "name", text
    if _ID_DIGITS.fullmatch(digits):
        return "id_number", digits
    if _PINYIN.fullmatch(letters):
        return "pinyin", letters
    return None


def analyst_reading(text: str) -> tuple[str, str] | None:
    """:func:`_reading` of ``text`` on a graph loaded for analysts, where names are masked,
    pinyin is not kept and an ID number keeps its first and last 4 characters: only the last
    4 (or fewer) digits can find a person; a name, pinyin or a longer ending is refused, so
    "nobody" is never the answer of a search that could not match.

    Raises InputError saying a server loaded for investigators answers it.
    """
    reading = _reading(text)
    if reading is not None and (reading[0] != "id_number" or len(reading[1]) > 4):
        what = "an ID number's last digits beyond 4" if reading[0] == "id_number" else reading[0]
        raise InputError(
            f"find_person by {what} ({text.strip()!r}): this Neo4j graph is loaded for"
            " analysts (LINKGRAPH_NEO4J_AUDIENCE=analyst), with names masked, no pinyin"
            " and ID numbers keeping their last 4 digits; search by those 4 digits, or ask"
            " a server loaded for investigators"
        )
    return reading


_SETTLED = ", ".join(f"'{status}'" for status in SETTLED_FLAG_STATUSES)


def find_person(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Persons by name, pinyin prefix or ID number suffix, exact matches first (one SQL scan).

    Neo4j asks its full-text index for candidates and keeps those the rule matches; the
    rule alone decides here, so both return the same persons in the same order.
    """
    reading = _reading(params["text"])
    if reading is None:
        return []
    column, value = reading
    return _rows(
        con,
        f"""
        SELECT person_id, name,
               CASE WHEN length(id_number) > 8
                    THEN left(id_number, 4) || repeat('*', length(id_number) - 8)
                         || right(id_number, 4)
                    ELSE id_number END AS id_number,
               birth_date, village, $column AS match, death_date,
               coalesce(open_flags, 0) AS open_flags, coalesce(money_at_risk, 0) AS money_at_risk
        FROM {P} WHERE {_FIND_TESTS[column]}
        ORDER BY {column} = $v DESC, person_id
        LIMIT $limit
        """,
        {"v": value, "column": column, "limit": max(params["limit"], 0)},
    )


def person_timeline(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """One person's evidence, certifications, payments, flags and tasks by month (SQL joins).

    Payments are one row per month from the enrolment's month to ``paid_until``, cut to
    the window, as the Cypher's ``range`` over months.
    """
    return _rows(
        con,
        f"""
        WITH happened AS (
            SELECT strftime(v.occurred_on, '%Y-%m') AS month, 'evidence' AS kind,
                   v.channel AS what, NULL::BIGINT AS amount
            FROM {rel_table("HAS_EVIDENCE")} h JOIN {EV} v ON v.event_key = h."end"
            WHERE h.start = $p AND v.occurred_on BETWEEN $since AND $until
            UNION ALL
            SELECT strftime(c.certified_on, '%Y-%m'), 'certification', c.status, NULL
            FROM {rel_table("CERTIFIED_BY")} cb
            JOIN {node_table("Certification")} c ON c.cert_id = cb."end"
            WHERE cb.start = $p AND c.certified_on BETWEEN $since AND $until
            UNION ALL
            SELECT strftime(paid, '%Y-%m'), 'payment', item_code, monthly_amount
            FROM (
                SELECT e.item_code, e.monthly_amount,
                       unnest(generate_series(
                           date_trunc('month', greatest(e.enrolled_on, $since)),
                           least(e.paid_until, $until)::TIMESTAMP, INTERVAL 1 MONTH)) AS paid
                FROM {rel_table("HAS")} h JOIN {E} e ON e.enrollment_id = h."end"
                WHERE h.start = $p
            )
            UNION ALL
            SELECT strftime(f.raised_on, '%Y-%m'), 'flag', f.kind,
                   coalesce(f.amount_at_risk, 0) - coalesce(f.amount_recovered, 0)
            FROM {rel_table("CONCERNS")} c JOIN {node_table("Flag")} f ON f.flag_id = c.start
            WHERE c."end" = $p AND f.raised_on BETWEEN $since AND $until
            UNION ALL
            SELECT strftime(t.due_on, '%Y-%m'), 'task', t.kind, NULL
            FROM {rel_table("FOR")} x JOIN {node_table("Task")} t ON t.task_id = x.start
            WHERE x."end" = $p AND t.due_on BETWEEN $since AND $until
        )
        SELECT month, kind, count(*) AS items,
               CASE WHEN kind IN ('payment', 'flag') THEN sum(amount) END AS amount,
               list(DISTINCT what ORDER BY what) FILTER (WHERE what IS NOT NULL) AS detail
        FROM happened
        GROUP BY month, kind
        ORDER BY month, kind
        """,
        {"p": params["person_id"], "since": params["since"], "until": params["until"]},
    )


def grid_workload(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Open and overdue tasks per grid beside their village's totals (SQL, window sums)."""
    return _rows(
        con,
        f"""
        WITH grids AS (
            SELECT g.village, g.village_name, g.code AS grid, count(*) AS open_tasks,
                   count(*) FILTER (WHERE t.due_on < $on) AS overdue_tasks,
                   min(t.due_on) AS oldest_due
            FROM {node_table("Task")} t
            JOIN {rel_table("IN")} i ON i.start = t.task_id
            JOIN {node_table("Grid")} g ON g.code = i."end"
            WHERE coalesce(t.status, 'open') NOT IN ('done', 'closed', 'cancelled')
            GROUP BY g.village, g.village_name, g.code
        )
        SELECT village, village_name,
               sum(open_tasks) OVER (PARTITION BY village, village_name) AS village_open,
               sum(overdue_tasks) OVER (PARTITION BY village, village_name) AS village_overdue,
               grid, open_tasks, overdue_tasks, oldest_due
        FROM grids
        ORDER BY village_overdue DESC, village, overdue_tasks DESC, grid
        """,
        {"on": params["on"]},
    )


def collusion_rings(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """Rings of persons sharing accounts or phones, by the ``ring_id`` the projection wrote.

    The components themselves are found once per projection
    (``linkgraph.graph.model``); here a GROUP BY, and the ring's flags counted once each.
    """
    return _rows(
        con,
        f"""
        WITH rings AS (
            SELECT ring_id, count(*) AS persons, list(person_id ORDER BY person_id) AS person_ids
            FROM {P} WHERE ring_id IS NOT NULL
            GROUP BY ring_id HAVING count(*) >= $m
        ), flagged AS (
            SELECT DISTINCT p.ring_id, f.flag_id,
                   coalesce(f.amount_at_risk, 0) - coalesce(f.amount_recovered, 0) AS at_risk
            FROM {P} p
            JOIN {rel_table("CONCERNS")} c ON c."end" = p.person_id
            JOIN {node_table("Flag")} f ON f.flag_id = c.start
            WHERE p.ring_id IN (SELECT ring_id FROM rings)
              AND coalesce(f.status, 'open') NOT IN ({_SETTLED})
        )
        SELECT r.ring_id, r.persons, r.person_ids, count(f.flag_id) AS open_flags,
               coalesce(sum(f.at_risk), 0) AS money_at_risk
        FROM rings r LEFT JOIN flagged f USING (ring_id)
        GROUP BY r.ring_id, r.persons, r.person_ids
        ORDER BY money_at_risk DESC, persons DESC, ring_id
        LIMIT $limit
        """,
        {"m": params["min_persons"], "limit": max(params["limit"], 0)},
    )


#: What two persons can share, as Neo4j walks it: (relationship, start label, end label).
_TIES = (
    ("REACHABLE_AT", "Person", "Phone"),
    ("LIVES_AT", "Person", "Address"),
    ("HAS", "Person", "Enrollment"),
    ("PAID_TO", "Enrollment", "BankAccount"),
)
#: The longest chain connection looks for, in relationships (``*..12`` in the Cypher).
MAX_CONNECTION_LENGTH = 12
_HOP = {
    "Phone": ("phone", "both reachable at this phone"),
    "BankAccount": ("bank_account", "benefits of both paid into this account"),
    "Address": ("address", "one household: both live at this address"),
}


def connection(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[Row]:
    """The shortest chain of shared phones, accounts and addresses between two persons.

    A breadth-first search from the first person, one SQL lookup per tie type and
    direction per level, builds the networkx graph of what lies within the distance of
    the second; ``nx.all_shortest_paths`` then gives every shortest chain, and the one
    whose node keys sort first is read hop by hop (Neo4j's ``allShortestPaths`` and
    ``ORDER BY keys``).

    Complexity: O(nodes within that distance) lookups, at most 12 levels.
    """
    a, b = params["person_id"], params["other_id"]
    found = _rows(con, f"SELECT person_id FROM {P} WHERE person_id IN ($a, $b)", {"a": a, "b": b})
    if a == b or len(found) < 2:
        return []
    g = nx.Graph()
    start, goal = ("Person", a), ("Person", b)
    g.add_node(start)
    frontier, seen = {start}, {start}
    for _ in range(MAX_CONNECTION_LENGTH):
        reached: set[tuple[str, str]] = set()
        for rtype, start_label, end_label in _TIES:
            for here, there in ((start_label, end_label), (end_label, start_label)):
                keys = [k for label, k in frontier if label == here]
                if not keys:
                    continue
                near, far = ("start", '"end"') if here == start_label else ('"end"', "start")
                for row in _rows(
                    con,
                    f"SELECT {near} AS here, {far} AS there FROM {rel_table(rtype)}"
                    f" WHERE {near} IN (SELECT unnest($keys))",
                    {"keys": keys},
                ):
                    node = (there, row["there"])
                    if node not in seen:
                        g.add_edge((here, row["here"]), node)
                        reached.add(node)
        seen |= reached
        frontier = reached
        if goal in reached or not frontier:
            break
    if goal not in g:
        return []
    path = min(nx.all_shortest_paths(g, start, goal), key=lambda nodes: [k for _, k in nodes])
    at = [i for i, (label, _) in enumerate(path) if label == "Person"]
    rows = []
    for hop, (i, j) in enumerate(itertools.pairwise(at), start=1):
        label, number = next(n for n in path[i + 1 : j] if n[0] in _HOP)
        kind, meaning = _HOP[label]
        rows.append(
            {
                "hop": hop,
                "person_id": path[i][1],
                "kind": kind,
                "number": number,
                "next_person_id": path[j][1],
                "meaning": meaning,
            }
        )
    return rows


QUERIES: dict[str, LibraryQuery] = {
    q.name: q
    for q in (
        _library_query("person_360", person_360),
        _library_query("duplicate_claims", duplicate_claims),
        _library_query("paid_after_death", paid_after_death),
        _library_query("shared_identifiers", shared_identifiers),
        _library_query("no_trace", no_trace),
        _library_query("certification_coverage", certification_coverage),
        _library_query("certification_spread", certification_spread),
        _library_query("find_person", find_person),
        _library_query("connection", connection),
        _library_query("collusion_rings", collusion_rings),
        _library_query("person_timeline", person_timeline),
        _library_query("grid_workload", grid_workload),
    )
}


def library_query(name: str) -> LibraryQuery:
    """The library's query ``name``; an unknown name is refused, listing the known ones."""
    spec = QUERIES.get(name)
    if spec is None:
        raise InputError(f"unknown query {name!r} (known: {', '.join(sorted(QUERIES))})")
    return spec
