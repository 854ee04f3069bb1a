"""The investigators' query library in the Neo4j Browser: a graph style, a guide, favourites.

Three things are made for the analysts who explore the graph in the Neo4j Browser:

* **the style** ``cypher/browser/style.grass`` (hand-written GraSS: one colour and caption per
  label); :func:`read_style` checks it parses the way the Browser parses it;
* **the guide** ``guide.html``: Browser guide slides (``<slide>`` elements, the HTML format
  Browser 5 reads for ``:guide <url>`` and ``:play <url>``) generated from
  ``cypher/queries/*.cypher`` — each query's header comments, its parameters as editable
  ``:param`` commands, the query itself and a graph view of the same question, all runnable
  with one click. The first slide counts the nodes per label and starts from a flagged person
  of the loaded data (:data:`FLAGGED_PERSON`): the guide is written before the data exists, so
  it proposes no id of its own. Parameters are set with ``:param [{a, b}] => { RETURN … }``,
  which the Browser evaluates as Cypher, so a date stays a DATE and an integer an INTEGER.
  Only statements that read are one click away (:func:`writes`): one that writes would be
  shown apart, labelled, and put into the editor for the analyst to run;
* **favourites** ``favourites.zip``: the library as Browser favourites, one ``.cypher`` file
  per query in a ``linkgraph`` folder — the format the Browser exports and imports (drop the
  zip on the Favorites drawer).

The Neo4j HTTP server serves the Browser but no other files, so :func:`write_bundle` writes all
three into one directory and :class:`GuideServer` serves it over HTTP on loopback, with the CORS
headers the Browser's cross-origin fetch needs (``linkgraph browser serve``). The Browser only
fetches guides and styles from hosts on ``browser.remote_content_hostname_whitelist`` (Neo4j
5.26's name for it), which the project's server sets to ``localhost`` alone, so the bundle is
addressed as ``http://localhost:<port>/``. Then, in the Browser (or on every connect, with
``LINKGRAPH_BROWSER_GUIDE_PORT`` set: :func:`post_connect_cmd`)::

    :style http://localhost:8474/style.grass
    :guide http://localhost:8474/guide.html

Graph views: the library queries return tables (that is what the CLI and the API want), and a
table draws no graph. Each read query therefore gets a companion in :data:`GRAPH_VIEWS` that
answers the same question with the same parameters but returns the nodes and paths, so the
Browser draws them with the style above.
"""

from __future__ import annotations

import html
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from linkgraph.config import REPO_ROOT
from linkgraph.errors import LinkgraphError

CYPHER_DIR = REPO_ROOT / "cypher"
QUERY_DIR = CYPHER_DIR / "queries"
STYLE_FILE = CYPHER_DIR / "browser" / "style.grass"

#: Port of ``linkgraph browser serve`` (Neo4j's HTTP is 7474, so 8474 is easy to remember).
DEFAULT_PORT = 8474
#: The host name the Browser is given: the one host on the server's remote-content allowlist.
GUIDE_HOST = "localhost"
#: What the bundle directory holds.
GUIDE_FILE, FAVOURITES_FILE = "guide.html", "favourites.zip"
#: The Browser favourites folder the library goes into.
FAVOURITES_FOLDER = "linkgraph"

#: The order an investigation walks the library in; queries not named here follow by name.
ORDER = (
    "person_360",
    "find_person",
    "person_timeline",
    "connection",
    "shared_identifiers",
    "collusion_rings",
    "duplicate_claims",
    "paid_after_death",
    "no_trace",
    "grid_workload",
    "certification_coverage",
    "certification_spread",
)

