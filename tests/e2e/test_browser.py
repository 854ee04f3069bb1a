"""End to end: the real Neo4j Browser, in headless Chromium, runs the library from the guide.

A 300-person city goes through the pipeline into the project's Neo4j (the ``neo4j_server``
session fixture). The bundle of ``linkgraph.browser`` (guide, style, favourites) is served the
way ``linkgraph browser serve`` serves it, on ``http://localhost:<port>`` — the one host on
the server's remote-content allowlist. Chromium then opens the Browser the server ships
(``/browser/``), fills the connect form, opens the guide with ``:guide <url>``, applies the
style from the guide, sets ``$person_id`` through the guide's input box, runs ``person_360``
(a table) and its graph view, and checks that the graph is drawn with the linkgraph style.
Screenshots are kept under ``test-artifacts/browser/`` (gitignored).

Chromium comes from Debian (``apt-get install -y chromium``, done by ``make browser-deps``)
and is driven by the ``playwright`` package with ``executable_path``: ``playwright install``
(which downloads a browser) is never needed. A missing Chromium fails the test, loudly.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from neo4j import GraphDatabase

from linkgraph import browser
from linkgraph.catalogue import Catalogue
from linkgraph.config import REPO_ROOT, Settings, get_settings
from linkgraph.errors import StoreUnavailable
from linkgraph.graph import QUERIES, GraphTables, build_graph
from linkgraph.graph.neo4j_store import Neo4jStore
from linkgraph.neo4j_server import wait_for_bolt
from linkgraph.neo4j_server.server import BROWSER_CSP
from linkgraph.pipeline import run_city
from linkgraph.synth import generate_city

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

pytestmark = pytest.mark.neo4j

ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
INSTALL_CHROMIUM = "apt-get update && apt-get install -y chromium   (or: make browser-deps)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000

#: A person worth looking at: enrolled, with evidence, a certification, a phone, a housemate.
PICK_PERSON = """
MATCH (p:Person)
WHERE EXISTS { (p)-[:HAS]->(:Enrollment) } AND EXISTS { (p)-[:REACHABLE_AT]->(:Phone) }
  AND EXISTS { (p)-[:CERTIFIED_BY]->(:Certification) }
  AND EXISTS { (p)-[:LIVES_AT]->(:Address)<-[:LIVES_AT]-(:Person) }
WITH p, COUNT { (p)--() } AS degree
WHERE 8 <= degree <= 40
RETURN p.person_id AS person_id
ORDER BY degree DESC, person_id
LIMIT 1
"""


#: Parameters a graph view draws something with: the picked person, their name, one of
#: their housemates, rings of two persons or more.
VIEW_PARAMS = """
MATCH (p:Person {person_id: $person_id})
OPTIONAL MATCH (p)-[:LIVES_AT]->(:Address)<-[:LIVES_AT]-(o:Person)
WITH p, o ORDER BY o.person_id LIMIT 1
RETURN p.person_id AS person_id, p.name AS text, o.person_id AS other_id, 2 AS min_persons
"""


def chromium_executable() -> str:
    """Debian's Chromium; without it the test fails and says how to install it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            f"Chromium is not installed, and the Browser test drives it.\n  {INSTALL_CHROMIUM}",
            pytrace=False,
        )
    return path


# ---------------------------------------------------------------------------- fixtures


#: The as-of date of the city the fixture loads (12 months from 2026-01-01).
CITY_LAST_DAY = dt.date(2026, 12, 31)


@dataclass(frozen=True)
class City:
    """The small city of the module, built once: its graph (persons whole) and the settings
    it is loaded with."""

    graph: GraphTables
    settings: Settings

    def load(self, audience: str = "investigator") -> None:
        """Replace the server's graph with this city's, for ``audience``, through the store's
        batched upserts (``bulk="cypher"``), which need no server restart."""
        settings = self.settings.model_copy(update={"neo4j_audience": audience})
        for attempt in range(3):  # StoreUnavailable means: retry later (e.g. a restart is on)
            wait_for_bolt(settings)
            store = Neo4jStore.from_settings(settings, bulk="cypher")
            try:
                store.load(self.graph)
                return
            except StoreUnavailable:
                if attempt == 2:
                    raise
                time.sleep(5)
            finally:
                store.close()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """A small city through the pipeline: linkage, certification and recognition."""
    tmp = tmp_path_factory.mktemp("browser-city")
    # planted irregularities three hundred times the calibrated rate: a city this small
    # then holds a duplicate claim and an exclusive conflict for their views to draw
    generate_city(tmp / "city", persons=300, months=12, seed=1, fraud=300)
    settings = get_settings().model_copy(update={"backend": "neo4j", "data_dir": tmp / "data"})
    tables = run_city(tmp / "city", settings=settings, load_store=False).tables
    graph = build_graph(
        Catalogue(settings.catalogue_dir),
        tables["persons"],
        tables["records"],
        tables["resolution"],
        tables["enrollments"],
        tables["events"],
        certifications=tables["certifications"],
        enrollment_status=tables["recognitions"],  # the core's answer, as the pipeline writes it
        flags=tables["flags"],
        tasks=tables["tasks"],
    )
    return City(graph, settings)


