"""linkgraph.browser without a browser: the library parsed, the guide, style, favourites, server."""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile
from pathlib import Path

import pytest

from linkgraph import browser
from linkgraph.browser import BrowserError, GuideParam, parse_grass
from linkgraph.graph.queries import QUERIES


@pytest.fixture(scope="module")
def queries() -> list[browser.GuideQuery]:
    return browser.library()


def test_library_reads_every_query_file_in_investigation_order(
    queries: list[browser.GuideQuery],
) -> None:
    names = [q.name for q in queries]
    assert sorted(names) == sorted(QUERIES)
    assert names[:2] == ["person_360", "find_person"]
    assert names == [n for n in browser.ORDER if n in names] + sorted(
        n for n in names if n not in browser.ORDER
    )
    assert names[-1] == "certification_spread"


#: Cypher clauses that change a graph; the library holds none of them (its one procedure
#: is the full-text search, which reads).
_WRITES = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|FOREACH|LOAD\s+CSV|IN\s+(\d+\s+)?"
    r"(CONCURRENT\s+)?TRANSACTIONS)\b|\bCALL\s+(?!\(|\{|db\.index\.fulltext\.queryNodes\()",
    re.IGNORECASE,
)


def test_the_library_and_its_graph_views_only_read(queries: list[browser.GuideQuery]) -> None:
    """A graph query traverses and aggregates for investigators; it never decides eligibility."""
    assert not (browser.QUERY_DIR / "spread_certification.cypher").exists()
    for q in queries:
        assert _WRITES.search(q.cypher) is None, q.name
        assert q.graph is None or _WRITES.search(q.graph) is None, q.name
        assert "(write)" not in q.summary and not q.cypher.startswith(":auto"), q.name


def test_headers_parse_like_the_query_registry(queries: list[browser.GuideQuery]) -> None:
    for q in queries:
        spec = QUERIES[q.name]
        assert [p.name for p in q.params] == list(spec.params), q.name
        assert [p.required for p in q.params] == [p.required for p in spec.params.values()]
        assert q.cypher == spec.cypher
        assert q.sections["Returns"][0].startswith(", ".join(spec.columns))
        assert q.sections.get("Answers") or q.sections.get("Does"), q.name


def test_every_query_has_a_graph_view_over_its_own_parameters(
    queries: list[browser.GuideQuery],
) -> None:
    assert set(browser.GRAPH_VIEWS) == {q.name for q in queries}
    for q in queries:
        assert q.graph is not None
        used = set(re.findall(r"\$(\w+)", q.graph))
        assert used <= {p.name for p in q.params}, q.name


@pytest.mark.parametrize(
    ("literal", "parts"),
    [
        ("'T0000001'", ("'", "T0000001", "'")),
        ("date('2026-12-31')", ("date('", "2026-12-31", "')")),
        ("2", ("", "2", "")),
    ],
)
def test_param_literal_splits_round_its_editable_value(
    literal: str, parts: tuple[str, str, str]
) -> None:
    param = GuideParam("x", literal, False, "")
    assert param.parts == parts
    assert "".join(param.parts) == literal
    assert param.command == f":param x => {literal}"


def test_guide_has_a_runnable_slide_per_query(queries: list[browser.GuideQuery]) -> None:
    page = browser.render_guide(queries, "http://localhost:9999")
    assert "<title>linkgraph investigations</title>" in page
    assert page.count("<slide>") == len(queries) + 2
    assert 'data-exec="style http://localhost:9999/style.grass"' in page
    for q in queries:
        assert f"· {q.name}" in page
        # The runnable block holds the query text itself (HTML-escaped).
        assert browser._e(q.cypher) in page
        for p in q.params:
            assert f'value-for="lg-{p.name}"' in page
            assert f'value-key="lg-{p.name}"' in page
    assert "<script" not in page


def test_style_parses_as_the_browser_parses_it_and_covers_every_label() -> None:
    from linkgraph.graph import load_schema

    style = browser.read_style()
    for label in load_schema().nodes:
        rule = style.get(f"node.{label}")
        assert rule is not None, f"style.grass has no rule for {label}"
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", rule["color"]), label
        captions = re.findall(r"\{(\w+)\}", rule["caption"])
        assert captions, label
        assert set(captions) <= set(load_schema().nodes[label].properties), label


def test_grass_parser_refuses_what_the_browser_would_drop() -> None:
    assert parse_grass('node.A { caption: "{a} {b}"; color: #fff; }') == {
        "node.A": {"caption": "{a} {b}", "color": "#fff"}
    }
    with pytest.raises(BrowserError):
        parse_grass("/* a comment */ node.A { color: #fff; }")
    with pytest.raises(BrowserError):
        parse_grass('node.A { caption: "at 10:30"; }')


def test_favourites_zip_is_a_folder_of_cypher_scripts(queries: list[browser.GuideQuery]) -> None:
    with zipfile.ZipFile(io.BytesIO(browser.favourites_zip(queries))) as zf:
        names = zf.namelist()
        person = zf.read("linkgraph/person_360.cypher").decode()
    assert len(names) == 2 * len(queries)
    assert all(n.startswith("linkgraph/") and n.endswith(".cypher") for n in names)
    assert person.startswith("// person_360\n")
    assert ":param person_id => 'T0000001'" in person
    storage = browser.favourites_local_storage(queries)
    docs = json.loads(storage["neo4j.documents"])
    assert len(docs) == 2 * len(queries)
    assert {d["folder"] for d in docs} == {"linkgraph"}


def test_certification_spread_slide_and_favourite(queries: list[browser.GuideQuery]) -> None:
    """One certification, every benefit: a person's table, then the same person as a graph."""
    spread = next(q for q in queries if q.name == "certification_spread")
    assert [p.name for p in spread.params] == ["person_id"] and spread.params[0].required
    assert spread.graph is not None
    assert " ".join(spread.graph.split()).startswith(
        "MATCH path = (c:Certification)<-[:CERTIFIED_BY]-(p:Person {person_id: $person_id})"
        " -[:HAS]->(e:Enrollment)"
    )
    page = browser.render_guide(queries, "http://localhost:9999")
    assert browser._e(spread.cypher) in page
    assert "(write)" not in page and ":auto" not in page
    with zipfile.ZipFile(io.BytesIO(browser.favourites_zip(queries))) as zf:
        favourite = zf.read("linkgraph/certification_spread.cypher").decode()
    assert favourite.startswith("// certification_spread\n")
    assert ":param person_id => 'P000000001'" in favourite
    assert favourite.rstrip().endswith("ORDER BY enrollment_id")


def test_bundle_is_served_with_cors(tmp_path: Path) -> None:
    with browser.GuideServer(tmp_path, port=0) as server:
        browser.write_bundle(tmp_path, port=server.port)
        local = f"http://127.0.0.1:{server.port}"
        preflight = urllib.request.Request(
            f"{local}/guide.html",
            method="OPTIONS",
            headers={
                "Origin": "http://127.0.0.1:7474",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "pragma,cache-control",
            },
        )
        with urllib.request.urlopen(preflight, timeout=5) as answer:
            assert answer.status == 204
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert answer.headers["Access-Control-Allow-Headers"] == "pragma,cache-control"
        with urllib.request.urlopen(f"{local}/guide.html", timeout=5) as answer:
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert f"{server.url}/style.grass" in answer.read().decode()
        with urllib.request.urlopen(f"{local}/style.grass", timeout=5) as answer:
            assert parse_grass(answer.read().decode()) == browser.read_style()
    assert server.url == f"http://localhost:{server.port}"
