"""``linkgraph certify``: certify, recognise, flag, dispatch over a city; write the report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from linkgraph.catalogue import Catalogue
from linkgraph.config import get_settings
from linkgraph.errors import LinkgraphError
from linkgraph.flags import flags_from_table, flags_to_table, merge, transition
from linkgraph.policy import Policy
from linkgraph.report import build_report, run_certification, write_report

console = Console()
INPUTS = ("persons", "enrollments", "events")


def load_inputs(city: Path, inputs: Path | None) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(persons, enrollments, linked events): from ``inputs`` (or ``<city>/linked``) if there,
    else by running ingest, normalise and link over the city."""
    folder = inputs or city / "linked"
    if all((folder / f"{name}.parquet").exists() for name in INPUTS):
        persons, enrollments, events = (pq.read_table(folder / f"{n}.parquet") for n in INPUTS)
        return persons, enrollments, events
    if inputs is not None:
        raise LinkgraphError(f"{inputs}: needs {', '.join(n + '.parquet' for n in INPUTS)}")
    from linkgraph.pipeline import run_city

    console.print(f"[dim]no linked tables in {folder}: linking the city first[/dim]")
    result = run_city(city, load_store=False)
    return result.tables["persons"], result.tables["enrollments"], result.tables["events"]


def read_if_there(path: Path) -> pa.Table | None:
    return pq.read_table(path) if path.exists() else None


def certify_command(
    city: Annotated[Path, typer.Argument(help="A city directory (rosters/, events/).")],
    as_of: Annotated[
        str | None, typer.Option(help="Day of the answer, YYYY-MM-DD (default: the city's end).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report directory (default: <city>/report).")
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(
            help="Folder with persons/enrollments/events.parquet (default <city>/linked)."
        ),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy file (default seed/policy.toml).")
    ] = None,
) -> None:
    """Certify everyone, spread to every benefit, flag wrong claims, dispatch door checks.

    Writes report.json, report.html and the run's tables (certifications, recognitions,
    flags, tasks) as Parquet; flags already in the folder keep their workflow state.
    """
    try:
        from linkgraph.pipeline import as_of_for

        day = dt.date.fromisoformat(as_of) if as_of else as_of_for(city)
        catalogue = Catalogue(get_settings().catalogue_dir)
        rules = Policy.from_path_or_dict(policy) if policy else Policy.load()
        rules.check(catalogue)
        persons, enrollments, events = load_inputs(city, inputs)
        run = run_certification(persons, enrollments, events, rules, catalogue, day)
        folder = out or city / "report"
        run.flags = merge(run.flags, read_if_there(folder / "flags.parquet"))
        report = build_report(run, persons, enrollments, events, catalogue, city=str(city))
        json_path, html_path = write_report(report, folder)
        for name in ("certifications", "recognitions", "flags", "tasks"):
            pq.write_table(getattr(run, name), folder / f"{name}.parquet")
    except (LinkgraphError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    print_report(report)
    console.print(f"report: {json_path}\n        {html_path}")


def print_report(report: dict[str, object]) -> None:
    """The report's headline figures and flags, as tables."""
    totals = report["totals"]
    cert = report["certification"]
    assert isinstance(totals, dict) and isinstance(cert, dict)
    head = Table(title=f"Certification as of {report['as_of']}", show_header=False)
    head.add_row("persons", f"{totals['persons']:,}")
    for key, value in cert.items():
        head.add_row(f"  {key}", f"{value:,}")
    head.add_row("door-knock tasks", f"{totals['tasks']:,} in {totals['grids_with_tasks']:,} grids")
    head.add_row("¥ at stake (claims)", f"{totals['amount_at_risk']:,}")
    head.add_row("¥ recovered", f"{totals['amount_recovered']:,}")
    head.add_row("¥ arrears owed", f"{totals['arrears_owed']:,}")
    console.print(head)
    flags = Table(title="Flags")
    for column in ("kind", "flags", "open", "¥ at risk", "¥ recovered"):
        flags.add_column(column, justify="left" if column == "kind" else "right")
    for f in report["flags"]:  # type: ignore[attr-defined]
        flags.add_row(
            f["kind"],
            f"{f['flags']:,}",
            f"{f['open']:,}",
            f"{f['amount_at_risk'] or 0:,}",
            f"{f['amount_recovered'] or 0:,}",
        )
    console.print(flags)
    timings = report.get("timings_seconds", {})
    if isinstance(timings, dict):
        console.print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))


def flag_command(
    folder: Annotated[Path, typer.Argument(help="The report folder holding flags.parquet.")],
    flag_id: Annotated[str, typer.Argument(help="The flag to move.")],
    to: Annotated[str, typer.Option(help="confirmed | dismissed | recovered | open")],
    who: Annotated[str, typer.Option(help="Who decides (name, role).")],
    why: Annotated[str, typer.Option(help="Why: what was checked.")],
    amount: Annotated[int | None, typer.Option(help="Yuan recovered (for recovered).")] = None,
) -> None:
    """Move one flag through its workflow (open → confirmed/dismissed → recovered)."""
    path = folder / "flags.parquet"
    try:
        if not path.exists():
            raise LinkgraphError(f"{path}: no flags here; run `linkgraph certify` first")
        flags = flags_from_table(pq.read_table(path))
        index = next((i for i, f in enumerate(flags) if f.flag_id == flag_id), None)
        if index is None:
            raise LinkgraphError(f"{path}: no flag {flag_id}")
        flags[index] = transition(flags[index], to, who, why, amount)  # type: ignore[arg-type]
        pq.write_table(flags_to_table(flags), path)
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    f = flags[index]
    console.print(
        f"{f.flag_id} ({f.kind}) is now [bold]{f.status}[/bold]; {len(f.history)} step(s)"
    )


def register(app: typer.Typer) -> None:
    app.command("certify")(certify_command)
    app.command("flag")(flag_command)
