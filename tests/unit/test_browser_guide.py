"""linkgraph.browser without a browser: the library parsed, the guide, style, favourites, server."""

from __future__ import annotations

import html
import io
import json
import re
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
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
        ("'P000000001'", ("'", "P000000001", "'")),
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
    # the id comes from the data (a flagged person), not from a literal made up beforehand
    assert "//   :param [{person_id}] => { MATCH (:Flag)-[:CONCERNS]->(p:Person)" in person
    assert _MADE_UP_ID.search(person) is None
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
    assert "//   :param [{person_id}] => { MATCH (:Flag)-[:CONCERNS]->(p:Person)" in favourite
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


# ----------------------------------------------------------------------- issue 13: the guide


#: A person id written into the guide (P000000001, T0000001): the guide is generated before
#: any data is loaded, so such an id is made up.
_MADE_UP_ID = re.compile(r"'[A-Z]\d{6,}'")


def _blocks(page: str) -> list[str]:
    """What the Browser runs with one click: runnable code blocks and data-exec links."""
    runnable = re.findall(r'<pre class="code runnable">(.*?)</pre>', page, re.DOTALL)
    execs = [":" + x for x in re.findall(r'data-exec="([^"]*)"', page)]
    return [html.unescape(re.sub(r"<[^>]+>", "", x)) for x in runnable + execs]


def _slides(page: str) -> list[str]:
    return re.findall(r"<slide>(.*?)</slide>", page, re.DOTALL)


def _set_all(slide: str) -> str:
    """The slide's one-click "set the example values" command."""
    (command,) = re.findall(r'<a data-exec="([^"]*)">set the example values</a>', slide)
    return ":" + html.unescape(command)


def test_set_the_example_values_keeps_dates_dates_and_integers_integers(
    queries: list[browser.GuideQuery],
) -> None:
    """``:params {since: date('…')}`` is parsed as JSON by the Browser: $since became the
    STRING "date('2026-07-01')" (no_trace then listed every grid) and $limit a FLOAT. Each
    slide's one command is a Cypher-evaluated ``:param [{…}] => { RETURN … }`` instead."""
    page = browser.render_guide(queries, "http://localhost:9999")
    slides = {q.name: s for q in queries for s in _slides(page) if f"· {q.name}<" in s}
    for q in queries:
        if not q.params:
            assert "set the example values" not in slides[q.name], q.name
            continue
        command = _set_all(slides[q.name])
        assert not command.startswith(":params"), command
        match = re.fullmatch(r":param \[\{([\w, ]+)\}\] => \{ (.*) \}", command)
        assert match, command
        assert match.group(1).split(", ") == [p.name for p in q.params]
        returned = dict(
            (alias, expr)
            for expr, alias in re.findall(r"((?:date\('[^']*'\))|\S+) AS (\w+)", match.group(2))
        )
        for p in q.params:
            if p.literal.startswith("date("):
                assert returned[p.name] == p.literal, (q.name, p.name)
            elif re.fullmatch(r"-?\d+", p.literal):
                assert returned[p.name] == p.literal, (q.name, p.name)  # an INTEGER literal
    no_trace = _set_all(slides["no_trace"])
    assert "date('2026-07-01') AS since" in no_trace and "date('2026-12-31') AS until" in no_trace


def _with_a_write_query(tmp_path: Path) -> Path:
    for source in browser.QUERY_DIR.glob("*.cypher"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "close_flag.cypher").write_text(
        "// close_flag — mark one flag as recovered.\n"
        "//\n"
        "// Does: sets the flag's status.\n"
        "// Parameters:\n"
        "//   :param flag_id => 'F1'        (required) the flag\n"
        "// Returns: flag_id\n"
        "MATCH (f:Flag {flag_id: $flag_id}) SET f.status = 'recovered' RETURN f.flag_id AS flag_id\n",
        encoding="utf-8",
    )
    return tmp_path


