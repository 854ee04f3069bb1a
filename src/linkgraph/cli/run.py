"""``linkgraph run`` and ``linkgraph demo``: the whole job over one city."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from linkgraph.cli.certify import print_report
from linkgraph.cli.seed import print_city
from linkgraph.config import get_settings
from linkgraph.errors import LinkgraphError

if TYPE_CHECKING:  # the pipeline and the generator load when a command runs, not for --help
    from linkgraph.config import Settings
    from linkgraph.pipeline import RunResult

console = Console()

Backend = Annotated[
    str | None, typer.Option(help="Graph store: embedded (default) or neo4j.", show_default=False)
]


Engine = Annotated[
    str | None,
    typer.Option(
        help="What runs the batch job: embedded (default: DuckDB and numpy in this process)"
        " or spark (Apache Spark: local[*], or the master LINKGRAPH_SPARK_MASTER or"
        " spark-defaults.conf names; needs pip install -e '.[spark]').",
        show_default=False,
    ),
]


def _run(
    city: Path, backend: str | None, *, replace_city: bool = False, engine: str | None = None
) -> RunResult:
    from linkgraph.pipeline import run_city

    settings = get_settings()
    if backend:
        settings = settings.model_copy(update={"backend": backend})
    if engine:
        if engine not in ("embedded", "spark"):
            raise typer.BadParameter("embedded or spark", param_hint="--engine")
        settings = settings.model_copy(update={"engine": engine})
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("starting", total=None)
        result = run_city(
            city,
            settings=settings,
            progress=lambda s: bar.update(task, description=s),
            replace_city=replace_city,
        )
    _print_result(result, settings)
    return result


def _print_result(result: RunResult, settings: Settings) -> None:
    backend = settings.backend
    stages = Table(title="Stages")
    for column in ("stage", "rows", "seconds", "peak GiB"):
        stages.add_column(column, justify="right" if column != "stage" else "left")
    for s in result.stages:
        stages.add_row(s.name, f"{s.rows:,}", f"{s.seconds:.1f}", f"{s.peak_gib:.2f}")
    console.print(stages)
    if result.rejected:
        console.print(f"[yellow]{len(result.rejected):,} rows refused[/yellow], first ones:")
        for r in result.rejected[:5]:
            console.print(f"  {r}")
    if result.repeated:
        console.print(f"{result.repeated:,} rows were repeats of rows already read (kept once)")
    if result.ledger_entries:
        console.print(
            f"{result.ledger_entries:,} ledger entries counted (API writes, visits, decisions)"
            + (
                f"; {result.ledger_skipped:,} flag decisions no longer apply"
                if result.ledger_skipped
                else ""
            )
        )
    summary = Table(
        title=f"As of {result.as_of} — engine: {settings.engine}, store: {backend}",
        show_header=False,
    )
    summary.add_row("persons resolved", f"{result.rows('persons'):,}")
    summary.add_row("roster records", f"{result.rows('records'):,}")
    summary.add_row("evidence events", f"{result.rows('events'):,}")
    console.print(summary)
    if result.report:
        print_report(result.report)
    for kind, path in result.report_paths.items():
        console.print(f"report ({kind}): {path}")
    if backend == "neo4j":
        console.print(f"explore the graph in the Neo4j Browser: {settings.neo4j_browser_url}")


def run(
    city: Annotated[Path, typer.Argument(help="A city directory with rosters/ and events/.")],
    backend: Backend = None,
    replace_city: Annotated[
        bool,
        typer.Option(
            "--replace-city",
            help="The data folder holds another city: move it aside and start this one.",
        ),
    ] = False,
    engine: Engine = None,
) -> None:
    """Run the whole job over a city and the ledger: a new version, switched to at the end.

    ingest, normalise, link, certify, recognise, flag, dispatch, report, graph. A run
    that fails leaves the previous version whole and serving.
    """
    try:
        _run(city, backend, replace_city=replace_city, engine=engine)
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def demo(
    persons: Annotated[int, typer.Option(min=100, help="Size of the demo city.")] = 20_000,
    months: Annotated[int, typer.Option(min=1, max=60)] = 12,
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Generate a city (once) and run the whole job on it with the embedded store."""
    from linkgraph.synth import CitySummary, generate_city

    settings = get_settings()
    city = settings.data_dir / f"city-{persons}-{months}-{seed}"
    manifest = city / "manifest.json"
    try:
        if manifest.exists():
            summary = CitySummary.model_validate(json.loads(manifest.read_text()))
            console.print(f"reusing the city in {city}")
        else:
            with console.status(f"generating a city of {persons:,} persons"):
                summary = generate_city(city, persons, months, seed)
        print_city(summary, city)
        _run(city, "embedded")
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(
        "\nNext: [bold].venv/bin/linkgraph api serve[/bold] starts the recognition API;"
        " [bold].venv/bin/linkgraph query no_trace[/bold] asks the graph a question."
    )


def simulate(
    city: Annotated[Path, typer.Argument(help="A generated city (rosters/, events/, truth/).")],
    months: Annotated[int, typer.Option(min=1, max=60, help="Months to run, in order.")] = 12,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the report, notices and village lists.", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated people.")] = 1,
) -> None:
    """Run a generated city month by month through the core, as the monthly cycle would.

    Each month: the feeds arrive, grid workers visit door tasks, flags are decided and
    money recovered, the core decides as of the month's end; the month's notices (SMS or
    letter) and each village's suspected and confirmed lists are written. The data
    folder's ledger is not written.
    """
    from linkgraph.simulate import simulate_city

    try:
        result = simulate_city(
            city, months, out=out, seed=seed, progress=lambda line: console.print(line)
        )
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    print_report(result.report)
    console.print(f"report, notices and village lists: {result.out}")


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)
    app.command()(simulate)
