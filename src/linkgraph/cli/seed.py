"""``linkgraph seed`` and ``linkgraph catalogue``: the synthetic city and the policy it runs on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from linkgraph.errors import LinkgraphError

if TYPE_CHECKING:  # the generator and catalogue load when a command runs, not for --help
    from linkgraph.synth import CitySummary

console = Console()


def print_city(summary: CitySummary, out: Path) -> None:
    """Print what a generated city holds."""
    table = Table(title=f"City written to {out}", show_header=False)
    table.add_row("persons", f"{summary.persons:,}")
    table.add_row("window", f"{summary.start_date} – {summary.end_date} ({summary.months} months)")
    table.add_row("roster records", f"{summary.roster_records:,}")
    table.add_row(
        "departments' rosters",
        ", ".join(f"{k} {v:,}" for k, v in sorted(summary.records_by_department.items())),
    )
    table.add_row(
        "evidence events", f"{summary.events:,} from {len(summary.events_by_channel)} channels"
    )
    table.add_row(
        "events per person-year", f"{summary.events / summary.persons * 12 / summary.months:.1f}"
    )
    for kind, count in summary.situations.items():
        table.add_row(f"truth: {kind}", f"{count:,}")
    table.add_row("truth: paid after death", f"¥{summary.paid_after_death_yuan:,}")
    console.print(table)


def seed(
    persons: Annotated[int, typer.Option(min=1, help="How many beneficiaries.")] = 20_000,
    months: Annotated[int, typer.Option(min=1, max=60, help="Months observed.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same city.")] = 1,
    out: Annotated[Path, typer.Option(help="Directory to write the city to.")] = Path("data/city"),
    csv: Annotated[
        bool, typer.Option("--csv", help="Also write CSV next to each Parquet file.")
    ] = False,
    errors: Annotated[
        float,
        typer.Option(min=0, help="Multiply the rosters' error rates ([stress] in generator.toml)."),
    ] = 1.0,
    fraud: Annotated[
        float,
        typer.Option(
            min=0,
            help="Multiply the planted irregularities' rates ([stress] fraud in generator.toml).",
        ),
    ] = 1.0,
) -> None:
    """Write a synthetic city: rosters, evidence feeds and (separately) the ground truth."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from linkgraph.synth import generate_city

    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("persons", total=None)
            done: dict[str, int] = {}

            def step(stage: str, n: int) -> None:
                done[stage] = done.get(stage, 0) + n
                bar.update(task, description=f"{stage}: {done[stage]:,}")

            summary = generate_city(
                out, persons, months, seed, csv=csv, errors=errors, fraud=fraud, progress=step
            )
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    print_city(summary, out)


def catalogue(
    directory: Annotated[
        Path | None, typer.Option(help="Catalogue directory (default: seed/catalogue).")
    ] = None,
) -> None:
    """Validate the catalogue and print its headline counts."""
    from linkgraph.catalogue import Catalogue

    try:
        cat = Catalogue.load(directory)
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table(title="Catalogue", show_header=False)
    for key, value in cat.summary().items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(seed)
    app.command()(catalogue)