@pytest.fixture(scope="module")
def person_id(neo4j_server: Any, city: City) -> str:
    """Load the city into the project's Neo4j, for investigators; return a well-linked
    person's id."""
    city.load()
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        records = driver.execute_query(PICK_PERSON).records
    assert records, "the loaded city has no enrolled, certified person with a phone"
    return str(records[0]["person_id"])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[browser.GuideServer]:
    """The guide, style and favourites, served on localhost (a free port) while tests run."""
    directory = tmp_path_factory.mktemp("browser-bundle")
    with browser.GuideServer(directory, port=0) as server:
        browser.write_bundle(directory, port=server.port)
        yield server


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    """A Browser tab in headless Chromium with a fresh profile."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "the playwright package is missing: .venv/bin/pip install -e '.[dev]'", pytrace=False
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        context.set_default_timeout(TIMEOUT_MS)
        tab = context.pages[0] if context.pages else context.new_page()
        try:
            yield tab
        finally:
            context.close()


# ----------------------------------------------------------------------------- helpers


def connect(page: Page, neo4j: Any) -> None:
    """Open the Browser the server ships and fill its connect form."""
    page.goto(neo4j.browser_url)
    page.wait_for_selector('[data-testid="boltaddress"]')
    scheme, address = neo4j.uri.split("://", 1)
    page.select_option('[data-testid="bolt-scheme-select"]', f"{scheme}://")
    page.fill('[data-testid="boltaddress"]', address)
    page.fill('[data-testid="username"]', neo4j.user)
    page.fill('[data-testid="password"]', neo4j.password)
    page.click('[data-testid="connect"]')
    page.wait_for_selector("text=You are connected as user")


def run_in_editor(page: Page, command: str) -> None:
    """Type one command into the Browser's editor and run it."""
    page.locator('[data-testid="activeEditor"]').first.click()
    page.keyboard.insert_text(command)
    page.keyboard.press("Enter")


def frame_for(page: Page, command_start: str) -> Locator:
    """The newest result frame whose command starts with ``command_start``."""
    frame = (
        page.locator('[data-testid="frame"]')
        .filter(has=page.locator('[data-testid="frameCommand"]', has_text=command_start))
        .first
    )
    frame.wait_for()
    return frame


def click_run(block: Locator) -> None:
    """Run a guide's code block: the Browser puts a play icon in front of each."""
    block.locator("i.fa-play-circle-o").first.click()


def distinct_nodes(neo4j: Any, cypher: str, params: dict[str, Any]) -> int:
    """How many distinct nodes a statement returns (as nodes, or inside paths and lists)."""
    seen: set[str] = set()

    def walk(value: Any) -> None:
        if hasattr(value, "element_id") and hasattr(value, "labels"):
            seen.add(value.element_id)
        elif hasattr(value, "nodes"):
            for node in value.nodes:
                seen.add(node.element_id)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    with GraphDatabase.driver(neo4j.uri, auth=neo4j.auth) as driver:
        for record in driver.execute_query(cypher, params).records:
            for value in record.values():
                walk(value)
    return len(seen)


# ------------------------------------------------------------------------------- tests


