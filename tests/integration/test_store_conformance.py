"""One contract, two graph stores: every test body runs on the embedded and the Neo4j store.

The city is a generated one of 500 persons, linked by TRUTH (see graph_city.py:
a test-only stand-in for linkage), certified by ``linkgraph.certify`` and
recognised by ``linkgraph.recognise`` (the enrolment statuses the graph receives);
flags and door-check tasks are made from the city's planted situations. Each
library query must give the same rows on both stores — and find what the city
planted.

Run one side only with ``-m embedded`` or ``-m "not neo4j"``. The Neo4j side uses
the project's server through the session fixture ``neo4j_server`` (tests/conftest.py).
Read-only tests come first; the write tests at the bottom change both stores alike.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from graph_city import truth_graph
from truth_inputs import truth_inputs

from linkgraph.certify import certify
from linkgraph.config import get_settings
from linkgraph.errors import InputError, StoreUnavailable
from linkgraph.graph import QUERIES, GraphStore, GraphTables
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.graph.model import CERT_SUFFIX
from linkgraph.policy import Policy
from linkgraph.recognise import recognise
from linkgraph.synth import generate_city

AS_OF = dt.date(2026, 12, 31)

#: splink's tests/decorator.py shape: one body, one param per backend, each marked.
BACKENDS = [
    pytest.param("embedded", marks=pytest.mark.embedded),
    pytest.param("neo4j", marks=pytest.mark.neo4j),
]
over_backends = pytest.mark.parametrize("backend", BACKENDS)


# ---------------------------------------------------------------------------- city


def _flags_and_tasks(city: Path) -> tuple[pa.Table, pa.Table]:
    con = duckdb.connect()
    situations = f"read_parquet('{city}/truth/situations.parquet')"
    flags = con.sql(
        f"""SELECT kind || ':' || person_id || ':' || row_number() OVER (ORDER BY kind, person_id,
                   record_ids) AS flag_id, kind, [person_id] AS person_ids,
                   record_ids AS enrollment_ids, []::VARCHAR[] AS evidence_event_keys,
                   amount AS amount_at_risk, months, 'open' AS status, detail,
                   DATE '2026-12-31' AS raised_on
            FROM {situations}
            WHERE kind IN ('paid_after_death', 'duplicate_enrolment', 'exclusive_conflict')"""
    ).to_arrow_table()
    tasks = con.sql(
        f"""SELECT 'door:' || s.person_id AS task_id, s.person_id, p.grid, 'door_check' AS kind,
                   DATE '2027-01-31' AS due_on, 'open' AS status, 'no_trace' AS reason
            FROM {situations} s JOIN read_parquet('{city}/truth/persons.parquet') p USING (person_id)
            WHERE s.kind = 'no_trace'"""
    ).to_arrow_table()
    return flags, tasks


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, persons=500, months=12, seed=11, fraud=100)
    return out


@pytest.fixture(scope="module")
def recognitions(city: Path) -> pa.Table:
    """The core's answer for every enrolment: what the graph receives (never re-derives)."""
    persons, enrollments, events = truth_inputs(city)
    policy = Policy.load()
    return recognise(certify(events, persons, policy, AS_OF), enrollments, policy, AS_OF)


def _account_shared_across_households(persons: pa.Table, enrollments: pa.Table) -> pa.Table:
    """``enrollments`` with one planted ring: the first enrolment of a person living alone is
    paid into the account of a person who has a housemate paid elsewhere. (The generator
    plants such rings at 0.0008 per person: none in 500.)"""
    homes: dict[str, list[str]] = {}
    for p in persons.to_pylist():
        homes.setdefault(p["address"], []).append(p["person_id"])
    home = {pid: members for members in homes.values() for pid in members}
    rows = enrollments.to_pylist()
    accounts: dict[str, set[str]] = {}
    for e in rows:
        accounts.setdefault(e["person_id"], set()).add(e["bank_account"])
    alone = next(e for e in rows if len(home[e["person_id"]]) == 1)
    owner = next(
        e
        for e in rows
        if e["bank_account"]
        and any(e["bank_account"] not in accounts.get(h, ()) for h in home[e["person_id"]])
    )
    alone["bank_account"] = owner["bank_account"]
    return pa.Table.from_pylist(rows, schema=enrollments.schema)


