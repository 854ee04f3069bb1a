"""Issue 13: the graph projected into Neo4j has an audience (``Settings.neo4j_audience``).

For investigators it is the graph as built, persons whole (the query library's find_person
needs their names). For analysts, who browse it in the Neo4j Browser (Neo4j Community has no
property-level security: the property panel shows what a node holds), it holds only the
masked forms of :mod:`linkgraph.masking`, and phones, accounts and addresses are keyed by a
keyed hash, so shared ones still tie persons together.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.errors import InputError
from linkgraph.graph import GraphTables, build_graph, load_schema
from linkgraph.graph.model import for_audience, with_date_texts
from linkgraph.graph.neo4j_store import Neo4jStore
from linkgraph.graph.queries import analyst_reading
from linkgraph.masking import mask_account, mask_id_number, mask_name, mask_phone
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON, RESOLUTION, ROSTER

GRID = "341602001001G001"
ADDRESS = "颍州区西湖镇王楼村12号"
#: Three persons: two of one household sharing a phone; the third's phone and account differ
#: from theirs only in the digits a mask hides.
PERSONS = [
    {"person_id": "P1", "name": "王秀英", "id_number": "341602194903150123",
     "birth_date": dt.date(1949, 3, 15), "gender": "F", "phone": "13812345678",
     "address": ADDRESS, "village": "王楼村", "grid": GRID, "district": "颍州区"},
    {"person_id": "P2", "name": "欧阳明", "id_number": "341602195001010456",
     "birth_date": dt.date(1950, 1, 1), "gender": "M", "phone": "13812345678",
     "address": ADDRESS, "village": "王楼村", "grid": GRID, "district": "颍州区"},
    {"person_id": "P3", "name": "李明", "id_number": "34160219600202078X",
     "birth_date": dt.date(1960, 2, 2), "gender": "M", "phone": "13899995678",
     "address": "颍州区西湖镇王楼村3号", "village": "王楼村", "grid": GRID, "district": "颍州区"},
]  # fmt: skip
ACCOUNTS = {"P1": "6217000000000001234", "P2": "6217000000000001234", "P3": "6217999999999991234"}


def _inputs() -> dict[str, Any]:
    persons = pa.Table.from_pylist(PERSONS, schema=PERSON)
    records = pa.Table.from_pylist(
        [
            {"record_id": f"HRSS-{p['person_id']}", "source": "HRSS", "item_code": "URRP",
             "name": p["name"], "id_number": p["id_number"], "address": p["address"],
             "sscard_no": f"S{p['id_number']}", "phone": p["phone"]}
            for p in PERSONS
        ],
        schema=ROSTER,
    )  # fmt: skip
    resolution = pa.Table.from_pylist(
        [
            {"record_id": f"HRSS-{p['person_id']}", "person_id": p["person_id"], "band": "match",
             "match_probability": 0.99}
            for p in PERSONS
        ],
        schema=RESOLUTION,
    )  # fmt: skip
    enrollments = pa.Table.from_pylist(
        [
            {"enrollment_id": f"HRSS-{p['person_id']}", "person_id": p["person_id"],
             "item_code": "URRP", "department": "HRSS", "enrolled_on": dt.date(2020, 1, 1),
             "paid_until": dt.date(2026, 12, 1), "monthly_amount": 190,
             "bank_account": ACCOUNTS[p["person_id"]]}
            for p in PERSONS
        ],
        schema=ENROLLMENT,
    )  # fmt: skip
    events = pa.Table.from_pylist(
        [{"event_id": 7, "channel": "WST_FACE", "occurred_on": dt.date(2026, 5, 1),
          "person_id": "P1", "linked_by": "id_number"}],
        schema=LINKED_EVENT,
    )  # fmt: skip
    flags = pa.Table.from_pylist(
        [
            {"flag_id": "F1", "kind": "id_name_mismatch", "person_ids": ["P1", "P2"],
             "enrollment_ids": [], "amount_at_risk": 0, "status": "open",
             "detail": f"ID number {mask_id_number(PERSONS[0]['id_number'])} carried by 2"
                       f" names: {PERSONS[0]['name']}, {PERSONS[1]['name']}"},
            {"flag_id": "F2", "kind": "shared_phone", "person_ids": ["P1", "P2"],
             "enrollment_ids": [], "amount_at_risk": 0, "status": "open",
             "detail": "phone 138****5678 used by 2 persons in 1 households"},
        ]
    )  # fmt: skip
    return {
        "persons": persons,
        "records": records,
        "resolution": resolution,
        "enrollments": enrollments,
        "events": events,
        "flags": flags,
    }


@pytest.fixture(scope="module")
def graph() -> GraphTables:
    return build_graph(Catalogue.load(), **_inputs())


KEY = b"k" * 32

#: Every personal value of the inputs whole: none may appear in an analysts' graph.
WHOLE = [
    *(p[k] for p in PERSONS for k in ("name", "id_number", "phone", "address")),
    *ACCOUNTS.values(),
    *(f"S{p['id_number']}" for p in PERSONS),
    "wangxiuying",  # P1's pinyin
]


def _strings(graph: GraphTables) -> list[str]:
    """Every string value of every table (keys, properties, relationship ends, lists)."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for table in [*graph.nodes.values(), *graph.relationships.values()]:
        for column in table.columns:
            for value in column.to_pylist():
                walk(value)
    return out