def test_guide_runs_person_360_and_draws_it_in_the_linkgraph_style(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, person_id: str
) -> None:
    queries = browser.library()
    connect(page, neo4j_server)
    run_in_editor(page, f":guide {bundle.url}/{browser.GUIDE_FILE}")

    drawer = page.locator('[data-testid="guidesDrawer"]')
    drawer.get_by_text("linkgraph investigations").first.wait_for()
    assert drawer.get_by_text("the investigators' query library").count() == 1

    # Slide 1: apply the style from the guide's link.
    drawer.locator('a[data-exec^="style "]').first.click()
    style_frame = frame_for(page, ":style")
    style_frame.get_by_text("node.Person").first.wait_for()

    # Slide 2: person_360. Type the id into the box; the :param command follows it.
    page.click('[data-testid="guideNextSlide"]')
    drawer.get_by_text(f"1/{len(queries)} · person_360").wait_for()
    box = drawer.locator('input[value-for="lg-person_id"]')
    box.click()
    box.press_sequentially(person_id)
    param_block = drawer.locator("pre.runnable", has=page.locator('[value-key="lg-person_id"]'))
    assert param_block.inner_text().strip().endswith(f"'{person_id}'")
    click_run(param_block)
    frame_for(page, f":param person_id => '{person_id}'")

    # The library query itself: a table, one row per linked node.
    blocks = drawer.locator("pre.runnable")
    person_360 = next(q for q in queries if q.name == "person_360")
    click_run(blocks.nth(1))
    table = frame_for(page, person_360.cypher.split("\n")[0])
    table.locator('[data-testid="frameContents"]').get_by_text(f'"{person_id}"').first.wait_for()
    for kind in ("person", "enrollment", "certification", "phone"):
        assert table.get_by_text(f'"{kind}"').count() >= 1, kind

    # Its graph view: the Browser draws every node the statement returns, styled.
    assert person_360.graph is not None
    click_run(blocks.nth(2))
    graph = frame_for(page, person_360.graph.split("\n")[1])
    nodes = graph.locator("svg g.node")
    nodes.first.wait_for()
    expected = distinct_nodes(neo4j_server, person_360.graph, {"person_id": person_id})
    page.wait_for_function(
        "([el, n]) => el.querySelectorAll('svg g.node').length >= n",
        arg=[graph.element_handle(), expected],
    )
    assert nodes.count() == expected >= 8
    fills = set(
        graph.locator("svg g.node circle").evaluate_all(
            "cs => cs.map(c => (c.getAttribute('fill') || '').toUpperCase())"
        )
    )
    style = browser.read_style()
    for label in ("Person", "Enrollment", "EvidenceEvent", "Certification", "Phone"):
        assert style[f"node.{label}"]["color"].upper() in fills, label

    # Keep what it looks like: the guide beside the result, then the graph frame fullscreen
    # without the overview pane.
    page.screenshot(path=str(ARTIFACTS / "person_360_with_guide.png"))
    page.click('[data-testid="navigationGuides"]')
    graph.locator('button[title="Fullscreen"]').click()
    graph.locator('[title="Collapse the node properties display"]').click()
    graph.locator('[aria-label="zoom-to-fit"]').click()
    page.wait_for_timeout(1_500)
    page.screenshot(path=str(ARTIFACTS / "person_360_graph.png"))


def go_to_slide(page: Page, drawer: Locator, title: str) -> None:
    """Click the guide's next-slide button until the slide titled ``title`` shows."""
    for _ in range(len(browser.ORDER) + 2):
        if drawer.get_by_text(title).count():
            return
        page.click('[data-testid="guideNextSlide"]')
        page.wait_for_timeout(200)
    drawer.get_by_text(title).wait_for()


def cell(page: Page, command: str, text: str) -> None:
    """Run ``command`` in the editor and wait for ``text`` in its result frame."""
    run_in_editor(page, command)
    frame = frame_for(page, command.split("\n")[0])
    frame.locator('[data-testid="frameContents"]').get_by_text(text).first.wait_for()


