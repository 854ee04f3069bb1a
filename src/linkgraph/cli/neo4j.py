"""``linkgraph neo4j install|start|stop|status``: the project's own Neo4j Community server."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from linkgraph.neo4j_server import Neo4jServerError, ServerStatus

console = Console()
neo4j_app = typer.Typer(
    name="neo4j",
    help="The project's Neo4j 5.26 Community server, built from Maven Central jars.",
    no_args_is_help=True,
)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(1)


def print_status(st: ServerStatus) -> None:
    """Print a server status as a two-column table."""
    table = Table(title="Neo4j", show_header=False)
    state = f"[green]running[/green] (pid {st.pid})" if st.running else "[yellow]stopped[/yellow]"
    table.add_row("state", state)
    table.add_row("installed", "yes" if st.installed else "no (run `linkgraph neo4j install`)")
    table.add_row("version", st.version or "-")
    table.add_row("bolt", st.bolt_uri)
    table.add_row("http", st.http_url)
    table.add_row("browser", st.browser_url)
    table.add_row("home", str(st.home))
    console.print(table)


@neo4j_app.command()
def install() -> None:
    """Fetch the server, Browser and import tool jars with Maven into the Neo4j home."""
    from linkgraph import neo4j_server

    t0 = time.monotonic()
    try:
        with console.status("fetching Neo4j jars from Maven Central…"):
            home = neo4j_server.install()
    except Neo4jServerError as exc:
        raise _fail(exc) from exc
    console.print(f"Neo4j {neo4j_server.pom_version()} in {home} ({time.monotonic() - t0:.1f}s)")


@neo4j_app.command()
def start(
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until Bolt accepts the password.")
    ] = True,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait (default: settings).")
    ] = None,
) -> None:
    """Start the server detached (installing it first if needed); no-op if it runs."""
    from linkgraph import neo4j_server

    t0 = time.monotonic()
    try:
        was_running = neo4j_server.status().running
        with console.status("starting Neo4j…"):
            st = neo4j_server.start(wait=wait, timeout=timeout)
    except Neo4jServerError as exc:
        raise _fail(exc) from exc
    took = "already running" if was_running else f"started in {time.monotonic() - t0:.1f}s"
    console.print(took)
    if st.recovered:
        console.print(f"[yellow]warning:[/yellow] {st.recovered}")
    print_status(st)


@neo4j_app.command()
def stop() -> None:
    """Stop the server cleanly (SIGTERM, then wait)."""
    from linkgraph import neo4j_server

    try:
        with console.status("stopping Neo4j…"):
            stopped = neo4j_server.stop()
    except Neo4jServerError as exc:
        raise _fail(exc) from exc
    console.print("stopped" if stopped else "not running")


@neo4j_app.command()
def status() -> None:
    """Show whether the server runs, its pid, version and URLs."""
    from linkgraph import neo4j_server

    try:
        st = neo4j_server.status()
    except Neo4jServerError as exc:
        raise _fail(exc) from exc
    print_status(st)


def register(app: typer.Typer) -> None:
    app.add_typer(neo4j_app, name="neo4j")
