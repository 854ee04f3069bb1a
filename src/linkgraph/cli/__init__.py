"""The ``linkgraph`` command: parses options, calls the library, prints with rich.

Each area registers its commands from its own module below, so this file only
assembles them.
"""

from __future__ import annotations

import sys
from importlib import import_module

import typer

_app = typer.Typer(
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

#: The module that registers each top-level command (tests/unit/test_cli_lazy.py checks it
#: against what the modules register): ``linkgraph explain`` imports the linkage commands
#: alone, not the pipeline, the generator and the graph store as well.
COMMAND_MODULE = {
    "seed": "seed",
    "catalogue": "seed",
    "run": "run",
    "demo": "run",
    "simulate": "run",
    "neo4j": "neo4j",
    "resolve": "link",
    "evaluate": "link",
    "explain": "link",
    "export-febrl4": "link",
    "review": "link",
    "certify": "certify",
    "flag": "certify",
    "tipoff": "certify",
    "query": "graph",
    "graph": "graph",
    "browser": "browser",
    "api": "api",
}

_registered: set[str] = set()


def _register(modules: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    for name in modules:
        if name not in _registered:
            import_module(f"linkgraph.cli.{name}").register(_app)
            _registered.add(name)
    return _app


def __getattr__(name: str) -> typer.Typer:
    """``linkgraph.cli.app``: the command with every area registered."""
    if name == "app":
        return _register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The ``linkgraph`` script: registers only the module of the command asked for (all
    of them for ``--help`` or an unknown command)."""
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    own = COMMAND_MODULE.get(command or "")
    _register((own,) if own else COMMAND_MODULES)()