@pytest.fixture(scope="module")
def graph(city: Path, recognitions: pa.Table) -> GraphTables:
    persons, enrollments, events = truth_inputs(city)
    certifications = certify(events, persons, Policy.load(), AS_OF)  # no cert_id: <pid>@cert
    flags, tasks = _flags_and_tasks(city)
    return truth_graph(
        city,
        enrollments=_account_shared_across_households(persons, enrollments),
        certifications=certifications,
        enrollment_status=recognitions,
        flags=flags,
        tasks=tasks,
    )


@pytest.fixture(scope="module")
def situations(city: Path) -> list[dict[str, Any]]:
    return pq.read_table(city / "truth" / "situations.parquet").to_pylist()


@pytest.fixture(scope="module")
def embedded_loaded(
    graph: GraphTables, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GraphStore]:
    store = EmbeddedStore(tmp_path_factory.mktemp("embedded") / "graph.duckdb")
    store.load(graph)
    yield store
    store.close()


@pytest.fixture(scope="module")
def neo4j_loaded(graph: GraphTables, request: pytest.FixtureRequest) -> Iterator[GraphStore]:
    server = request.getfixturevalue("neo4j_server")  # the project's server, once per run
    from linkgraph.graph.neo4j_store import Neo4jStore

    store = Neo4jStore(
        server.uri, server.user, server.password, database=server.database, settings=get_settings()
    )
    store.load(graph)  # neo4j-admin import from CSV
    yield store
    store.close()


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest) -> GraphStore:
    return request.getfixturevalue(f"{backend}_loaded")


@pytest.fixture
def both(embedded_loaded: GraphStore, neo4j_loaded: GraphStore) -> tuple[GraphStore, GraphStore]:
    return embedded_loaded, neo4j_loaded


def _person_with(graph: GraphTables, rtype: str) -> str:
    """A person on the person side of ``rtype`` (flags and tasks point at persons)."""
    table = graph.relationships[rtype]
    side = "end" if rtype in ("CONCERNS", "FOR", "RESOLVES_TO") else "start"
    return str(sorted(table[side].to_pylist())[0])


def _flagged_person(graph: GraphTables) -> dict[str, Any]:
    """The first person (by id) with an open flag: a death, a duplicate, a conflict."""
    return min(
        (p for p in graph.nodes["Person"].to_pylist() if p["open_flags"]),
        key=lambda p: p["person_id"],
    )


def _chain_ends(graph: GraphTables) -> tuple[str, str]:
    """Two persons tied through two hops (the planted ring): the housemate of a person whose
    account another household's person is paid into too, and that other person."""
    address = {p["person_id"]: p["address"] for p in graph.nodes["Person"].to_pylist()}
    holder = {r["end"]: r["start"] for r in graph.relationships["HAS"].to_pylist()}
    holders: dict[str, set[str]] = {}
    for r in graph.relationships["PAID_TO"].to_pylist():
        holders.setdefault(r["end"], set()).add(holder[r["start"]])
    for persons in holders.values():
        for one in sorted(persons):
            housemates = sorted(p for p, a in address.items() if a == address[one] and p != one)
            others = sorted(p for p in persons if address[p] != address[one])
            if others and any(h not in persons for h in housemates):
                return next(h for h in housemates if h not in persons), others[0]
    raise AssertionError("the city has no account shared across households")


# ------------------------------------------------------------------------ contract


@over_backends
def test_load_holds_every_node_and_relationship(store: GraphStore, graph: GraphTables) -> None:
    counts = store.counts()
    assert {k: counts[k] for k in graph.counts()} == graph.counts()
    assert set(counts) == set(store.schema.nodes) | set(store.schema.relationships)


@over_backends
def test_ping_answers(store: GraphStore) -> None:
    store.ping()


@over_backends
def test_person_360_gathers_records_enrolments_evidence_certification_flags(
    store: GraphStore, graph: GraphTables
) -> None:
    pid = _person_with(graph, "CONCERNS")
    rows = store.query("person_360", person_id=pid)
    kinds = {r["kind"] for r in rows}
    assert {"person", "record", "enrollment", "certification", "flag"} <= kinds
    enrolled = {r["end"] for r in graph.relationships["HAS"].to_pylist() if r["start"] == pid}
    assert {r["id"] for r in rows if r["kind"] == "enrollment"} == enrolled
    assert rows == sorted(rows, key=lambda r: (r["kind"], r["id"]))


@over_backends
def test_person_360_of_unknown_person_is_empty(store: GraphStore) -> None:
    assert store.query("person_360", person_id="NO-SUCH-PERSON") == []