def test_guide_starts_from_the_data_and_keeps_parameter_types(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, person_id: str
) -> None:
    """Issue 13: the first slide says what the graph holds and sets $person_id, $other_id and
    $text from a flagged person of the data; each slide's "set the example values" gives
    $since a DATE (no_trace listed every grid when it was a STRING) and $limit an INTEGER,
    and keeps what was set before."""
    queries = browser.library()
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        body = browser.FLAGGED_PERSON_COMMAND.split("=>", 1)[1].strip()[1:-1]
        flagged = driver.execute_query(body).records[0].data()
        persons = driver.execute_query("MATCH (p:Person) RETURN count(p) AS n").records[0]["n"]
    assert flagged["person_id"] and flagged["other_id"] and flagged["text"]

    connect(page, neo4j_server)
    run_in_editor(page, f":guide {bundle.url}/{browser.GUIDE_FILE}")
    drawer = page.locator('[data-testid="guidesDrawer"]')
    drawer.get_by_text("Start with a flagged person").first.wait_for()

    # What the data holds: one row per label, from the count store.
    counts = drawer.locator("pre.runnable", has_text="UNION ALL")
    click_run(counts)
    frame = frame_for(page, "MATCH (n:Person) RETURN 'Person' AS label")
    frame.locator('[data-testid="frameContents"]').get_by_text('"Task"').first.wait_for()
    assert frame.get_by_text(str(persons), exact=True).count() >= 1

    # Start with a flagged person: read from the data, typed, set in one click.
    click_run(drawer.locator("pre.runnable", has_text=":param [{person_id, other_id, text}]"))
    frame_for(page, ":param [{person_id, other_id, text}]")
    pid = flagged["person_id"]
    cell(page, "RETURN $person_id + ' ' + valueType($person_id) AS p", f'"{pid} STRING NOT NULL"')
    cell(page, "RETURN $other_id + '/' + $text AS o", f'"{flagged["other_id"]}/{flagged["text"]}"')

    # Example values: integers stay integers, dates dates; the person set above stays.
    total = len(queries)
    for name, checks in (
        ("collusion_rings", {"min_persons": "INTEGER", "limit": "INTEGER"}),
        ("no_trace", {"since": "DATE", "until": "DATE"}),
    ):
        number = next(i for i, q in enumerate(queries, 1) if q.name == name)
        go_to_slide(page, drawer, f"{number}/{total} · {name}")
        drawer.locator("a[data-exec]", has_text="set the example values").click()
        frame_for(page, ":param [{" + ", ".join(checks))
        kinds = " + ' ' + ".join(f"valueType(${p})" for p in checks)
        cell(page, f"RETURN {kinds} AS kinds", " ".join(f"{t} NOT NULL" for t in checks.values()))
    cell(page, "RETURN 'still ' + $person_id AS p", f'"still {flagged["person_id"]}"')
    page.screenshot(path=str(ARTIFACTS / "guide_typed_params.png"))


def test_style_captions_an_enrolment_by_its_status_and_a_dead_person_by_the_date(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, person_id: str
) -> None:
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        dead = driver.execute_query(
            "MATCH (p:Person) WHERE p.death_date IS NOT NULL "
            "RETURN p.person_id AS id, toString(p.death_date) AS died ORDER BY id LIMIT 1"
        ).records
        alive = driver.execute_query(
            "MATCH (p:Person) WHERE p.death_date IS NULL RETURN p.person_id AS id "
            "ORDER BY id LIMIT 1"
        ).records[0]["id"]
        enrolled = driver.execute_query(
            "MATCH (e:Enrollment)-[:OF]->(i:BenefitItem) "
            "RETURN e.enrollment_id AS id, e.status AS status, i.code AS code "
            "ORDER BY id LIMIT 1"
        ).records[0]
    assert dead, "the test city has no person with a death date"
    connect(page, neo4j_server)
    run_in_editor(page, f":style {bundle.url}/style.grass")
    frame_for(page, ":style").get_by_text("node.Person").first.wait_for()

    def captions(command: str) -> list[str]:
        run_in_editor(page, command)
        graph = frame_for(page, command)
        graph.locator("svg g.node").first.wait_for()
        page.wait_for_timeout(1_000)
        texts = graph.locator("svg g.node").evaluate_all(
            "gs => gs.map(g => Array.from(g.querySelectorAll('text'))"
            ".map(t => t.textContent).join(' '))"
        )
        return [" ".join(str(t).split()) for t in texts]

    died = captions(
        f"MATCH (p:Person) WHERE p.person_id IN ['{dead[0]['id']}', '{alive}'] RETURN p"
    )
    assert len(died) == 2 and sum(dead[0]["died"] in c for c in died) == 1, died
    pair = captions(
        f"MATCH path = (:Enrollment {{enrollment_id: '{enrolled['id']}'}})-[:OF]->() RETURN path"
    )
    # the enrolment and its item no longer read alike: "pay OAA" beside "OAA"
    assert sorted(pair) == sorted([enrolled["code"], f"{enrolled['status']} {enrolled['code']}"])
    page.screenshot(path=str(ARTIFACTS / "style_captions.png"))


@pytest.mark.parametrize("name", sorted(browser.GRAPH_VIEWS))
def test_every_graph_view_draws_something(name: str, neo4j_server: Any, person_id: str) -> None:
    """Each guide slide's graph view runs on the loaded city and returns nodes to draw: no
    more than the Browser draws (300)."""
    query = next(q for q in browser.library() if q.name == name)
    assert query.graph is not None
    spec = QUERIES[name]
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        given = driver.execute_query(VIEW_PARAMS, person_id=person_id).records[0].data()
    given = {k: v for k, v in given.items() if k in spec.params}
    params = spec.bind(given, as_of=CITY_LAST_DAY)
    assert 0 < distinct_nodes(neo4j_server, query.graph, params) <= 300