def _rows(graph: GraphTables, label: str) -> dict[str, dict[str, Any]]:
    key = load_schema().key(label)
    return {r[key]: r for r in graph.nodes[label].to_pylist()}


def test_the_investigators_graph_is_the_graph_as_built(graph: GraphTables) -> None:
    """The default audience is investigator, and its projection masks nothing: persons,
    records, phones, accounts and addresses whole, masked_name beside the name."""
    assert Settings().neo4j_audience == "investigator"
    assert for_audience(graph, "investigator") is graph
    store = Neo4jStore("bolt://127.0.0.1:1", "neo4j", "x")  # never connects: no query is run
    try:
        assert store.audience == "investigator"
        # as built, the dates a caption shows copied as text besides (test_graph_date_texts)
        assert store._projected(graph) == with_date_texts(graph, load_schema())
        assert Neo4jStore.from_settings(Settings()).audience == "investigator"
    finally:
        store.close()
    persons = _rows(graph, "Person")
    assert {p: (r["name"], r["masked_name"]) for p, r in persons.items()} == {
        "P1": ("王秀英", "王*英"),
        "P2": ("欧阳明", "欧*明"),
        "P3": ("李明", "李*"),
    }
    assert persons["P1"]["id_number"] == PERSONS[0]["id_number"]
    assert persons["P1"]["address"] == ADDRESS and persons["P1"]["pinyin"] == "wangxiuying"
    assert set(_rows(graph, "Phone")) == {"13812345678", "13899995678"}
    assert set(_rows(graph, "BankAccount")) == set(ACCOUNTS.values())
    assert ADDRESS in _rows(graph, "Address")
    assert _rows(graph, "SourceRecord")["HRSS-P1"]["sscard_no"] == f"S{PERSONS[0]['id_number']}"
    assert "王秀英" in _rows(graph, "Flag")["F1"]["detail"]


def test_the_analysts_graph_holds_no_personal_value_whole(graph: GraphTables) -> None:
    analyst = for_audience(graph, "analyst", KEY)
    strings = _strings(analyst)
    leaked = sorted({w for w in WHOLE for s in strings if w in s})
    assert leaked == []

    persons = _rows(analyst, "Person")
    p1 = persons["P1"]
    assert (p1["name"], p1["masked_name"], p1["id_number"]) == (
        "王*英",
        "王*英",
        "3416**********0123",
    )
    assert p1["address"] is None and p1["pinyin"] is None
    assert (p1["district"], p1["village"], p1["grid"]) == ("颍州区", "王楼村", GRID)
    assert persons["P3"]["id_number"] == mask_id_number(PERSONS[2]["id_number"])
    record = _rows(analyst, "SourceRecord")["HRSS-P1"]
    assert (record["name"], record["id_number"], record["address"], record["sscard_no"]) == (
        "王*英",
        "3416**********0123",
        None,
        mask_id_number(f"S{PERSONS[0]['id_number']}"),
    )
    assert (
        _rows(analyst, "Flag")["F1"]["detail"] == "ID number 3416**********0123 carried by 2 names"
    )
    assert _rows(analyst, "Flag")["F2"]["detail"] == _rows(graph, "Flag")["F2"]["detail"]