@over_backends
def test_paid_after_death_finds_the_planted_payments(
    store: GraphStore, situations: list[dict[str, Any]]
) -> None:
    rows = store.query("paid_after_death")
    planted = {
        (s["person_id"], s["record_ids"][0], s["months"], s["amount"])
        for s in situations
        if s["kind"] == "paid_after_death"
    }
    found = {(r["person_id"], r["enrollment_id"], r["months"], r["amount"]) for r in rows}
    assert planted and planted <= found
    assert all(r["amount"] > 0 and r["months"] > 0 for r in rows)


@over_backends
def test_duplicate_claims_finds_planted_duplicates_and_conflicts(
    store: GraphStore, situations: list[dict[str, Any]]
) -> None:
    rows = store.query("duplicate_claims")
    found = {(r["person_id"], tuple(r["enrollment_ids"])) for r in rows}
    for s in situations:
        if s["kind"] in ("duplicate_enrolment", "exclusive_conflict"):
            assert (s["person_id"], tuple(sorted(s["record_ids"]))) in found, s


@over_backends
def test_shared_identifiers_are_shared(store: GraphStore) -> None:
    rows = store.query("shared_identifiers")
    assert rows and all(r["persons"] >= 2 for r in rows)
    assert all(r["persons"] == len(r["person_ids"]) for r in rows)
    assert all(r["persons"] >= 3 for r in store.query("shared_identifiers", min_persons=3))


@over_backends
def test_no_trace_lists_the_planted_untraceable_by_grid(
    store: GraphStore, situations: list[dict[str, Any]]
) -> None:
    rows = store.query("no_trace", since="2026-01-01", until="2026-12-31")
    listed = {pid for r in rows for pid in r["person_ids"]}
    planted = {s["person_id"] for s in situations if s["kind"] == "no_trace"}
    assert planted and planted <= listed


@over_backends
def test_certification_coverage_counts_every_enrolment(
    store: GraphStore, graph: GraphTables
) -> None:
    rows = store.query("certification_coverage", on=AS_OF)
    assert sum(r["enrollments"] for r in rows) == graph.nodes["Enrollment"].num_rows
    assert any(r["certified"] for r in rows)
    assert all(0 <= r["certified"] <= r["enrollments"] for r in rows)


@over_backends
def test_certification_spread_shows_the_cores_answer_beside_the_certification(
    store: GraphStore, graph: GraphTables, recognitions: pa.Table
) -> None:
    pid = _person_with(graph, "CONCERNS")
    rows = store.query("certification_spread", person_id=pid)
    assert [list(r) for r in rows[:1]] == [list(QUERIES["certification_spread"].columns)]
    decided = {r["enrollment_id"]: r for r in recognitions.to_pylist() if r["person_id"] == pid}
    assert [r["enrollment_id"] for r in rows] == sorted(decided)
    for row in rows:
        core = decided[row["enrollment_id"]]
        assert (row["person_id"], row["item_code"]) == (pid, core["item_code"])
        assert (row["status"], row["valid_until"], row["reason"]) == (
            core["status"],
            core["valid_until"],
            core["reason"],
        )
    cert = next(
        c for c in graph.nodes["Certification"].to_pylist() if c["cert_id"] == pid + CERT_SUFFIX
    )
    assert {(r["cert_id"], r["certified_on"], r["method"], r["rule"]) for r in rows} == {
        (cert["cert_id"], cert["certified_on"], cert["method"], cert["rule"])
    }
    assert all(isinstance(r["certified_on"], dt.date) for r in rows)
    assert store.query("certification_spread", person_id="NO-SUCH-PERSON") == []


@over_backends
def test_find_person_by_name_pinyin_or_id_digits_shows_the_persons_facts(
    store: GraphStore, graph: GraphTables
) -> None:
    person = _flagged_person(graph)
    wanted = {
        "person_id": person["person_id"],
        "death_date": person["death_date"],
        "open_flags": person["open_flags"],
        "money_at_risk": person["money_at_risk"],
    }
    for text, match in (
        (person["name"], "name"),
        (" ".join(person["pinyin"][:4]), "pinyin"),
        (person["id_number"][-6:].lower(), "id_number"),
    ):
        rows = store.query("find_person", text=text)
        assert wanted in [{k: r[k] for k in wanted} for r in rows], text
        assert {r["match"] for r in rows} == {match}
    exact = store.query("find_person", text=person["name"])
    assert exact[0]["name"] == person["name"]  # the whole name before names containing it
    assert exact[0]["id_number"] == person["id_number"][:4] + "*" * 10 + person["id_number"][-4:]
    assert len(store.query("find_person", text="wang", limit=3)) == 3
    assert store.query("find_person", text="wang", limit=-1) == []  # none, not an error
    assert store.query("find_person", text="王") == []  # one character: too common to list


