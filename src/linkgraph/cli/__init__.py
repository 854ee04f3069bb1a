"""The ``linkgraph`` command: parses options, calls the library, prints with rich.

Each area registers its commands from its own module below, so this file only
assembles them.
"""

from __future__ import annotations

from importlib import import_module

import typer

app = typer.Typer(
    name="linkgraph",
    help="Graph-based identity and cross-benefit linkage.",
    no_args_is_help=True,
    add_completion=False,
    # Click's own help layout: typer's rich panels print "<bool>" after every flag
    # (--help included), as if it took a value.
    rich_markup_mode=None,
)


#: The command modules, each with ``register(app)``; add a new area's module here.
COMMAND_MODULES = ("seed", "run", "neo4j", "link", "certify", "graph", "browser", "api")


def _register() -> None:
    for name in COMMAND_MODULES:
        import_module(f"linkgraph.cli.{name}").register(app)


_register()


def main() -> None:
    app()
