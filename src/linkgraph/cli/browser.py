"""``linkgraph browser guide|serve``: the query library, style and favourites for the Browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from linkgraph.errors import LinkgraphError

console = Console()
browser_app = typer.Typer(
    name="browser",
    help="The investigators' query library as a Neo4j Browser guide, style and favourites.",
    no_args_is_help=True,
)

Out = Annotated[
    Path | None,
    typer.Option(
        help="Directory for guide.html, style.grass, favourites.zip (default: data/browser)."
    ),
]
Port = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=65535,
        help="Port the bundle is served on (default: LINKGRAPH_BROWSER_GUIDE_PORT, else 8474).",
    ),
]


def _port(port: int | None) -> int:
    from linkgraph.browser import DEFAULT_PORT
    from linkgraph.config import get_settings

    if port is not None:
        return port
    return get_settings().browser_guide_port or DEFAULT_PORT


def _out(out: Path | None) -> Path:
    from linkgraph.config import get_settings

    return out if out is not None else get_settings().data_dir / "browser"


def _write(out: Path | None, port: int) -> Path:
    from linkgraph import browser

    try:
        return browser.write_bundle(_out(out), port=port)
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc


def _how_to(port: int) -> None:
    from linkgraph import browser

    console.print("In the Neo4j Browser (while `linkgraph browser serve` runs):", highlight=False)
    for cmd in browser.browser_commands(port):
        console.print(f"  {escape(cmd)}", highlight=False, soft_wrap=True)
    from linkgraph.config import get_settings

    if get_settings().browser_guide_port == port:
        console.print(
            f"The server's Browser opens it on every connect (LINKGRAPH_BROWSER_GUIDE_PORT={port};"
            " restart the server after changing it).",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(
        f"Or on every connect: LINKGRAPH_BROWSER_GUIDE_PORT={port} (environment or linkgraph.env),"
        " then `linkgraph neo4j stop` and `linkgraph neo4j start` (the server's conf sets"
        f" browser.post_connect_cmd={browser.post_connect_cmd(port)}).",
        highlight=False,
        soft_wrap=True,
    )


@browser_app.command()
def guide(out: Out = None, port: Port = None) -> None:
    """Generate the Browser guide (from cypher/queries/*.cypher), style and favourites."""
    port = _port(port)
    directory = _write(out, port)
    for name in ("guide.html", "style.grass", "favourites.zip"):
        console.print(f"wrote {directory / name}", highlight=False)
    _how_to(port)


@browser_app.command()
def serve(out: Out = None, port: Port = None) -> None:
    """Regenerate the bundle and serve it to the Browser on localhost until Ctrl-C."""
    from linkgraph.browser import GuideServer

    port = _port(port)
    directory = _write(out, port)
    try:
        server = GuideServer(directory, port=port)
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"serving {directory} at {server.url}/ (Ctrl-C stops)", highlight=False)
    _how_to(port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def register(app: typer.Typer) -> None:
    app.add_typer(browser_app, name="browser")