@over_backends
def test_connection_names_each_shared_identifier_on_the_way(
    store: GraphStore, graph: GraphTables
) -> None:
    one, other = _chain_ends(graph)
    rows = store.query("connection", person_id=one, other_id=other)
    assert [r["hop"] for r in rows] == [1, 2]
    assert rows[0]["person_id"] == one and rows[-1]["next_person_id"] == other
    assert rows[0]["next_person_id"] == rows[1]["person_id"]
    assert rows[0]["kind"] in ("address", "phone") and rows[1]["kind"] == "bank_account"
    assert all(r["meaning"] for r in rows)
    assert store.query("connection", person_id=one, other_id=one) == []
    assert store.query("connection", person_id=one, other_id="NO-SUCH-PERSON") == []


@over_backends
def test_collusion_rings_rank_by_money_at_risk_each_flag_once(
    store: GraphStore, graph: GraphTables
) -> None:
    rings = store.query("collusion_rings", min_persons=2, limit=1000)
    assert rings and rings[0]["money_at_risk"] > 0
    at_risk = [r["money_at_risk"] for r in rings]
    assert at_risk == sorted(at_risk, reverse=True)
    persons = {p["person_id"]: p for p in graph.nodes["Person"].to_pylist()}
    for ring in rings:
        assert ring["persons"] == len(ring["person_ids"]) >= 2
        assert {persons[p]["ring_id"] for p in ring["person_ids"]} == {ring["ring_id"]}
        assert ring["money_at_risk"] <= sum(persons[p]["money_at_risk"] for p in ring["person_ids"])
    assert len(store.query("collusion_rings", min_persons=2, limit=3)) == 3
    assert store.query("collusion_rings", min_persons=2, limit=-1) == []


@over_backends
def test_person_timeline_puts_payments_evidence_and_flags_in_their_months(
    store: GraphStore, graph: GraphTables
) -> None:
    person = _flagged_person(graph)
    rows = store.query(
        "person_timeline", person_id=person["person_id"], since="2026-01-01", until="2026-12-31"
    )
    assert rows == sorted(rows, key=lambda r: (r["month"], r["kind"]))
    assert {r["kind"] for r in rows} >= {"payment", "evidence", "flag"}
    assert all("2026-01" <= r["month"] <= "2026-12" for r in rows)
    flags = [r for r in rows if r["kind"] == "flag"]
    assert [(f["month"], f["amount"]) for f in flags] == [("2026-12", person["money_at_risk"])]
    assert all(r["amount"] is None for r in rows if r["kind"] == "evidence")


@over_backends
def test_grid_workload_counts_open_and_overdue_tasks_by_grid_and_village(
    store: GraphStore, graph: GraphTables
) -> None:
    tasks = graph.nodes["Task"].num_rows
    before_due = store.query("grid_workload", on="2027-01-01")  # the tasks fall due 2027-01-31
    after_due = store.query("grid_workload", on="2027-02-01")
    assert sum(r["open_tasks"] for r in after_due) == tasks
    assert sum(r["overdue_tasks"] for r in after_due) == tasks
    assert sum(r["overdue_tasks"] for r in before_due) == 0
    for rows in (before_due, after_due):
        for village in {r["village"] for r in rows}:
            grids = [r for r in rows if r["village"] == village]
            assert {r["village_open"] for r in grids} == {sum(r["open_tasks"] for r in grids)}


@over_backends
def test_unknown_query_or_parameter_is_refused(store: GraphStore) -> None:
    with pytest.raises(InputError, match="unknown query 'drop_everything'"):
        store.query("drop_everything")
    with pytest.raises(InputError, match="unknown parameter"):
        store.query("paid_after_death", person_id="x")
    with pytest.raises(InputError, match="'person_id' is required"):
        store.query("person_360")
    with pytest.raises(InputError, match="not a date"):
        store.query("no_trace", since="yesterday")
    with pytest.raises(InputError, match="'person_id' is required"):
        store.query("certification_spread")
    assert not hasattr(store, "apply")  # the library only reads: no write procedures