#: Per library query, a Cypher statement over the same parameters that returns what to draw:
#: a screenful (the Browser draws at most 300 nodes), the most money at risk or the largest
#: groups first, where the query's table lists every row.
GRAPH_VIEWS: dict[str, str] = {
    "person_360": """\
MATCH (p:Person {person_id: $person_id})
OPTIONAL MATCH near = (p)--()
OPTIONAL MATCH far = (p)-[:HAS]->(:Enrollment)-[:OF|PAID_TO]->()
RETURN p, collect(DISTINCT near) AS near, collect(DISTINCT far) AS far""",
    "shared_identifiers": """\
CALL () {
  MATCH (p:Person)-[:HAS]->(:Enrollment)-[:PAID_TO]->(x:BankAccount)
  RETURN x, collect(DISTINCT p) AS persons
  UNION ALL
  MATCH (p:Person)-[:REACHABLE_AT]->(x:Phone)
  RETURN x, collect(DISTINCT p) AS persons
}
WITH x, persons
WHERE size(persons) >= CASE WHEN $min_persons < 2 THEN 2 ELSE $min_persons END
WITH x, persons, reduce(s = 0, p IN persons | s + coalesce(p.money_at_risk, 0)) AS at_risk
ORDER BY at_risk DESC, size(persons) DESC, x.number LIMIT 20
UNWIND persons[..6] AS p
MATCH path = (p)-[:REACHABLE_AT|HAS]->()-[:PAID_TO*0..1]->(x)
RETURN path""",
    "duplicate_claims": """\
MATCH (p:Person) WHERE COUNT { (p)-[:HAS]->() } > 1
MATCH (p)-[:HAS]->(e:Enrollment)-[:OF]->(i:BenefitItem)
WITH p, i.code AS item, i.exclusive_group AS grp, collect(e) AS es
WITH p, collect({item: item, grp: grp, n: size(es)}) AS held
WHERE any(h IN held WHERE h.n > 1)
   OR any(g IN [h IN held WHERE h.grp IS NOT NULL | h.grp]
          WHERE size([h IN held WHERE h.grp = g]) > 1)
WITH p ORDER BY coalesce(p.money_at_risk, 0) DESC, p.person_id LIMIT 30
MATCH path = (p)-[:HAS]->(:Enrollment)-[:OF]->(:BenefitItem)
OPTIONAL MATCH flagged = (:Flag)-[:CONCERNS]->(p)
RETURN path, flagged""",
    "paid_after_death": """\
MATCH (p:Person)-[:HAS_EVIDENCE]->(v:EvidenceEvent)-[:FROM]->(c:Channel)
WHERE c.reports_death
WITH p, min(v.occurred_on) AS death_date
MATCH (p)-[:HAS]->(e:Enrollment)
WHERE (e.paid_until.year * 12 + e.paid_until.month)
      > (death_date.year * 12 + death_date.month)
WITH p, collect(e) AS paid_after
ORDER BY coalesce(p.money_at_risk, 0) DESC, p.person_id LIMIT 30
UNWIND paid_after AS e
MATCH paid = (p)-[:HAS]->(e)
MATCH death = (p)-[:HAS_EVIDENCE]->(v:EvidenceEvent)-[:FROM]->(c:Channel)
WHERE c.reports_death
RETURN paid, death""",
    "no_trace": """\
MATCH (p:Person)-[:LIVES_IN]->(g:Grid)
WHERE NOT EXISTS {
  MATCH (p)-[:HAS_EVIDENCE]->(v:EvidenceEvent)-[:FROM]->(c:Channel {polarity: 'positive'})
  WHERE v.occurred_on >= $since AND v.occurred_on <= $until
}
WITH g, p ORDER BY coalesce(p.money_at_risk, 0) DESC, p.person_id
WITH g, collect(p) AS untraced ORDER BY size(untraced) DESC, g.code LIMIT 25
UNWIND untraced[..5] AS p
MATCH path = (p)-[:LIVES_IN]->(g)
OPTIONAL MATCH task = (:Task)-[:FOR]->(p)
RETURN path, task""",
    "certification_coverage": """\
MATCH (d:Department)
OPTIONAL MATCH items = (d)-[:ADMINISTERS]->(:BenefitItem)
OPTIONAL MATCH feeds = (:Channel)-[:PROVIDED_BY]->(d)
RETURN d, collect(DISTINCT items) AS items, collect(DISTINCT feeds) AS feeds""",
    "certification_spread": """\
MATCH path = (c:Certification)<-[:CERTIFIED_BY]-(p:Person {person_id: $person_id})
             -[:HAS]->(e:Enrollment)
RETURN path""",
    "find_person": """\
WITH trim($text) AS text
WITH text, replace(toLower(text), ' ', '') AS letters, toUpper(text) AS digits
WITH text, letters, digits,
     CASE WHEN text =~ '[\\u3400-\\u9fff]{2,}' THEN 'name'
          WHEN digits =~ '[0-9]{3,17}[0-9X]' THEN 'id_number'
          WHEN letters =~ '[a-z]+' THEN 'pinyin' END AS match
WHERE match IS NOT NULL
CALL db.index.fulltext.queryNodes('person_search',
  CASE match WHEN 'name' THEN 'name:"' + text + '"'
             WHEN 'id_number' THEN 'id_number:*' + toLower(digits)
             ELSE 'pinyin:' + letters + '*' END) YIELD node AS p
WITH p, match, text, letters, digits
WHERE CASE match WHEN 'name' THEN p.name CONTAINS text
                 WHEN 'id_number' THEN p.id_number ENDS WITH digits
                 ELSE p.pinyin STARTS WITH letters END
WITH p ORDER BY p.person_id LIMIT $limit
OPTIONAL MATCH home = (p)-[:LIVES_IN]->(:Grid)
OPTIONAL MATCH flagged = (:Flag)-[:CONCERNS]->(p)
RETURN p, collect(DISTINCT home) AS homes, collect(DISTINCT flagged) AS flags""",
    "connection": """\
MATCH (a:Person {person_id: $person_id}), (b:Person {person_id: $other_id})
WHERE a <> b
MATCH path = allShortestPaths((a)-[:REACHABLE_AT|LIVES_AT|HAS|PAID_TO*..12]-(b))
WITH path
ORDER BY [n IN nodes(path) | coalesce(n.person_id, n.enrollment_id, n.number, n.address)]
LIMIT 1
RETURN path""",
    "collusion_rings": """\
MATCH (p:Person) WHERE p.ring_id IS NOT NULL
WITH p.ring_id AS ring_id, collect(p) AS members
WHERE size(members) >= $min_persons
CALL (members) {
  UNWIND members AS m
  MATCH (f:Flag)-[:CONCERNS]->(m)
  WHERE NOT coalesce(f.status, 'open') IN ['dismissed', 'recovered', 'written_off']
  WITH DISTINCT f
  RETURN sum(coalesce(f.amount_at_risk, 0) - coalesce(f.amount_recovered, 0)) AS money_at_risk
}
WITH ring_id, members ORDER BY money_at_risk DESC, size(members) DESC, ring_id LIMIT $limit
WITH collect(members) AS rings
// the first rings, up to 60 persons: with their accounts, enrolments and phones, a screenful
UNWIND [i IN range(0, size(rings) - 1)
        WHERE i = 0 OR reduce(n = 0, r IN rings[..i + 1] | n + size(r)) <= 60 | rings[i]] AS ring
UNWIND ring AS p
MATCH tie = (p)-[:REACHABLE_AT|HAS]->()-[:PAID_TO*0..1]->(x)
WHERE (x:Phone OR x:BankAccount) AND COUNT { (x)<-[:REACHABLE_AT|PAID_TO]-() } > 1
RETURN tie""",
    "person_timeline": """\
MATCH (p:Person {person_id: $person_id})
OPTIONAL MATCH paid = (p)-[:HAS]->(e:Enrollment)
WHERE e.enrolled_on <= $until AND e.paid_until >= $since
OPTIONAL MATCH seen = (p)-[:HAS_EVIDENCE]->(v:EvidenceEvent)
WHERE v.occurred_on >= $since AND v.occurred_on <= $until
OPTIONAL MATCH flagged = (f:Flag)-[:CONCERNS]->(p)
WHERE f.raised_on >= $since AND f.raised_on <= $until
OPTIONAL MATCH task = (t:Task)-[:FOR]->(p)
WHERE t.due_on >= $since AND t.due_on <= $until
OPTIONAL MATCH cert = (p)-[:CERTIFIED_BY]->(:Certification)
RETURN p, collect(DISTINCT paid) AS paid, collect(DISTINCT seen)[..100] AS seen,
       collect(DISTINCT flagged) AS flags, collect(DISTINCT task) AS tasks,
       collect(DISTINCT cert) AS certs""",
    "grid_workload": """\
MATCH (t:Task)-[:IN]->(g:Grid)
WHERE NOT coalesce(t.status, 'open') IN ['done', 'closed', 'cancelled'] AND t.due_on < $on
WITH g, collect(t) AS overdue ORDER BY size(overdue) DESC, g.code LIMIT 20
UNWIND overdue[..5] AS t
MATCH path = (g)<-[:IN]-(t)-[:FOR]->(:Person)
RETURN path""",
}