def test_favourites_zip_drops_into_the_favorites_drawer(page: Page, neo4j_server: Any) -> None:
    queries = browser.library()
    connect(page, neo4j_server)
    payload = base64.b64encode(browser.favourites_zip(queries)).decode()
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, {type: 'application/zip'}));
            const target = document.querySelector('.filedrop');
            for (const kind of ['dragenter', 'dragover', 'drop']) {
              target.dispatchEvent(new DragEvent(kind, {dataTransfer: data, bubbles: true,
                                                        cancelable: true}));
            }
        }""",
        [browser.FAVOURITES_FILE, payload],
    )
    page.locator('[data-testid="navigationFavorites"]').click()
    folder = page.locator(f'[data-testid="savedScriptsFolder-{browser.FAVOURITES_FOLDER}"]')
    folder.wait_for()
    folder.get_by_text(browser.FAVOURITES_FOLDER).first.click()  # expand
    for q in queries:
        folder.get_by_text(q.name, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "favourites.png"))


#: What the Browser says above its frames while it may send usage data.
USAGE_BANNER = "To help make Neo4j Browser better we collect information on product usage"


def test_the_browser_shows_no_usage_banner_and_reaches_no_outside_host(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer
) -> None:
    """Issue 13: connected, the Browser showed a usage-data banner and, on Community edition
    (which ignores browser.allow_outgoing_connections), loaded Segment's and Canny's scripts.
    The server now sends client.allow_telemetry=false and a loopback-only Content-Security-
    Policy; the guide and style, on localhost, still load. Requests to any other host are
    recorded and aborted here, so the test itself never reaches out."""
    outside: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in {
            "127.0.0.1",
            "localhost",
        }:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.context.route("**/*", only_loopback)
    connect(page, neo4j_server)
    run_in_editor(page, f":style {bundle.url}/style.grass")
    frame_for(page, ":style").get_by_text("node.Person").first.wait_for()
    run_in_editor(page, f":guide {bundle.url}/{browser.GUIDE_FILE}")
    drawer = page.locator('[data-testid="guidesDrawer"]')
    drawer.get_by_text("linkgraph investigations").first.wait_for()
    click_run(drawer.locator("pre.runnable", has_text="UNION ALL"))  # a read runs from the guide
    frame_for(page, "MATCH (n:Person) RETURN 'Person' AS label")
    page.wait_for_timeout(3_000)  # the outside scripts load once connected
    page.screenshot(path=str(ARTIFACTS / "no_banner.png"))
    csp = httpx.get(neo4j_server.browser_url, timeout=10).headers.get("content-security-policy")
    seen = {"banner": page.get_by_text(USAGE_BANNER).count(), "outside": outside, "csp": csp}
    assert seen == {"banner": 0, "outside": [], "csp": BROWSER_CSP}


#: A library query that writes, for the guide's write block (a label no data has).
PROBE = """\
// lg_probe — marks the graph (a probe of the guide's write block).
//
// Does: writes one node.
// Returns: at
MERGE (x:LinkgraphProbe {at: 'guide'}) RETURN x.at AS at
"""


def test_one_click_never_runs_a_statement_that_writes(
    page: Page, neo4j_server: Any, tmp_path: Path
) -> None:
    """Issue 13: the Browser puts a run icon before every guide element it reads as a command,
    and the icon runs it: the "put it into the editor" link of a statement that writes had
    one. The link now only puts the statement into the editor; nothing is written."""
    library = tmp_path / "queries"
    library.mkdir()
    for source in browser.QUERY_DIR.glob("*.cypher"):
        (library / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (library / "lg_probe.cypher").write_text(PROBE, encoding="utf-8")
    queries = browser.library(library)
    number = next(i for i, q in enumerate(queries, 1) if q.name == "lg_probe")

    def probes() -> int:
        with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
            return int(
                driver.execute_query("MATCH (x:LinkgraphProbe) RETURN count(x) AS n").records[0][
                    "n"
                ]
            )

    directory = tmp_path / "bundle"
    try:
        with browser.GuideServer(directory, port=0) as server:
            browser.write_bundle(directory, port=server.port, query_dir=library)
            connect(page, neo4j_server)
            run_in_editor(page, f":guide {server.url}/{browser.GUIDE_FILE}")
            drawer = page.locator('[data-testid="guidesDrawer"]')
            drawer.get_by_text("linkgraph investigations").first.wait_for()
            go_to_slide(page, drawer, f"{number}/{len(queries)} · lg_probe (writes)")
            link = drawer.locator("a[data-populate]")
            link.wait_for()
            icons = link.locator("i.fa-play-circle-o").count()
            if icons:  # what an analyst would click: before, it ran the statement
                link.locator("i.fa-play-circle-o").first.click()
                page.wait_for_timeout(2_000)
            link.get_by_text("put it into the editor").click()
            editor = page.locator('[data-testid="activeEditor"]').first
            page.wait_for_function(
                "el => el.innerText.includes('LinkgraphProbe')", arg=editor.element_handle()
            )
            page.wait_for_timeout(1_000)
            page.screenshot(path=str(ARTIFACTS / "write_block.png"))
            assert probes() == 0
            assert icons == 0
            ran = page.locator('[data-testid="frameCommand"]', has_text="LinkgraphProbe")
            assert ran.count() == 0
    finally:
        with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
            driver.execute_query("MATCH (x:LinkgraphProbe) DETACH DELETE x")


def drawn(page: Page, command: str) -> tuple[Locator, list[dict[str, str]]]:
    """Run ``command``, wait for its graph; its frame and each node's fill and caption."""
    run_in_editor(page, command)
    graph = frame_for(page, command)
    graph.locator("svg g.node").first.wait_for()
    page.wait_for_timeout(1_500)  # the layout settles; captions are laid out with it
    nodes = graph.locator("svg g.node").evaluate_all(
        """gs => gs.map(g => {
            const fills = Array.from(g.querySelectorAll('circle')).map(
                c => (c.getAttribute('fill') || '').toUpperCase());
            return {
                fill: fills.find(f => f.startsWith('#')) || '',
                caption: Array.from(g.querySelectorAll('text')).map(t => t.textContent).join(' ')
            };
        })"""
    )
    for node in nodes:
        node["caption"] = " ".join(str(node["caption"]).split())
    return graph, nodes


