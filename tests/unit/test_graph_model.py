"""The graph model: read from cypher/schema.cypher, and build_graph refusing bad input."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.dispatch import TASK
from linkgraph.errors import InputError
from linkgraph.graph import GraphTables, build_graph, load_schema
from linkgraph.graph.model import DOOR_KNOCK
from linkgraph.graph.queries import QUERIES
from linkgraph.graph.schema import SchemaError, parse_schema
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON, RESOLUTION, ROSTER


def test_keys_come_from_the_constraints_of_schema_cypher() -> None:
    schema = load_schema()
    assert schema.key("Person") == "person_id"
    assert schema.key("EvidenceEvent") == "event_key"
    assert schema.key_type("EvidenceEvent") == pa.string()
    assert schema.rel("RESOLVES_TO").properties == {"band": "string", "match_probability": "float"}
    assert (schema.rel("HAS").start, schema.rel("HAS").end) == ("Person", "Enrollment")
    assert all(s.startswith("CREATE ") for s in schema.statements)
    assert sum("CONSTRAINT" in s for s in schema.statements) == len(schema.nodes)


def test_a_label_without_constraint_is_a_schema_error_naming_the_line() -> None:
    text = "// NODE (:Ghost {ghost_id: string!})\n"
    with pytest.raises(SchemaError, match="line 1: label Ghost has no uniqueness constraint"):
        parse_schema(text)
    text = (
        "// NODE (:A {a: strin!})\n"
        "CREATE CONSTRAINT a IF NOT EXISTS FOR (n:A) REQUIRE n.a IS UNIQUE;"
    )
    with pytest.raises(SchemaError, match="line 1: property 'a: strin!'"):
        parse_schema(text)


def test_every_library_query_has_a_cypher_file_with_a_header() -> None:
    for q in QUERIES.values():
        assert q.path.exists() and q.columns and q.summary
        assert ":param" not in q.cypher  # the statement the driver runs has no Browser commands
        for p in q.params.values():
            assert f"${p.name}" in q.cypher


def _tables(**overrides: pa.Table) -> dict[str, pa.Table]:
    grid = "341602001001G001"
    persons = pa.Table.from_pylist(
        [{"person_id": "P1", "name": "王秀英", "birth_date": dt.date(1950, 1, 1), "grid": grid}],
        schema=PERSON,
    )
    records = pa.Table.from_pylist(
        [{"record_id": "HRSS-1", "source": "HRSS", "item_code": "URRP"}], schema=ROSTER
    )
    resolution = pa.Table.from_pylist(
        [{"record_id": "HRSS-1", "person_id": "P1", "band": "match", "match_probability": 0.99}],
        schema=RESOLUTION,
    )
    enrollments = pa.Table.from_pylist(
        [
            {
                "enrollment_id": "HRSS-1",
                "person_id": "P1",
                "item_code": "URRP",
                "department": "HRSS",
                "paid_until": dt.date(2026, 12, 1),
                "monthly_amount": 190,
                "bank_account": "6217000000000000001",
            }
        ],
        schema=ENROLLMENT,
    )
    events = pa.Table.from_pylist(
        [
            {"event_id": 7, "channel": "WST_FACE", "occurred_on": dt.date(2026, 5, 1),
             "person_id": "P1", "linked_by": "id_number"},
            {"event_id": 8, "channel": "BUS_TAP", "occurred_on": dt.date(2026, 5, 2)},
        ],
        schema=LINKED_EVENT,
    )  # fmt: skip
    tables = {
        "persons": persons,
        "records": records,
        "resolution": resolution,
        "enrollments": enrollments,
        "events": events,
    }
    return {**tables, **overrides}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def test_build_graph_makes_the_model(catalogue: Catalogue) -> None:
    graph = build_graph(catalogue, **_tables())
    counts = graph.counts()
    assert counts["Person"] == 1 and counts["Enrollment"] == 1 and counts["Grid"] == 1
    assert counts["EvidenceEvent"] == 1  # the unlinked event is left out
    assert counts["BenefitItem"] == 22 and counts["Channel"] == 56
    has = graph.relationships["HAS"].to_pylist()
    assert has == [{"start": "P1", "end": "HRSS-1"}]
    assert graph.nodes["EvidenceEvent"]["event_id"].type == pa.int64()


def test_dispatch_tasks_load_as_they_are(catalogue: Catalogue) -> None:
    tasks = pa.Table.from_pylist(
        [{"task_id": "T1", "person_id": "P1", "grid": "341602001001G001", "reason": "no_trace"}],
        schema=TASK,
    )
    graph = build_graph(catalogue, **_tables(), tasks=tasks)
    assert graph.nodes["Task"].select(["task_id", "kind", "reason"]).to_pylist() == [
        {"task_id": "T1", "kind": DOOR_KNOCK, "reason": "no_trace"}
    ]
    assert graph.relationships["IN"].to_pylist() == [{"start": "T1", "end": "341602001001G001"}]


def test_dangling_reference_names_the_relationship(catalogue: Catalogue) -> None:
    base = _tables()
    enrollments = pa.concat_tables(
        [
            base["enrollments"],
            pa.Table.from_pylist(
                [{"enrollment_id": "CA-9", "person_id": "P404", "item_code": "OAA"}],
                schema=ENROLLMENT,
            ),
        ]
    )
    with pytest.raises(InputError, match=r"HAS relationship Person 'P404' -> Enrollment 'CA-9'"):
        build_graph(catalogue, **_tables(enrollments=enrollments))


def test_unknown_grid_is_a_dangling_reference(catalogue: Catalogue) -> None:
    persons = _tables()["persons"].set_column(
        8, "grid", pa.array(["999999999999G001"], pa.string())
    )
    with pytest.raises(InputError, match=r"LIVES_IN relationship Person 'P1' -> Grid"):
        build_graph(catalogue, **_tables(persons=persons))


def test_wrong_type_in_a_pipeline_table_names_the_record(catalogue: Catalogue) -> None:
    enrollments = _tables()["enrollments"].to_pylist()
    enrollments += [{**enrollments[0], "enrollment_id": "HRSS-2"}]
    table = pa.Table.from_pylist(enrollments, schema=ENROLLMENT)
    text = table.set_column(6, "monthly_amount", pa.array(["190", "lots"]))
    with pytest.raises(InputError, match=r"enrollment_id='HRSS-2': monthly_amount 'lots'"):
        build_graph(catalogue, **_tables(enrollments=text))


def test_wrong_type_in_graph_tables_names_the_node() -> None:
    bad = GraphTables(
        nodes={"Enrollment": pa.table({"enrollment_id": ["E1"], "monthly_amount": ["190"]})}
    )
    with pytest.raises(InputError, match=r"Enrollment 'E1': property 'monthly_amount' is string"):
        bad.conformed()


def test_repeated_key_and_unknown_property_are_refused() -> None:
    with pytest.raises(InputError, match=r"Person 'P1': key 'person_id' repeated"):
        GraphTables(nodes={"Person": pa.table({"person_id": ["P1", "P1"]})}).conformed()
    with pytest.raises(InputError, match="unknown property shoe_size"):
        GraphTables(
            nodes={"Person": pa.table({"person_id": ["P1"], "shoe_size": [42]})}
        ).conformed()


def test_batches_cover_every_row_once_nodes_first() -> None:
    graph = GraphTables(
        nodes={"Phone": pa.table({"number": [f"1380000000{i}" for i in range(5)]})},
        relationships={"REACHABLE_AT": pa.table({"start": ["P1"] * 3, "end": ["a", "b", "c"]})},
    )
    batches = list(graph.batches(3))
    assert [b.num_rows for b in batches] == [3, 3, 2]
    assert "REACHABLE_AT" not in batches[0].relationships
    assert sum(b.counts().get("Phone", 0) for b in batches) == 5


def test_readme_diagram_is_the_schema() -> None:
    from linkgraph.graph.schema import CYPHER_DIR

    readme = (CYPHER_DIR / "README.md").read_text(encoding="utf-8")
    assert load_schema().mermaid() in readme


def test_exported_members() -> None:
    """The port other stages code against (httpx's test_exported_members shape)."""
    import linkgraph.graph as graph
    from linkgraph.graph.store import GraphStore

    assert set(graph.__all__) == {
        "QUERIES",
        "GraphSchema",
        "GraphStore",
        "GraphTables",
        "LibraryQuery",
        "LoadReport",
        "build_graph",
        "load_schema",
        "open_store",
    }
    public = {n for n in vars(GraphStore) if not n.startswith("_")}
    assert public == {
        "load",
        "load_parts",
        "upsert",
        "query",
        "counts",
        "ping",
        "close",
        "holds_file_lock",  # whether a long-lived client must let it go between calls
    }


def test_the_channels_that_report_a_death_are_the_policys(catalogue: Catalogue) -> None:
    """paid_after_death and its views read Channel.reports_death, set from the policy's
    death channels: the list is written once, in seed/policy.toml."""
    import pyarrow.compute as pc

    from linkgraph.policy import Policy

    def reporting(graph: object) -> set[str]:
        channels = graph.nodes["Channel"]  # type: ignore[attr-defined]
        death = channels.filter(pc.equal(channels["reports_death"], True))
        return set(death["code"].to_pylist())

    assert reporting(build_graph(catalogue, **_tables())) == set(
        Policy.load().negative.death_channels
    )
    assert reporting(build_graph(catalogue, **_tables(), death_channels=["CREMATION"])) == {
        "CREMATION"
    }