def test_the_analysts_graph_still_ties_what_is_shared_and_only_that(graph: GraphTables) -> None:
    """Two phones (and two accounts) alike but for the hidden digits stay two nodes; the phone,
    account and address P1 and P2 share stay one node each, reached by both."""
    analyst = for_audience(graph, "analyst", KEY)
    analyst.conformed().check_references()
    phones = sorted(_rows(analyst, "Phone"))
    assert len(phones) == 2 and all(p.startswith(f"{mask_phone('13812345678')} #") for p in phones)
    accounts = _rows(analyst, "BankAccount")
    assert len(accounts) == 2
    assert all(a.startswith(f"{mask_account(ACCOUNTS['P1'])} #") for a in accounts)
    assert len(_rows(analyst, "Address")) == 2

    def ends(rtype: str) -> dict[str, str]:
        t = analyst.relationships[rtype]
        return dict(zip(t["start"].to_pylist(), t["end"].to_pylist(), strict=True))

    for rtype, label in (("REACHABLE_AT", "Phone"), ("LIVES_AT", "Address")):
        e = ends(rtype)
        assert e["P1"] == e["P2"] != e["P3"], rtype
        assert set(e.values()) == set(_rows(analyst, label)), rtype
    paid = ends("PAID_TO")
    assert paid["HRSS-P1"] == paid["HRSS-P2"] != paid["HRSS-P3"]
    # the same key gives the same nodes at every load; another key other ones
    again = for_audience(graph, "analyst", KEY)
    assert sorted(_rows(again, "Phone")) == phones
    assert set(_rows(for_audience(graph, "analyst", b"x" * 32), "Phone")).isdisjoint(phones)


def test_an_upsert_of_some_columns_is_masked_as_a_load() -> None:
    """The API writes persons and phones into the graph as they come (``upsert``): the columns
    present are rewritten as a load rewrites them; facts without personal data pass."""
    part = GraphTables(
        {
            "Person": pa.table(
                {"person_id": ["N1"], "name": ["张三丰"], "pinyin": ["zhangsanfeng"]}
            ),
            "Phone": pa.table({"number": ["13812345678"]}),
        },
        {"REACHABLE_AT": pa.table({"start": ["N1"], "end": ["13812345678"]})},
    )
    out = for_audience(part, "analyst", KEY)
    assert out.nodes["Person"].to_pylist() == [{"person_id": "N1", "name": "张*丰", "pinyin": None}]
    assert (
        out.relationships["REACHABLE_AT"]["end"].to_pylist()
        == out.nodes["Phone"]["number"].to_pylist()
    )
    facts = GraphTables({"Person": pa.table({"person_id": ["N1"], "open_flags": [2]})})
    assert for_audience(facts, "analyst", KEY).nodes["Person"].equals(facts.nodes["Person"])


def test_mask_name_is_the_captions_rule() -> None:
    assert [mask_name(n) for n in ("王秀英", "欧阳秀英", "李明", "王", "", None)] == [
        "王*英",
        "欧**英",
        "李*",
        "王",
        "",
        None,
    ]


def test_find_person_on_an_analysts_graph_finds_by_the_last_four_digits_or_says_why_not() -> None:
    assert analyst_reading("0123") == ("id_number", "0123")
    assert analyst_reading("078x") == ("id_number", "078X")
    assert analyst_reading("?") is None  # finds nobody on any graph, as the query says
    for text, what in (("秀英", "name"), ("wang xiu", "pinyin"), ("150123", "beyond 4")):
        with pytest.raises(InputError, match=f"{what}.*loaded for\\s+analysts"):
            analyst_reading(text)
    with pytest.raises(InputError, match="unknown audience"):
        for_audience(GraphTables(), "nobody", KEY)  # type: ignore[arg-type]


def test_the_neo4j_store_for_analysts_masks_every_write_once_and_refuses_a_name_search(
    graph: GraphTables,
) -> None:
    """Every write of the store passes ``_projected`` once: a load and an upsert (through
    ``GraphStore``) and each part of the importer's load (``_counted``). find_person by
    name is refused before the server is asked (none runs here)."""
    store = Neo4jStore("bolt://127.0.0.1:1", "neo4j", "x", audience="analyst", pseudonym_key=KEY)
    try:
        counts: dict[str, int] = {}
        part = store._counted(graph, counts)
        assert _rows(part, "Person")["P1"]["name"] == "王*英"
        assert sorted(_rows(part, "Phone")) == sorted(
            _rows(for_audience(graph, "analyst", KEY), "Phone")
        )
        assert counts["Person"] == 3 and counts["Phone"] == 2
        with pytest.raises(InputError, match=r"loaded for\s+analysts"):
            store.query("find_person", text="王秀英")
    finally:
        store.close()