class BrowserError(LinkgraphError):
    """The style or a query file cannot be turned into Browser material."""


#: Cypher that changes a graph: a writing clause, a batched subquery, or a procedure call
#: (the one procedure the library calls, the full-text search, only reads).
WRITE_CLAUSES = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|FOREACH|LOAD\s+CSV|IN\s+(\d+\s+)?"
    r"(CONCURRENT\s+)?TRANSACTIONS)\b|\bCALL\s+(?!\(|\{|db\.index\.fulltext\.queryNodes\()",
    re.IGNORECASE,
)


def writes(statement: str) -> bool:
    """Whether a statement (or a ``:param`` lambda, which the Browser runs in a write
    transaction) may change the graph."""
    return WRITE_CLAUSES.search(statement) is not None


#: A flagged person of the loaded data — one tied to another person through a phone or an
#: address first, then one with an ID number (on a graph loaded for analysts, the only way
#: find_person finds anyone), then the most money at risk — with the smallest id of a person
#: so tied (``other_id``, null when there is none). Guide examples start from them: the
#: guide is written before any data exists, so an id it printed would be made up.
FLAGGED_PERSON = (
    "MATCH (:Flag)-[:CONCERNS]->(p:Person) WITH DISTINCT p "
    "OPTIONAL MATCH (p)-[:REACHABLE_AT|LIVES_AT]->()<-[:REACHABLE_AT|LIVES_AT]-(o:Person) "
    "WHERE o <> p "
    "WITH p, min(o.person_id) AS other_id "
    "ORDER BY other_id IS NULL, p.id_number IS NULL, coalesce(p.money_at_risk, 0) DESC, "
    "p.person_id LIMIT 1"
)
#: Parameters whose example comes from :data:`FLAGGED_PERSON`, and the expression giving it.
#: ``text`` is what ``find_person`` finds the person by: their name, unless the graph holds it
#: masked (loaded for analysts, where only an ID number's last 4 digits find anyone:
#: :func:`linkgraph.graph.queries.analyst_reading`), then those 4 digits.
FROM_DATA: dict[str, str] = {
    "person_id": "p.person_id",
    "other_id": "other_id",
    "text": "CASE WHEN p.name = p.masked_name THEN right(p.id_number, 4) ELSE p.name END",
}
#: What each such parameter's input box asks for: it starts empty, as the guide cannot know
#: the data (an id would be made up; a name finds nobody on a graph loaded for analysts).
DATA_HINTS: dict[str, str] = {
    "person_id": "an id of the loaded data",
    "other_id": "an id of the loaded data",
    "text": "a name, its pinyin, or an ID number's last digits",
}