def test_no_one_click_block_writes_and_a_write_is_shown_apart(tmp_path: Path) -> None:
    """The guide once ran a statement that rewrote enrolments with one click. Whatever the
    library holds, one-click blocks only read; a statement that writes is a separate,
    labelled block the Browser does not run, and gets no favourite (the drawer runs those
    with one click)."""
    queries = browser.library(_with_a_write_query(tmp_path))
    page = browser.render_guide(queries, "http://localhost:9999")
    blocks = _blocks(page)
    assert len(blocks) > 2 * len(queries)
    for block in blocks:
        assert _WRITES.search(block) is None, block
    (slide,) = [s for s in _slides(page) if "· close_flag" in s]
    assert "WRITES to the graph" in slide and "(writes)" in slide
    shown = re.findall(r'<pre class="code lg-write">(.*?)</pre>', slide, re.DOTALL)
    assert [html.unescape(x) for x in shown] == [
        "MATCH (f:Flag {flag_id: $flag_id}) SET f.status = 'recovered' RETURN f.flag_id AS flag_id"
    ]
    # its one link only puts the statement into the editor: running it there is the confirmation
    assert re.findall(r"data-(exec|populate)=", slide).count("populate") == 1
    with zipfile.ZipFile(io.BytesIO(browser.favourites_zip(queries))) as zf:
        assert not any("close_flag" in n for n in zf.namelist())
    assert "close_flag" not in browser.favourites_local_storage(queries)["neo4j.documents"]


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)
    parent: _Node | None = None

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> list[_Node]:
        return [self, *(n for c in self.children if isinstance(c, _Node) for n in c.walk())]


class _Tree(HTMLParser):
    VOID = frozenset({"br", "img", "input", "meta", "hr", "link"})

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.at = _Node("#document", {})
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs}, parent=self.at)
        self.at.children.append(node)
        if tag not in self.VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node: _Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def _inside_runnable(node: _Node) -> bool:
    up = node.parent
    while up is not None:
        if "runnable" in up.classes:
            return True
        up = up.parent
    return False


def _attr(name: str, prefix: str) -> Callable[[_Node], str | None]:
    return lambda n: prefix + n.attrs[name] if name in n.attrs else None


def _pre(inside: bool) -> Callable[[_Node], str | None]:
    def value(n: _Node) -> str | None:
        matches = _inside_runnable(n) if inside else "runnable" in n.classes
        return n.text().strip() if n.tag == "pre" and matches else None

    return value


#: Browser 5.24's guide directives (``Directives.tsx``, as the Browser Neo4j 5.26 serves has
#: them), in its order: the command an element stands for, and whether clicking it runs it
#: (otherwise the click puts the command into the editor).
_DIRECTIVES: list[tuple[Callable[[_Node], str | None], bool]] = [
    (_attr("data-exec", ":"), True),
    (_attr("data-populate", ""), False),
    (_attr("exec-topic", ":"), True),
    (_attr("play-topic", ":play "), True),
    (_attr("server-topic", ":server "), True),
    (_attr("help-topic", ":help "), True),
    (_pre(inside=True), False),  # .runnable pre
    (_pre(inside=False), False),  # pre.runnable
]


def _one_click(page: str) -> list[tuple[str, str]]:
    """Every command one click on the rendered guide runs, and how: ("icon", cmd) for the play
    icon the Browser puts before each directive's element (unless its first child is an <i> or
    it has class remove-play-icon; the icon only fills the editor with a command starting with
    :auto), ("click", cmd) for a click on an element whose directive runs."""
    runs: list[tuple[str, str]] = []
    for node in _Tree(page).root.walk():
        for value_of, auto_exec in _DIRECTIVES:
            value = value_of(node)
            if not value:
                continue
            first = node.children[0] if node.children else None
            icon = isinstance(first, _Node) and first.tag == "i"
            if not icon and "remove-play-icon" not in node.classes:
                node.children.insert(0, _Node("i", {"class": "fa fa-play-circle-o"}, parent=node))
                if not value.startswith(":auto"):
                    runs.append(("icon", value))
            if auto_exec:
                runs.append(("click", value))
    return runs


def test_one_click_in_the_browser_never_runs_a_statement_that_writes(tmp_path: Path) -> None:
    """As the Browser reads the guide's markup: a play icon runs a command, and the Browser
    puts one before every directive's element, the "put it into the editor" link of a
    statement that writes included, unless told not to. Reads run from their icon."""
    queries = browser.library(_with_a_write_query(tmp_path))
    page = browser.render_guide(queries, "http://localhost:9999")
    runs = _one_click(page)
    assert not [cmd for _, cmd in runs if browser.writes(cmd)]
    (close_flag,) = [q for q in queries if q.name == "close_flag"]
    assert close_flag.cypher not in {cmd for _, cmd in runs}
    by_icon = {cmd for how, cmd in runs if how == "icon"}
    for q in queries:
        if not q.writes:
            assert q.cypher in by_icon, q.name
            assert q.graph is None or q.graph in by_icon, q.name
    assert browser.FLAGGED_PERSON_COMMAND in by_icon