def caption_of(nodes: list[dict[str, str]], label: str) -> list[str]:
    """The captions of the drawn nodes of ``label`` (told apart by the style's colour)."""
    color = browser.read_style()[f"node.{label}"]["color"].upper()
    return [n["caption"] for n in nodes if n["fill"] == color]


#: One node of each label whose caption carries a date, an amount or a number: a dead
#: person, a certification, an event, a flag with money at risk, a bank account, a phone,
#: a grid, a task.
CAPTIONED = """
MATCH (p:Person) WHERE p.death_date IS NOT NULL
WITH p ORDER BY p.person_id LIMIT 1
MATCH (c:Certification) WITH p, c ORDER BY c.cert_id LIMIT 1
MATCH (e:EvidenceEvent) WITH p, c, e ORDER BY size(e.channel) DESC, e.event_key LIMIT 1
MATCH (f:Flag) WHERE f.amount_at_risk >= 1000
WITH p, c, e, f ORDER BY size(f.kind) DESC, f.amount_at_risk DESC LIMIT 1
MATCH (a:BankAccount) WITH p, c, e, f, a ORDER BY size(a.number) DESC, a.number LIMIT 1
MATCH (n:Phone) WITH p, c, e, f, a, n ORDER BY n.number LIMIT 1
MATCH (g:Grid) WITH p, c, e, f, a, n, g ORDER BY g.code LIMIT 1
MATCH (t:Task) WHERE t.due_on IS NOT NULL WITH p, c, e, f, a, n, g, t ORDER BY t.task_id LIMIT 1
RETURN p, c, e, f, a, n, g, t
"""


