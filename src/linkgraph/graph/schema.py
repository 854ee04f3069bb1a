"""The graph model, read from ``cypher/schema.cypher`` — the one place it is written.

``load_schema()`` parses the file: every uniqueness constraint names a label's key,
every ``// NODE`` line types a label's properties, every ``// REL`` line declares a
relationship type with its end labels and properties. Python keeps no second copy:
the builder, both adapters and the CSV writer for ``neo4j-admin`` all ask this.

    >>> schema = load_schema()
    >>> schema.key("Person")
    'person_id'
    >>> schema.relationships["HAS"].start, schema.relationships["HAS"].end
    ('Person', 'Enrollment')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from linkgraph.config import REPO_ROOT
from linkgraph.errors import LinkgraphError

CYPHER_DIR = REPO_ROOT / "cypher"
SCHEMA_FILE = CYPHER_DIR / "schema.cypher"

#: Property types the schema may use, and the Arrow type each maps to.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "string[]": pa.list_(pa.string()),
    "int[]": pa.list_(pa.int64()),
}

#: What names a date's text copy: ``death_date`` -> ``death_date_text`` (``cypher/schema.cypher``).
DATE_TEXT_SUFFIX = "_text"

_CONSTRAINT = re.compile(
    r"CREATE\s+CONSTRAINT\s+(\w+)\s+IF\s+NOT\s+EXISTS\s+FOR\s*\(\s*\w+\s*:\s*(\w+)\s*\)"
    r"\s+REQUIRE\s+\w+\.(\w+)\s+IS\s+UNIQUE",
    re.IGNORECASE,
)
_NODE = re.compile(r"^//\s*NODE\s+\(:(\w+)\s*\{(.*)\}\)\s*$")
_REL = re.compile(r"^//\s*REL\s+\(:(\w+)\)-\[:(\w+)\s*(?:\{(.*)\})?\]->\(:(\w+)\)\s*$")
_PROP = re.compile(r"^\s*(\w+)\s*:\s*([\w\[\]]+?)(!?)\s*$")


class SchemaError(LinkgraphError):
    """``cypher/schema.cypher`` is malformed (names the line)."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node label: its key property and every property's type name."""

    label: str
    key: str
    properties: dict[str, str]  # name -> schema type, key first

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(name, ARROW_TYPES[t]) for name, t in self.properties.items()])

    @property
    def date_texts(self) -> dict[str, str]:
        """Each text copy of a date (a ``<date>_text: string`` beside a ``<date>: date``) and
        its date: ``{"death_date_text": "death_date"}``, what a Browser caption shows."""
        return {
            f"{name}{DATE_TEXT_SUFFIX}": name
            for name, t in self.properties.items()
            if t == "date" and self.properties.get(f"{name}{DATE_TEXT_SUFFIX}") == "string"
        }


@dataclass(frozen=True, slots=True)
class RelSpec:
    """A relationship type: start and end labels and its own properties."""

    type: str
    start: str
    end: str
    properties: dict[str, str]


@dataclass(frozen=True, slots=True)
class GraphSchema:
    nodes: dict[str, NodeSpec]
    relationships: dict[str, RelSpec]
    statements: tuple[str, ...]  # the CREATE CONSTRAINT / INDEX statements, in file order

    def key(self, label: str) -> str:
        return self.node(label).key

    def node(self, label: str) -> NodeSpec:
        try:
            return self.nodes[label]
        except KeyError:
            raise LinkgraphError(
                f"unknown node label {label!r} (known: {', '.join(sorted(self.nodes))})"
            ) from None

    def rel(self, rtype: str) -> RelSpec:
        try:
            return self.relationships[rtype]
        except KeyError:
            raise LinkgraphError(
                f"unknown relationship type {rtype!r}"
                f" (known: {', '.join(sorted(self.relationships))})"
            ) from None

    def key_type(self, label: str) -> pa.DataType:
        spec = self.node(label)
        return ARROW_TYPES[spec.properties[spec.key]]

    def rel_schema(self, rtype: str) -> pa.Schema:
        """``start`` and ``end`` columns typed as the end labels' keys, then the properties."""
        spec = self.rel(rtype)
        return pa.schema(
            [("start", self.key_type(spec.start)), ("end", self.key_type(spec.end))]
            + [(name, ARROW_TYPES[t]) for name, t in spec.properties.items()]
        )

    def mermaid(self) -> str:
        """The model as a mermaid ``flowchart`` (what ``cypher/README.md`` shows)."""
        lines = ["flowchart LR"]
        for label, spec in self.nodes.items():
            lines.append(f'    {label}["{label}<br/><i>{spec.key}</i>"]')
        for rtype, rel in self.relationships.items():
            props = f"<br/>{{{', '.join(rel.properties)}}}" if rel.properties else ""
            lines.append(f'    {rel.start} -- "{rtype}{props}" --> {rel.end}')
        return "\n".join(lines)


def _properties(text: str, where: str) -> tuple[dict[str, str], str | None]:
    props: dict[str, str] = {}
    key = None
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _PROP.match(part)
        if not match or match.group(2) not in ARROW_TYPES:
            raise SchemaError(
                f"{where}: property {part!r} is not 'name: type' with type one of"
                f" {', '.join(ARROW_TYPES)}"
            )
        name, typ, bang = match.groups()
        props[name] = typ
        if bang:
            key = name
    return props, key


def parse_schema(text: str, source: str = "schema.cypher") -> GraphSchema:
    keys: dict[str, str] = {}
    for match in _CONSTRAINT.finditer(text):
        keys[match.group(2)] = match.group(3)
    nodes: dict[str, NodeSpec] = {}
    rels: dict[str, RelSpec] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{source}, line {number}"
        if node := _NODE.match(line):
            label = node.group(1)
            props, declared = _properties(node.group(2), where)
            if label not in keys:
                raise SchemaError(f"{where}: label {label} has no uniqueness constraint")
            if declared != keys[label]:
                raise SchemaError(
                    f"{where}: {label} marks {declared!r} as key, constraint says {keys[label]!r}"
                )
            nodes[label] = NodeSpec(label, keys[label], props)
        elif rel := _REL.match(line):
            start, rtype, body, end = rel.groups()
            props, _ = _properties(body or "", where)
            rels[rtype] = RelSpec(rtype, start, end, props)
        elif re.match(r"^//\s*(NODE|REL)\b", line):
            raise SchemaError(f"{where}: cannot parse {line.strip()!r}")
    for label in keys:
        if label not in nodes:
            raise SchemaError(
                f"{source}: constraint on {label} but no '// NODE (:{label} ...)' line"
            )
    for spec in rels.values():
        for label in (spec.start, spec.end):
            if label not in nodes:
                raise SchemaError(f"{source}: relationship {spec.type} uses unknown label {label}")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    statements = tuple(s.strip() for s in body.split(";") if s.strip())
    return GraphSchema(nodes, rels, statements)


@lru_cache
def load_schema(path: Path = SCHEMA_FILE) -> GraphSchema:
    """Parse ``cypher/schema.cypher`` (cached)."""
    return parse_schema(path.read_text(encoding="utf-8"), path.name)