# ------------------------------------------------------------- the two agree


@pytest.mark.neo4j
def test_counts_agree(both: tuple[GraphStore, GraphStore]) -> None:
    embedded, neo4j = both
    assert embedded.counts() == neo4j.counts()


def _params(graph: GraphTables) -> dict[str, dict[str, Any]]:
    return {
        "person_360": {"person_id": _person_with(graph, "CONCERNS")},
        "duplicate_claims": {},
        "paid_after_death": {},
        "shared_identifiers": {"min_persons": 2},
        "no_trace": {"since": "2026-07-01", "until": "2026-12-31"},
        "certification_coverage": {"on": "2026-12-31"},
        "certification_spread": {"person_id": _person_with(graph, "CONCERNS")},
        "find_person": {"text": _flagged_person(graph)["name"][-2:]},
        "connection": dict(zip(("person_id", "other_id"), _chain_ends(graph), strict=True)),
        "collusion_rings": {"min_persons": 2, "limit": 20},
        "person_timeline": {
            "person_id": _flagged_person(graph)["person_id"],
            "since": "2026-01-01",
            "until": "2026-12-31",
        },
        "grid_workload": {"on": "2027-02-01"},
    }


@pytest.mark.neo4j
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_rows_agree(
    name: str, both: tuple[GraphStore, GraphStore], graph: GraphTables
) -> None:
    embedded, neo4j = both
    params = _params(graph)[name]
    rows = embedded.query(name, **params)
    assert rows, f"{name}: the city plants cases, the query found none"
    assert neo4j.query(name, **params) == rows
    assert list(rows[0]) == list(QUERIES[name].columns)


def test_every_library_query_is_covered(graph: GraphTables) -> None:
    assert set(_params(graph)) == set(QUERIES)


@pytest.mark.neo4j
def test_certification_spread_agrees_person_by_person(
    both: tuple[GraphStore, GraphStore], graph: GraphTables
) -> None:
    embedded, neo4j = both
    persons = graph.nodes["Person"]["person_id"].to_pylist()[:40]
    found = 0
    for pid in persons:
        rows = embedded.query("certification_spread", person_id=pid)
        assert neo4j.query("certification_spread", person_id=pid) == rows, pid
        found += len(rows)
    assert found, "none of the first 40 persons has an enrolment"


@pytest.mark.neo4j
def test_find_person_agrees_on_names_pinyin_and_id_digits(
    both: tuple[GraphStore, GraphStore], graph: GraphTables
) -> None:
    """The full-text index's candidates, kept by the rule, are the rule's answer."""
    embedded, neo4j = both
    persons = graph.nodes["Person"].to_pylist()[:25]
    texts = {"  秀英 ", "WANG", "wang x", "zh", "1234", "12X", "a1"}
    for p in persons:
        texts |= {p["name"], p["name"][1:], p["pinyin"][:3], p["id_number"][-4:]}
    for text in sorted(texts):
        rows = embedded.query("find_person", text=text, limit=1000)
        assert neo4j.query("find_person", text=text, limit=1000) == rows, text


@pytest.mark.neo4j
def test_a_full_text_index_of_another_definition_is_made_anew(neo4j_loaded: Any) -> None:
    """``CREATE ... IF NOT EXISTS`` would keep an older person_search; find_person would miss."""

    def properties() -> list[str]:
        with neo4j_loaded._session(False) as s:
            shown = "SHOW INDEXES YIELD name, properties WHERE name = 'person_search'"
            return list(s.run(shown + " RETURN properties").single(strict=True)[0])

    with neo4j_loaded._session() as s:
        s.run("DROP INDEX person_search").consume()
        s.run("CREATE FULLTEXT INDEX person_search FOR (n:Person) ON EACH [n.name]").consume()
    assert properties() == ["name"]
    neo4j_loaded._apply_schema()
    assert properties() == ["name", "pinyin", "id_number"]


# ------------------------------------------------------------------- bad input


@over_backends
def test_wrong_property_type_is_refused_naming_the_record(store: GraphStore) -> None:
    before = store.counts()
    bad = GraphTables(
        nodes={"Person": pa.table({"person_id": ["ZZ-1", "ZZ-2"], "birth_date": ["1950", "x"]})}
    )
    with pytest.raises(InputError, match=r"Person 'ZZ-1': property 'birth_date' is string"):
        store.upsert(bad)
    assert store.counts() == before


