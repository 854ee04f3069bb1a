"""``linkgraph query`` and ``linkgraph graph``: the Cypher library from the command line.

    linkgraph query paid_after_death
    linkgraph query person_360 --param person_id=P0000042 --format json
    linkgraph query no_trace --param since=2026-07-01 --backend neo4j --format csv
    linkgraph query certification_spread --param person_id=P000000001
    linkgraph query shared_identifiers --purpose "case 2026-113: shared account"
    linkgraph graph queries          # the library: names, parameters, columns
    linkgraph graph counts           # nodes per label, relationships per type

Commands only parse options, call the store's public API and print; known
errors become a message and exit code 1 (2 when the store cannot be reached).
ID numbers, phones and accounts are masked unless a purpose is stated, and every
query is audited (:mod:`linkgraph.cli.asked`).
The library only reads: ``linkgraph graph apply`` is kept to say so, and always
exits 1 (enrolment statuses are the domain core's answer, not a graph procedure's).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from linkgraph.cli.asked import PurposeOpt
from linkgraph.errors import InputError, LinkgraphError, StoreUnavailable

if TYPE_CHECKING:  # the query library loads its engines when a command runs, not for --help
    from linkgraph.graph.queries import Param

console = Console()
graph_app = typer.Typer(help="The graph store: the query library, counts.", no_args_is_help=True)

#: What ``linkgraph graph apply`` answers, whatever it is asked for.
NO_WRITE_PROCEDURES = (
    "no write procedures: enrolment statuses are the core's answer (`linkgraph run`, the API),"
    " written into the graph; see `linkgraph query certification_spread --param person_id=...`"
)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class Backend(StrEnum):
    EMBEDDED = "embedded"
    NEO4J = "neo4j"


ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A query parameter as name=value; repeatable."),
]
BackendOpt = Annotated[
    Backend | None, typer.Option(help="Graph store (default: LINKGRAPH_BACKEND or embedded).")
]


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["person_id=P1", "on=2026-12-31"]`` -> ``{"person_id": "P1", "on": "2026-12-31"}``."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param {pair!r}: expected name=value")
        params[name.strip()] = value
    return params


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def render(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: Format, title: str) -> None:
    if fmt is Format.JSON:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=_text))
    elif fmt is Format.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([[_text(r.get(c)) for c in columns] for r in rows])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(title=f"{title} ({len(rows):,} rows)")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_text(row.get(c)) for c in columns))
        console.print(table)


def _store(backend: Backend | None) -> Any:
    from linkgraph.config import get_settings
    from linkgraph.graph import open_store

    settings = get_settings()
    if backend is not None:
        settings = settings.model_copy(update={"backend": backend.value})
    return open_store(settings)


def _as_of() -> dt.date | None:
    """The as-of date of the data served: the current version's, None before any run."""
    from linkgraph.config import get_settings
    from linkgraph.versions import Versions

    version = Versions(get_settings().data_dir).current()
    return version.as_of if version is not None else None


def _fail(exc: LinkgraphError) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2 if isinstance(exc, StoreUnavailable) else 1)


def query(
    name: Annotated[str, typer.Argument(help="Library query (see `linkgraph graph queries`).")],
    param: ParamOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
    backend: BackendOpt = None,
    purpose: PurposeOpt = None,
) -> None:
    """Run a named query of the Cypher library and print its rows.

    Dates left out default to the as-of date of the current version (see
    `linkgraph graph queries`). ID numbers, phones and accounts are masked unless
    --purpose says why they are needed; every query is written to the audit log."""
    from linkgraph.cli.asked import audit, cli_caller
    from linkgraph.graph import QUERIES
    from linkgraph.graph.queries import library_query
    from linkgraph.service.audit import query_subjects
    from linkgraph.service.masking import shown_row

    caller = cli_caller(purpose)
    try:
        params = library_query(name).bind(parse_params(param), as_of=_as_of())
        with _store(backend) as store:
            rows = store.query(name, **params)
    except LinkgraphError as exc:
        raise _fail(exc) from exc
    subjects = query_subjects(name, params, rows)
    audit(caller, f"query.{name}", subjects, params=params, rows=len(rows))
    render([shown_row(caller, r) for r in rows], QUERIES[name].columns, format, name)


def _default(param: Param) -> str:
    """What a parameter left out is: ``as-of``, ``as-of-183d``, or the header's example."""
    if param.before_as_of is None:
        return _text(param.example)
    return "as-of" + (f"-{param.before_as_of}d" if param.before_as_of else "")


@graph_app.command("queries")
def queries() -> None:
    """List the library: each query's parameters (with examples) and result columns."""
    from linkgraph.graph import QUERIES

    table = Table(title="Cypher library (cypher/queries/)")
    for column in ("name", "parameters", "returns", "what it answers"):
        table.add_column(column)
    for q in QUERIES.values():
        params = ", ".join(
            f"{p.name}{'' if p.required else '?'}={_default(p)}" for p in q.params.values()
        )
        table.add_row(
            q.name,
            params,
            ", ".join(q.columns),
            q.summary.split("—", 1)[-1].strip(),
        )
    console.print(table)


@graph_app.command("counts")
def counts(backend: BackendOpt = None) -> None:
    """Nodes per label and relationships per type in the store."""
    try:
        with _store(backend) as store:
            found = store.counts()
            kind = {**dict.fromkeys(store.schema.nodes, "node")}
    except LinkgraphError as exc:
        raise _fail(exc) from exc
    table = Table(title="graph store")
    table.add_column("label / type")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for name, n in found.items():
        table.add_row(name, kind.get(name, "relationship"), f"{n:,}")
    console.print(table)


@graph_app.command(
    "apply",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def apply(
    name: Annotated[
        str | None, typer.Argument(help="Any name: there are no write procedures.")
    ] = None,
) -> None:
    """There are no write procedures: always exits 1, pointing at what to run instead."""
    asked = f"{escape(name)}: " if name else ""
    console.print(f"[red]error:[/red] {asked}{NO_WRITE_PROCEDURES}", soft_wrap=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("query")(query)
    app.add_typer(graph_app, name="graph")