def test_a_statement_that_writes_cannot_be_made_one_click() -> None:
    with pytest.raises(BrowserError):
        browser._runnable("MATCH (e:Enrollment) SET e.status = 'stop'")
    with pytest.raises(BrowserError):
        browser.param_lambda([("x", "1")], "CREATE (n:Person)")
    assert browser.param_lambda([("on", "date('2026-12-31')"), ("limit", "20")]) == (
        ":param [{on, limit}] => { RETURN date('2026-12-31') AS on, 20 AS limit }"
    )


def test_examples_come_from_the_loaded_data(queries: list[browser.GuideQuery]) -> None:
    """No made-up id anywhere a click runs: the first slide finds a flagged person in the data
    and sets $person_id, $other_id and $text from them; each slide's example values do the
    same, and the boxes of an id and of find_person's text start empty (a name the guide
    proposed found nobody on a graph loaded for analysts)."""
    page = browser.render_guide(queries, "http://localhost:9999")
    for block in _blocks(page):
        assert _MADE_UP_ID.search(block) is None, block
    first = _slides(page)[0]
    step = next(b for b in _blocks(first) if b.startswith(":param "))
    assert step.startswith(":param [{person_id, other_id, text}] => { MATCH (:Flag)-[:CONCERNS]->")
    assert step.endswith(
        "RETURN p.person_id AS person_id, other_id AS other_id,"
        " CASE WHEN p.name = p.masked_name THEN right(p.id_number, 4) ELSE p.name END AS text }"
    )
    assert "Start with a flagged person" in first
    for name in ("person_id", "other_id", "text"):
        assert f'<span value-key="lg-{name}"></span>' in page
    spread = next(s for s in _slides(page) if "· certification_spread<" in s)
    assert _set_all(spread).startswith(":param [{person_id}] => { MATCH (:Flag)-[:CONCERNS]->")


def test_first_slide_says_what_the_data_holds(queries: list[browser.GuideQuery]) -> None:
    from linkgraph.graph import load_schema

    first = _slides(browser.render_guide(queries, "http://localhost:9999"))[0]
    counts = next(b for b in _blocks(first) if "count(" in b)
    for label in load_schema().nodes:
        assert f"MATCH (n:{label}) RETURN '{label}' AS label, count(n) AS nodes" in counts
    assert counts.count("UNION ALL") == len(load_schema().nodes) - 1
    text = re.sub(r"<[^>]+>", "", first)
    assert "A Flag is a suspicion" in text and "A Task is a door-to-door check" in text


def test_style_tells_an_enrolment_from_its_item_and_a_dead_person_from_the_living() -> None:
    """An Enrollment and its BenefitItem were both captioned by the item's code; nothing on a
    Person said dead. GraSS selects by label only, and a caption leaves out a property the
    node lacks: a person's death date under their name marks the dead."""
    style = browser.read_style()
    item, enrolment = style["node.BenefitItem"]["caption"], style["node.Enrollment"]["caption"]
    assert item == "{code}"
    assert enrolment != item and re.findall(r"\{(\w+)\}", enrolment) == ["status", "item_code"]
    assert re.findall(r"\{(\w+)\}", style["node.Person"]["caption"]) == [
        "masked_name",
        "death_date_text",
    ]


def test_captions_show_a_date_through_its_text_copy() -> None:
    """Issue 13: the Browser writes a DATE into a caption in quotes ("2026-06-14"), which
    GraSS cannot format: a caption shows the date's text copy (``<date>_text``), never the
    date itself."""
    from linkgraph.graph import load_schema

    schema = load_schema()
    shown: dict[str, list[str]] = {}
    for selector, rule in browser.read_style().items():
        label = selector.removeprefix("node.")
        if label in schema.nodes:
            spec = schema.node(label)
            names = re.findall(r"\{(\w+)\}", rule["caption"])
            assert all(spec.properties[n] != "date" for n in names), selector
            shown |= {label: [spec.date_texts[n] for n in names if n in spec.date_texts]}
    assert {label: dates for label, dates in shown.items() if dates} == {
        "Person": ["death_date"],
        "Certification": ["valid_until"],
        "EvidenceEvent": ["occurred_on"],
        "Task": ["due_on"],
    }
