"""``linkgraph seed``: write a synthetic city (registered once the generator lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the generator module exists."""