def param_lambda(values: Iterable[tuple[str, str]], before: str = "") -> str:
    """One Browser command that sets several parameters, each with its Cypher type.

    ``:param [{a, b}] => { RETURN date('2026-01-01') AS a, 2 AS b }``: the Browser runs the
    braces as Cypher and keeps what the driver returns — a DATE stays a date, an INTEGER an
    integer — where ``:params {a: ..., b: ...}`` is parsed as JSON in the Browser (a date
    becomes a STRING, an integer a FLOAT) and replaces every parameter already set.
    """
    pairs = list(values)
    if not pairs:
        raise BrowserError("a :param command needs at least one parameter")
    keys = ", ".join(name for name, _ in pairs)
    returns = ", ".join(f"{expr} AS {name}" for name, expr in pairs)
    body = f"{before} RETURN {returns}" if before else f"RETURN {returns}"
    command = f":param [{{{keys}}}] => {{ {body} }}"
    if writes(command):
        raise BrowserError(f"a :param command would write: {command}")
    return command


#: The guide's first step: set $person_id, $other_id and $text from a flagged person.
FLAGGED_PERSON_COMMAND = param_lambda(FROM_DATA.items(), FLAGGED_PERSON)


# --------------------------------------------------------------------------- library


@dataclass(frozen=True, slots=True)
class GuideParam:
    """One ``:param`` line of a query header: ``:param on => date('2026-12-31')  doc``."""

    name: str
    literal: str  # Cypher: 'P000000001', 2, date('2026-12-31')
    required: bool
    doc: str

    @property
    def command(self) -> str:
        """The Browser command that sets the parameter to its example value."""
        return f":param {self.name} => {self.literal}"

    @property
    def parts(self) -> tuple[str, str, str]:
        """The literal split round its editable value: ``("date('", "2026-12-31", "')")``."""
        for prefix, suffix in (("date('", "')"), ("'", "'")):
            if self.literal.startswith(prefix) and self.literal.endswith(suffix):
                return prefix, self.literal[len(prefix) : -len(suffix)], suffix
        return "", self.literal, ""


@dataclass(frozen=True, slots=True)
class GuideQuery:
    """A library query as the guide shows it: its header, parsed, and its statement."""

    name: str
    summary: str
    sections: dict[str, list[str]]  # Answers / Does / Parameters / Returns / Example -> lines
    params: tuple[GuideParam, ...]
    cypher: str
    graph: str | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def param_commands(self) -> list[str]:
        return [p.command for p in self.params]

    @property
    def writes(self) -> bool:
        """Whether the statement changes the graph (the guide then never runs it for you)."""
        return writes(self.cypher)

    @property
    def example_command(self) -> str | None:
        """One command that sets every parameter to an example, each with its type: ids (and
        the text to search for) from a flagged person of the loaded data, the rest from the
        header's literals (``date('2026-07-01')`` a DATE, ``2`` an INTEGER)."""
        if not self.params:
            return None
        from_data = any(p.name in FROM_DATA for p in self.params)
        values = [(p.name, FROM_DATA.get(p.name, p.literal)) for p in self.params]
        return param_lambda(values, FLAGGED_PERSON if from_data else "")


_HEAD = re.compile(r"^(\w+)\s*[—-]+\s*(.*)$")
_SECTION = re.compile(r"^(Answers|Does|Parameters|Returns|Example):\s*(.*)$")
_PARAM = re.compile(r"^:param\s+(\w+)\s*=>\s*(date\('[^']*'\)|'[^']*'|-?\d+)\s*(.*)$")


