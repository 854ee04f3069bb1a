"""The ``linkgraph`` command: parses options, calls the library, prints with rich.

Each area registers its commands from its own module below, so this file only
assembles them.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="linkgraph",
    help="Graph-based identity and cross-benefit linkage.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    from linkgraph.cli import seed

    seed.register(app)
    from linkgraph.cli import link

    link.register(app)


_register()


def main() -> None:
    app()