@over_backends
def test_dangling_reference_is_refused_naming_the_relationship(
    store: GraphStore, graph: GraphTables
) -> None:
    before = store.counts()
    pid = graph.nodes["Person"]["person_id"][0].as_py()
    bad = GraphTables(
        nodes={"Enrollment": pa.table({"enrollment_id": ["ZZ-E1"], "item_code": ["URRP"]})},
        relationships={
            "HAS": pa.table({"start": [pid, "ZZ-NOBODY"], "end": ["ZZ-E1", "ZZ-E1"]}),
        },
    )
    with pytest.raises(InputError, match=r"HAS relationship .*'ZZ-NOBODY'.*is not there"):
        store.upsert(bad)
    assert store.counts() == before


@over_backends
def test_load_refuses_bad_input_before_touching_the_store(store: GraphStore) -> None:
    before = store.counts()
    bad = GraphTables(relationships={"OF": pa.table({"start": ["ZZ-E9"], "end": ["URRP"]})})
    with pytest.raises(InputError, match="ZZ-E9"):
        store.load(bad)
    assert store.counts() == before


# ---------------------------------------------------------------------- writes


@over_backends
def test_a_new_certification_changes_no_status_until_the_core_decides(
    store: GraphStore, graph: GraphTables
) -> None:
    """The graph re-derives nothing: a later certification shows, the statuses stay the core's."""
    pid = _person_with(graph, "FOR")
    before = store.query("certification_spread", person_id=pid)
    later = GraphTables(
        nodes={
            "Certification": pa.table(
                {
                    "cert_id": [f"{pid}@later"],
                    "status": ["pending_review"],
                    "method": ["none"],
                    "certified_on": pa.array([AS_OF + dt.timedelta(days=1)]),
                    "valid_until": pa.array([AS_OF + dt.timedelta(days=366)]),
                    "rule": ["negative:DEATH_CERT"],
                }
            )
        },
        relationships={"CERTIFIED_BY": pa.table({"start": [pid], "end": [f"{pid}@later"]})},
    )
    store.upsert(later)
    after = store.query("certification_spread", person_id=pid)
    assert before and len(after) == len(before)
    assert {r["cert_id"] for r in after} == {f"{pid}@later"}  # the latest is shown
    keep = ("enrollment_id", "status", "valid_until", "reason")
    assert [[r[c] for c in keep] for r in after] == [[r[c] for c in keep] for r in before]


def _new_person_batch(tag: str, grid: str) -> GraphTables:
    return GraphTables(
        nodes={
            "Person": pa.table(
                {
                    "person_id": [f"{tag}-P1"],
                    "name": ["王秀英"],
                    "birth_date": pa.array([dt.date(1948, 3, 1)]),
                    "grid": [grid],
                }
            ),
            "Enrollment": pa.table(
                {
                    "enrollment_id": [f"{tag}-E1", f"{tag}-E2"],
                    "item_code": ["URRP", "OAA"],
                    "paid_until": pa.array([dt.date(2026, 12, 1)] * 2),
                    "monthly_amount": pa.array([190, 100], pa.int32()),
                }
            ),
        },
        relationships={
            "HAS": pa.table({"start": [f"{tag}-P1"] * 2, "end": [f"{tag}-E1", f"{tag}-E2"]}),
            "OF": pa.table({"start": [f"{tag}-E1", f"{tag}-E2"], "end": ["URRP", "OAA"]}),
            "LIVES_IN": pa.table({"start": [f"{tag}-P1"], "end": [grid]}),
        },
    )


@over_backends
def test_upsert_adds_then_updates_in_place(store: GraphStore, graph: GraphTables) -> None:
    grid = graph.nodes["Grid"]["code"][0].as_py()
    before = store.counts()
    report = store.upsert(_new_person_batch("UP", grid), batch_size=3)
    assert report.batches == 3  # 3 + 3 + 1 rows
    after = store.counts()
    assert after["Person"] == before["Person"] + 1
    assert after["HAS"] == before["HAS"] + 2
    store.upsert(
        GraphTables(nodes={"Person": pa.table({"person_id": ["UP-P1"], "name": ["王秀英2"]})})
    )
    again = store.counts()
    assert again == after  # merged, not duplicated
    rows = store.query("person_360", person_id="UP-P1")
    person = next(r for r in rows if r["kind"] == "person")
    assert person["detail"] == "王秀英2" and person["since"] == dt.date(1948, 3, 1)
    assert {r["id"] for r in rows if r["kind"] == "enrollment"} == {"UP-E1", "UP-E2"}
    spread = store.query("certification_spread", person_id="UP-P1")
    assert [r["enrollment_id"] for r in spread] == ["UP-E1", "UP-E2"]
    assert all(  # no certification, no status written: nulls, not a derived answer
        r[c] is None
        for r in spread
        for c in ("status", "valid_until", "reason", "cert_id", "certified_on", "method", "rule")
    )