def read_query(path: Path) -> GuideQuery:
    """Parse one ``cypher/queries/<name>.cypher``: header comments, then the statement."""
    text = path.read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.lstrip().startswith("//")]
    cypher = "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("//")
    ).strip()
    if not header or not cypher:
        raise BrowserError(f"{path.name}: needs a // header and a statement")
    body = [re.sub(r"^\s*//\s?", "", line).rstrip() for line in header]
    head = _HEAD.match(body[0].strip())
    if head is None:
        raise BrowserError(f"{path.name}: first line must read '<name> — <summary>'")
    name, summary = head.group(1), head.group(2).strip()
    sections: dict[str, list[str]] = {"": []}
    current = ""
    params: list[GuideParam] = []
    for line in body[1:]:
        if match := _SECTION.match(line):
            current = match.group(1)
            sections[current] = [match.group(2)] if match.group(2) else []
            continue
        sections.setdefault(current, []).append(line)
        if current == "Parameters" and (pm := _PARAM.match(line.strip())):
            pname, literal, rest = pm.group(1), pm.group(2).strip(), (pm.group(3) or "").strip()
            required = "(required)" in rest
            doc = rest.replace("(required)", "").strip()
            params.append(GuideParam(pname, literal, required, doc))
    for key in list(sections):
        while sections[key] and not sections[key][-1].strip():
            sections[key].pop()
        while sections[key] and not sections[key][0].strip():
            sections[key].pop(0)
    return GuideQuery(
        name=name,
        summary=summary,
        sections=sections,
        params=tuple(params),
        cypher=cypher,
        graph=GRAPH_VIEWS.get(name),
        path=path,
    )


def library(query_dir: Path = QUERY_DIR) -> list[GuideQuery]:
    """Every ``*.cypher`` of ``query_dir``, in investigation :data:`ORDER`."""
    files = sorted(query_dir.glob("*.cypher"))
    if not files:
        raise BrowserError(f"no *.cypher files in {query_dir}")
    rank = {name: i for i, name in enumerate(ORDER)}
    queries = [read_query(f) for f in files]
    return sorted(queries, key=lambda q: (rank.get(q.name, len(ORDER)), q.name))


# --------------------------------------------------------------------------- style


def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """Parse GraSS exactly as Neo4j Browser 5 does (``parseGrass``): selector -> properties.

    The Browser's parser knows no comments and splits each rule on ``;`` and each property on
    ``:``, so a value may hold neither; anything it would silently drop is an error here.
    """
    rules: dict[str, str] = {}
    in_quote = in_rule = nested = False
    key = body = ""
    for ch in text:
        literal = True
        if ch == "{":
            if in_quote:
                literal = False
            elif in_rule:
                nested = True
            else:
                in_rule = True
        elif ch == "}":
            if in_quote:
                literal = False
            elif nested:
                nested = False
            else:
                in_rule = False
                rules[key] = body
                key = body = ""
        elif ch in "'\"":
            in_quote = not in_quote
        else:
            literal = False
        if not literal:
            if in_rule:
                body += ch
            elif not ch.isspace():
                key += ch
    if key.strip() or in_rule:
        raise BrowserError(f"GraSS: text outside a rule or an unclosed rule: {key[:40]!r}")
    parsed: dict[str, dict[str, str]] = {}
    for selector, props in rules.items():
        if not re.fullmatch(r"(node|relationship)(\.[^.{}]+)*", selector):
            raise BrowserError(f"GraSS: {selector!r} is not a node or relationship selector")
        parsed[selector] = {}
        for decl in props.split(";"):
            if not decl.strip():
                continue
            parts = decl.split(":")
            if len(parts) != 2:
                raise BrowserError(f"GraSS {selector}: the Browser would drop {decl.strip()!r}")
            parsed[selector][parts[0].strip()] = parts[1].strip()
    return parsed