def captioned(
    page: Page, neo4j: Any, bundle: browser.GuideServer, screenshot: str
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Draw :data:`CAPTIONED` in the linkgraph style: what each caption should read (the
    style's caption with the node's values) and what each reads, by label."""
    with GraphDatabase.driver(neo4j.uri, auth=neo4j.auth) as driver:
        row = driver.execute_query(CAPTIONED).records[0]
    p, c, e, f, a, n, g, t = (row[k] for k in ("p", "c", "e", "f", "a", "n", "g", "t"))
    expected = {
        "Person": f"{p['masked_name']} {p['death_date']}",
        "Certification": f"{c['status']} {c['valid_until']}",
        "EvidenceEvent": f"{e['channel']} {e['occurred_on']}",
        "Flag": f"{f['kind']} ¥{f['amount_at_risk']}",
        "BankAccount": a["number"],
        "Phone": n["number"],
        "Grid": f"{g['village_name']} {g['code']}",
        "Task": f"{t['kind']} {t['due_on']}",
    }
    connect(page, neo4j)
    run_in_editor(page, f":style {bundle.url}/style.grass")
    frame_for(page, ":style").get_by_text("node.Person").first.wait_for()
    graph, nodes = drawn(page, " ".join(CAPTIONED.split()))
    graph.locator('[aria-label="zoom-to-fit"]').click()
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(ARTIFACTS / screenshot))
    return expected, {label: caption_of(nodes, label) for label in expected}


def test_captions_show_amounts_and_numbers_whole(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, person_id: str
) -> None:
    """Issue 13: captions cut amounts and account numbers ("62170000…", "exclusive_con…"):
    the Browser fits a caption into its node's circle and ends it with "…" where it runs out.
    Each node whose caption carries a number is now big enough (or its text small enough)
    for the longest the data holds: the caption reads whole (quotes round a date aside)."""
    expected, shown = captioned(page, neo4j_server, bundle, "captions_whole.png")
    unquoted = {label: [c.replace('"', "") for c in cs] for label, cs in shown.items()}
    assert unquoted == {label: [text] for label, text in expected.items()}


def test_captions_show_dates_without_quotes(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, person_id: str
) -> None:
    """Issue 13: Neo4j Browser 5 writes a temporal property into a caption in quotes
    (its graph view's stringModifier: '"2026-06-14"') and GraSS cannot format it. The Neo4j
    store now writes each captioned date's text copy too, and the style captions it."""
    expected, shown = captioned(page, neo4j_server, bundle, "captions_dates.png")
    dated = ("Person", "Certification", "EvidenceEvent", "Task")
    assert {k: shown[k] for k in dated} == {k: [expected[k]] for k in dated}


def test_an_analysts_graph_shows_no_personal_data_in_the_property_panel(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, city: City, person_id: str
) -> None:
    """Issue 13: the property panel showed a person's full name, ID number and address (the
    masking was the captions' only). Loaded for analysts (``neo4j_audience="analyst"``), the
    graph holds only masked forms: a person opened in the panel, with their phone, account
    and address drawn beside them, shows no name, ID number, phone, account or address whole,
    in the panel, the captions or the table view. The city is loaded back for investigators
    after it, for the tests that follow."""
    graph = city.graph
    phones: dict[str, list[str]] = {}
    for r in graph.relationships["REACHABLE_AT"].to_pylist():
        phones.setdefault(r["start"], []).append(r["end"])
    held = {r["end"]: r["start"] for r in graph.relationships["HAS"].to_pylist()}
    accounts: dict[str, list[str]] = {}
    for r in graph.relationships["PAID_TO"].to_pylist():
        accounts.setdefault(held[r["start"]], []).append(r["end"])
    # the first person with everything to hide: a name of three characters or more (its
    # mask differs from it), an ID number, an address, a phone and an account
    person = next(
        p
        for p in sorted(graph.nodes["Person"].to_pylist(), key=lambda p: p["person_id"])
        if len(p["name"] or "") >= 3 and p["id_number"] and p["address"]
        and p["person_id"] in phones and p["person_id"] in accounts
    )  # fmt: skip
    pid = person["person_id"]
    whole = [person["name"], person["id_number"], person["address"], person["pinyin"]]
    whole += phones[pid] + accounts[pid]

    city.load("analyst")
    try:
        connect(page, neo4j_server)
        run_in_editor(page, f":style {bundle.url}/style.grass")
        frame_for(page, ":style").get_by_text("node.Person").first.wait_for()
        command = (
            f"MATCH (p:Person {{person_id: '{pid}'}}) "
            "OPTIONAL MATCH path = (p)-[:REACHABLE_AT|LIVES_AT|LIVES_IN|HAS|PAID_TO*1..2]->() "
            "RETURN p, collect(path) AS paths"
        )
        frame, nodes = drawn(page, command)
        person_color = browser.read_style()["node.Person"]["color"].upper()
        index = next(i for i, n in enumerate(nodes) if n["fill"] == person_color)
        frame.locator("svg g.node").nth(index).locator("circle.b-outline").click()
        panel = frame.locator('[data-testid="viz-details-pane-properties-table"]')
        panel.get_by_text(pid).first.wait_for()
        panel_text = panel.inner_text()
        page.screenshot(path=str(ARTIFACTS / "analyst_property_panel.png"))
        frame.locator('[data-testid="cypherFrameSidebarTable"]').click()
        page.wait_for_timeout(1_000)
        table_text = frame.inner_text()
        page.screenshot(path=str(ARTIFACTS / "analyst_table_view.png"))
        captions = " | ".join(n["caption"] for n in nodes)
        seen = {
            where: sorted(w for w in whole if w and w in text)
            for where, text in (("panel", panel_text), ("captions", captions),
                                ("table", table_text))
        }  # fmt: skip
        assert seen == {"panel": [], "captions": [], "table": []}
        # the pseudonyms of the phone, account and address read whole in their captions
        assert captions.count("#") >= 3 and "…" not in captions, captions
        # what the panel does show: the masked name and ID number, the grid, no address
        assert person["masked_name"] in panel_text
        assert f"{person['id_number'][:4]}**********{person['id_number'][-4:]}" in panel_text
        assert person["grid"] in panel_text
    finally:
        city.load()


def test_the_guides_first_step_finds_a_person_on_an_analysts_graph(
    page: Page, neo4j_server: Any, bundle: browser.GuideServer, city: City, person_id: str
) -> None:
    """Issue 13: on a graph loaded for analysts (names masked, no pinyin) the guide's first
    step set ``$text`` to a masked name, and find_person, run from its slide, found nobody.
    The first step now sets a text find_person reads on either graph: the flagged person it
    starts from is found. The city is loaded back for investigators after it."""
    queries = browser.library()
    find_person = next(q for q in queries if q.name == "find_person")
    number = queries.index(find_person) + 1
    city.load("analyst")
    try:
        with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
            body = browser.FLAGGED_PERSON_COMMAND.split("=>", 1)[1].strip()[1:-1]
            flagged = driver.execute_query(body).records[0].data()
        connect(page, neo4j_server)
        run_in_editor(page, f":guide {bundle.url}/{browser.GUIDE_FILE}")
        drawer = page.locator('[data-testid="guidesDrawer"]')
        drawer.get_by_text("Start with a flagged person").first.wait_for()
        click_run(drawer.locator("pre.runnable", has_text=":param [{person_id, other_id, text}]"))
        frame_for(page, ":param [{person_id, other_id, text}]")

        go_to_slide(page, drawer, f"{number}/{len(queries)} · find_person")
        click_run(drawer.locator("pre.runnable", has=page.locator('[value-key="lg-limit"]')))
        frame_for(page, ":param limit")
        click_run(drawer.locator("pre.runnable", has_text="p.person_id AS person_id, p.name"))
        frame = frame_for(page, find_person.cypher.split("\n")[0])
        contents = frame.locator('[data-testid="frameContents"]')
        contents.wait_for()
        page.wait_for_function(  # rows, or the Browser's word for none
            'el => /"P\\d|no records/.test(el.innerText)', arg=contents.element_handle()
        )
        page.screenshot(path=str(ARTIFACTS / "analyst_find_person.png"))
        assert f'"{flagged["person_id"]}"' in contents.inner_text(), flagged
    finally:
        city.load()


def test_the_guides_first_step_starts_from_a_person_with_an_id_number(neo4j_server: Any) -> None:
    """On a graph loaded for analysts the first step's ``$text`` is the ID number's last 4
    digits (the one search that graph answers), so a flagged person without an ID number
    gave a null ``$text`` and find_person nothing to look for. The step prefers flagged
    persons with one. Checked on two such persons made in a transaction rolled back after,
    the one without an ID number holding the most money at risk, names masked as there."""
    body = browser.FLAGGED_PERSON_COMMAND.split("=>", 1)[1].strip()[1:-1]
    masked = {"name": "王*英", "masked_name": "王*英"}
    with (
        GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver,
        driver.session() as session,
        session.begin_transaction() as tx,
    ):
        tx.run(
            """CREATE (ph:Phone {number: 'ZZ-first-step'})
            CREATE (f1:Flag {flag_id: 'ZZ-F1'})-[:CONCERNS]->
                   (a:Person {person_id: 'ZZ-A', money_at_risk: 10^15}),
                   (f2:Flag {flag_id: 'ZZ-F2'})-[:CONCERNS]->
                   (b:Person {person_id: 'ZZ-B', money_at_risk: 10^14,
                              id_number: '341602194903150123'}),
                   (c:Person {person_id: 'ZZ-C'}),
                   (a)-[:REACHABLE_AT]->(ph), (b)-[:REACHABLE_AT]->(ph),
                   (c)-[:REACHABLE_AT]->(ph)
            SET a += $masked, b += $masked, c += $masked""",
            masked=masked,
        ).consume()
        first = tx.run(body).single()
        tx.rollback()
    assert first is not None
    assert first["person_id"] == "ZZ-B" and first["text"] == "0123", first.data()