@over_backends
def test_interrupted_batch_leaves_the_store_as_before_it(
    store: GraphStore, graph: GraphTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = graph.nodes["Grid"]["code"][0].as_py()
    before = store.counts()
    real = store._write_relationships
    written: list[str] = []

    def power_cut(tx: Any, rtype: str, table: pa.Table) -> None:
        real(tx, rtype, table)  # the first relationship table really is written...
        written.append(rtype)
        raise KeyboardInterrupt("power cut")  # ...then the batch is cut off halfway

    monkeypatch.setattr(store, "_write_relationships", power_cut)
    with pytest.raises(KeyboardInterrupt):
        store.upsert(_new_person_batch("CUT", grid))  # one batch: nodes, then HAS, OF, ...
    monkeypatch.undo()
    assert written == ["HAS"]
    assert store.counts() == before
    assert store.query("person_360", person_id="CUT-P1") == []


@over_backends
def test_interruption_keeps_earlier_batches(
    store: GraphStore, graph: GraphTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = graph.nodes["Grid"]["code"][0].as_py()
    before = store.counts()
    real = store._write_relationships

    def fail_on_lives_in(tx: Any, rtype: str, table: pa.Table) -> None:
        if rtype == "LIVES_IN":
            raise RuntimeError("disk full")
        real(tx, rtype, table)

    monkeypatch.setattr(store, "_write_relationships", fail_on_lives_in)
    with pytest.raises(RuntimeError):
        store.upsert(_new_person_batch("KEEP", grid), batch_size=3)  # batches: 3 nodes | 3 | 1
    monkeypatch.undo()
    after = store.counts()
    assert (
        after["Person"] == before["Person"] + 1 and after["Enrollment"] == before["Enrollment"] + 2
    )
    assert after["HAS"] == before["HAS"] + 2 and after["OF"] == before["OF"] + 1
    assert after["LIVES_IN"] == before["LIVES_IN"]


@pytest.mark.neo4j
def test_stores_agree_after_the_same_writes(
    both: tuple[GraphStore, GraphStore], graph: GraphTables
) -> None:
    embedded, neo4j = both
    assert embedded.counts() == neo4j.counts()
    for pid in ("UP-P1", "KEEP-P1", _person_with(graph, "FOR")):
        for name in ("person_360", "certification_spread"):
            assert embedded.query(name, person_id=pid) == neo4j.query(name, person_id=pid)


# ------------------------------------------------------------- availability


@pytest.mark.embedded
def test_embedded_store_survives_a_restart(graph: GraphTables, tmp_path: Path) -> None:
    path = tmp_path / "graph.duckdb"
    with EmbeddedStore(path) as first:
        first.load(graph)
        first.upsert(_new_person_batch("RS", graph.nodes["Grid"]["code"][0].as_py()))
        counts = first.counts()
        expected = first.query("paid_after_death")
    script = (
        "import json, sys; from linkgraph.graph.embedded_store import EmbeddedStore\n"
        "s = EmbeddedStore(sys.argv[1])\n"
        "print(json.dumps([s.counts(), len(s.query('paid_after_death')),"
        " [r['note'] for r in s.query('person_360', person_id='RS-P1')]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    import json

    after, paid, notes = json.loads(out.stdout)
    assert after == counts
    assert paid == len(expected)
    assert len(notes) == 3  # the person and two enrolments, still there


@pytest.mark.embedded
def test_closed_embedded_store_is_unavailable(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "g.duckdb")
    store.close()
    with pytest.raises(StoreUnavailable):
        store.ping()


@pytest.mark.neo4j
def test_unreachable_neo4j_is_unavailable() -> None:
    from linkgraph.graph.neo4j_store import Neo4jStore

    store = Neo4jStore("bolt://127.0.0.1:1", "neo4j", "wrong")
    with pytest.raises(StoreUnavailable):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.query("paid_after_death")
    store.close()