def read_style(path: Path = STYLE_FILE) -> dict[str, dict[str, str]]:
    """The project's Browser style, parsed (and so checked)."""
    return parse_grass(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- guide


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _runnable(code: str, caption: str | None = None) -> str:
    """A one-click block: never a statement that writes.

    The Browser (5.24, served by Neo4j 5.26) puts a play icon before it that runs the code
    (unless it starts with ``:auto``, which the icon only puts into the editor); a click on
    the code itself puts it into the editor. No markup makes a click on the code run Cypher.
    """
    if writes(code):
        raise BrowserError(f"a one-click block would write: {code.splitlines()[0]}")
    fig = f'<figure><pre class="code runnable">{_e(code)}</pre>'
    if caption:
        fig += f"<figcaption>{_e(caption)}</figcaption>"
    return fig + "</figure>"


def _exec_link(command: str, text: str) -> str:
    """A link that runs a Browser command when clicked (``data-exec``): never one that writes."""
    if writes(command):
        raise BrowserError(f"a one-click link would write: {command}")
    return f'<a data-exec="{_e(command.removeprefix(":"))}">{_e(text)}</a>'


def _write_block(code: str, caption: str) -> str:
    """A statement that writes, shown apart and labelled: not runnable with one click.

    The block is plain text; its only link puts the statement into the editor
    (``data-populate``: a click does not run it), and running it there is the confirmation.
    The Browser puts a play icon before every element a guide directive matches, this link
    included, and that icon runs the command: ``remove-play-icon`` is how a guide tells it not
    to (Browser 5's ``Directives``).
    """
    return (
        '<div class="lg-write" style="border: 2px solid #C0262F; padding: 0.5em;">'
        "<p><strong>&#9888; This statement WRITES to the graph.</strong> The guide does not "
        "run it. To run it: check the parameters, "
        f'<a class="remove-play-icon" data-populate="{_e(code)}">put it into the editor</a>, '
        "read it there and press Run yourself — that is the confirmation.</p>"
        f'<figure><pre class="code lg-write">{_e(code)}</pre>'
        f"<figcaption>{_e(caption)} (writes)</figcaption></figure></div>"
    )


def _param_block(param: GuideParam) -> str:
    """An input box whose value flows into a runnable ``:param`` command (Browser directives).

    A parameter only the data can give (:data:`DATA_HINTS`) gets no example value: the box
    starts empty and the slide's "from the data" command fills it in the Browser instead.
    """
    before, value, after = param.parts
    if param.name in DATA_HINTS:
        value = ""
    key = f"lg-{param.name}"
    required = " <em>(required)</em>" if param.required else ""
    hint = DATA_HINTS.get(param.name, value)
    return (
        f"<p><code>${_e(param.name)}</code>{required} — {_e(param.doc)}<br/>"
        f'<input value-for="{key}" class="form-control" placeholder="{_e(hint)}"/></p>'
        f'<figure><pre class="code runnable">:param {_e(param.name)} =&gt; {_e(before)}'
        f'<span value-key="{key}">{_e(value)}</span>{_e(after)}</pre></figure>'
    )


def _section_text(lines: list[str]) -> str:
    """Header prose: the first line as a paragraph, indented detail as preformatted text."""
    if not lines:
        return ""
    first, rest = lines[0].strip(), lines[1:]
    out = f"<p>{_e(first)}</p>" if first else ""
    if rest:
        width = min((len(x) - len(x.lstrip()) for x in rest if x.strip()), default=0)
        out += "<pre>" + _e("\n".join(x[width:] for x in rest)) + "</pre>"
    return out


def _query_slide(q: GuideQuery, number: int, total: int) -> str:
    answers = q.sections.get("Answers") or q.sections.get("Does") or []
    parts = [
        f"<h3>{number}/{total} · {_e(q.name)}{' (writes)' if q.writes else ''}</h3>",
        f'<p class="lead">{_e(q.summary)}</p>',
        _section_text(answers),
        _section_text(q.sections.get("", [])),
    ]
    if q.example_command:
        parts.append("<h4>1 · Set the parameters</h4>")
        if any(p.name in FROM_DATA for p in q.params):
            parts.append(
                "<p>The first slide's <em>start with a flagged person</em> step has set "
                + ", ".join(f"<code>${p.name}</code>" for p in q.params if p.name in FROM_DATA)
                + " from the loaded data. Or set them here:</p>"
            )
        parts.extend(_param_block(p) for p in q.params)
        data = [p.name for p in q.params if p.name in FROM_DATA]
        whence = " (" + ", ".join(f"${n}" for n in data) + " from a flagged person)" if data else ""
        parts.append(
            "<p>Or all at once, dates as dates and numbers as integers"
            + _e(whence)
            + ": "
            + _exec_link(q.example_command, "set the example values")
            + ".</p>"
        )
    else:
        parts.append("<p>No parameters.</p>")
    step = 2 if q.params else 1
    caption = f"cypher/queries/{q.name}.cypher"
    if q.writes:
        parts.append(f"<h4>{step} · Run the statement — it writes, confirm first</h4>")
        parts.append(_write_block(q.cypher, caption))
    else:
        parts.append(f"<h4>{step} · Run the query</h4>")
        parts.append(_runnable(q.cypher, caption))
    returns = q.sections.get("Returns") or [""]
    parts.append(_section_text([f"Returns: {returns[0]}", *returns[1:]]))
    if q.graph:
        parts.append(f"<h4>{step + 1} · See it as a graph</h4>")
        parts.append(
            _runnable(q.graph, "the same question as nodes and paths, so the Browser draws it")
        )
    if example := q.sections.get("Example"):
        parts.append(f"<p>From a shell: <code>{_e(example[0])}</code></p>")
    return "<slide>\n" + "\n".join(p for p in parts if p) + "\n</slide>"


def label_counts(labels: Iterable[str] | None = None) -> str:
    """How many nodes the graph holds per label: one row per label, from the count store."""
    if labels is None:
        from linkgraph.graph import load_schema

        labels = list(load_schema().nodes)
    return "\nUNION ALL\n".join(
        f"MATCH (n:{label}) RETURN '{label}' AS label, count(n) AS nodes" for label in labels
    )


#: A flagged person and what they are flagged for, drawn.
FLAGGED_PERSON_VIEW = """\
MATCH (p:Person {person_id: $person_id})
OPTIONAL MATCH flagged = (:Flag)-[:CONCERNS]->(p)
OPTIONAL MATCH tie = (p)-[:REACHABLE_AT|LIVES_AT]->()
                     <-[:REACHABLE_AT|LIVES_AT]-(:Person {person_id: $other_id})
RETURN p, collect(DISTINCT flagged) AS flags, collect(DISTINCT tie) AS ties"""


def render_guide(queries: Iterable[GuideQuery], base_url: str) -> str:
    """The guide: an intro slide, one slide per query, and a slide on the style and favourites."""
    queries = list(queries)
    style_url, fav = f"{base_url}/style.grass", f"{base_url}/{FAVOURITES_FILE}"
    contents = "".join(f"<li><code>{_e(q.name)}</code> — {_e(q.summary)}</li>" for q in queries)
    intro = f"""<slide>
<h3>linkgraph · the investigators' query library</h3>
<p class="lead">One person, many departments: walk the linked graph of beneficiaries, benefit
items, departments and evidence of life.</p>
<p>First apply the linkgraph style (colours and captions per label):
{_exec_link(f":style {style_url}", f":style {style_url}")}</p>
<h4>What the data holds</h4>
<p>A <code>Person</code> is one resolved individual; each department's roster line is a
<code>SourceRecord</code> that <code>RESOLVES_TO</code> them, and each benefit they are paid
is an <code>Enrollment</code> <code>OF</code> a <code>BenefitItem</code>.
A <code>Flag</code> is a suspicion the monthly run raised — a duplicate claim, a payment after
death, an account shared by several persons — with the money at risk and a workflow status;
it <code>CONCERNS</code> persons and sits <code>ON</code> enrolments.
A <code>Task</code> is a door-to-door check a grid worker must make <code>FOR</code> a person
<code>IN</code> a grid, by its due date (a person with no recent evidence of life).
How many of each the loaded graph holds:</p>
{_runnable(label_counts(), "nodes per label")}
<h4>Start with a flagged person</h4>
<p>The examples come from the data, not from this page: this reads a flagged person (one tied
to another person through a phone or an address, most money at risk first) and sets
<code>$person_id</code>, <code>$other_id</code> (the person they are tied to) and
<code>$text</code> (what <code>find_person</code> finds them by: their name, or on a graph
loaded for analysts, whose names are masked, the last 4 digits of their ID number). It only
reads.</p>
{_runnable(FLAGGED_PERSON_COMMAND, "sets $person_id, $other_id, $text from the loaded data")}
{_runnable(FLAGGED_PERSON_VIEW, "that person, their flags and the tie")}
<p>Each of the next slides is one query of <code>cypher/queries/</code>: set its parameters
(type into the box, then click the command, or set the example values: dates stay dates,
numbers integers), run it (click the &#9654; icon, or click the code to copy it into the
editor), then draw the same question as a graph. Only queries that read run with one
click.</p>
<ol>{contents}</ol>
</slide>"""
    slides = [_query_slide(q, i, len(queries)) for i, q in enumerate(queries, 1)]
    outro = f"""<slide>
<h3>Style and favourites</h3>
<p>Colours and captions come from <code>cypher/browser/style.grass</code>:
{_exec_link(f":style {style_url}", "apply it again")}, or
{_exec_link(":style reset", "reset to the Browser's default")}. Dropping
<a href="{_e(style_url)}">style.grass</a> on the Browser window applies it too.
An enrolment is captioned by its status and item (<code>pay DB01</code>), a benefit item by
its code; a person with a reported death shows the death date under their name.</p>
<p>The library as Browser favourites: download <a href="{_e(fav)}">{FAVOURITES_FILE}</a> and
drop it on the Favorites drawer (&#9733;) — a <code>{FAVOURITES_FOLDER}</code> folder with one
script per query that reads, parameters first (a favourite runs with one click, so a
statement that writes gets none).</p>
<p>Regenerate this guide with <code>linkgraph browser guide</code>; serve it with
<code>linkgraph browser serve</code>.</p>
</slide>"""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"/>'
        "<title>linkgraph investigations</title></head><body>\n"
        '<article class="guide">\n<carousel class="deck container-fluid">\n'
        + "\n".join([intro, *slides, outro])
        + "\n</carousel>\n</article>\n</body></html>\n"
    )


# --------------------------------------------------------------------------- favourites


def favourite_script(q: GuideQuery) -> str:
    """One favourite: ``// name`` (the Browser's title line), the summary, params, the query."""
    lines = [f"// {q.name}", f"// {q.summary}"]
    if q.example_command:
        lines.append("// Set first, all at once (from a flagged person of the loaded data):")
        lines.append(f"//   {q.example_command}")
        lines.append("// or one at a time:")
        for param in q.params:
            if param.name in DATA_HINTS:
                lines.append(f"//   :param {param.name} => '...'   ({DATA_HINTS[param.name]})")
            else:
                lines.append(f"//   {param.command}")
    return "\n".join([*lines, q.cypher]) + "\n"


def _favourites(queries: Iterable[GuideQuery]) -> list[GuideQuery]:
    """The queries that become favourites: those that only read (the drawer runs a favourite
    with one click, so a statement that writes has no place there)."""
    return [q for q in queries if not q.writes]


def favourites_zip(queries: Iterable[GuideQuery]) -> bytes:
    """The library as the Browser's own favourites export: ``<folder>/<name>.cypher`` in a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for q in _favourites(queries):
            zf.writestr(f"{FAVOURITES_FOLDER}/{q.name}.cypher", favourite_script(q))
            if q.graph:
                zf.writestr(
                    f"{FAVOURITES_FOLDER}/{q.name}_graph.cypher",
                    f"// {q.name} (graph)\n// {q.summary}\n{q.graph}\n",
                )
    return buf.getvalue()


def favourites_local_storage(queries: Iterable[GuideQuery]) -> dict[str, str]:
    """The Browser's localStorage entries (``neo4j.documents``/``neo4j.folders``) for the library.

    What the Favorites drawer holds after the zip is imported; handy to pre-seed a Browser
    profile (the end-to-end test does).
    """
    docs: list[dict[str, Any]] = []
    for q in _favourites(queries):
        docs.append(
            {"id": f"linkgraph-{q.name}", "folder": "linkgraph", "content": favourite_script(q)}
        )
        if q.graph:
            docs.append(
                {
                    "id": f"linkgraph-{q.name}-graph",
                    "folder": "linkgraph",
                    "content": f"// {q.name} (graph)\n{q.graph}\n",
                }
            )
    folders = [{"id": "linkgraph", "name": FAVOURITES_FOLDER, "expanded": True}]
    return {"neo4j.documents": json.dumps(docs), "neo4j.folders": json.dumps(folders)}


# --------------------------------------------------------------------------- bundle + serving


def base_url(port: int = DEFAULT_PORT) -> str:
    """Where the Browser finds the bundle: ``localhost`` is on the server's allowlist."""
    return f"http://{GUIDE_HOST}:{port}"


def write_bundle(out: Path, *, port: int = DEFAULT_PORT, query_dir: Path = QUERY_DIR) -> Path:
    """Write ``guide.html``, ``style.grass`` and ``favourites.zip`` into ``out``; return ``out``."""
    queries = library(query_dir)
    style = STYLE_FILE.read_text(encoding="utf-8")
    parse_grass(style)
    out.mkdir(parents=True, exist_ok=True)
    (out / GUIDE_FILE).write_text(render_guide(queries, base_url(port)), encoding="utf-8")
    (out / "style.grass").write_text(style, encoding="utf-8")
    (out / FAVOURITES_FILE).write_bytes(favourites_zip(queries))
    return out


def browser_commands(port: int = DEFAULT_PORT) -> list[str]:
    """The two Browser commands that apply the style and open the guide."""
    url = base_url(port)
    return [f":style {url}/style.grass", f":guide {url}/{GUIDE_FILE}"]


def post_connect_cmd(port: int = DEFAULT_PORT) -> str:
    """``browser.post_connect_cmd``: apply the style and open the guide on every connect.

    The Browser splits the setting on ``;`` and puts a colon before each command. The project's
    conf writer sets it when ``LINKGRAPH_BROWSER_GUIDE_PORT`` is set
    (:func:`linkgraph.neo4j_server.server.browser_settings`).
    """
    return "; ".join(cmd.removeprefix(":") for cmd in browser_commands(port))


class _CorsHandler(SimpleHTTPRequestHandler):
    """Static files with the CORS headers the Browser's cross-origin fetch needs."""

    extensions_map = {  # noqa: RUF012 - the base class declares it a plain dict
        **SimpleHTTPRequestHandler.extensions_map,
        ".grass": "text/plain; charset=utf-8",
        ".cypher": "text/plain; charset=utf-8",
        ".html": "text/html; charset=utf-8",
    }

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        # The Browser sends Pragma/Cache-Control request headers, so it preflights.
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        requested = self.headers.get("Access-Control-Request-Headers")
        self.send_header("Access-Control-Allow-Headers", requested or "*")
        self.send_header("Access-Control-Max-Age", "600")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GuideServer:
    """Serve a bundle directory on ``127.0.0.1:port`` from a background thread.

    ``with GuideServer(directory, port=0) as server: server.url`` — port 0 picks a free one.
    """

    def __init__(self, directory: Path, *, port: int = DEFAULT_PORT, host: str = "127.0.0.1"):
        handler = partial(_CorsHandler, directory=str(directory))
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise BrowserError(f"cannot serve on {host}:{port}: {exc}") from exc
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return base_url(self.port)

    def start(self) -> GuideServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def __enter__(self) -> GuideServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
