"""``linkgraph certify`` (the monthly run without the graph), ``linkgraph flag`` (a decision)
and ``linkgraph tipoff`` (a report that a beneficiary may no longer be eligible)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from linkgraph.config import get_settings
from linkgraph.decisions import DECISIONS, RECOVERY_KINDS
from linkgraph.errors import LinkgraphError

console = Console()


def parse_day(value: str) -> dt.date:
    """``"2026-12-31"`` -> the day; anything else is refused naming the value and why."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day YYYY-MM-DD ({exc})") from None


def certify_command(
    city: Annotated[Path, typer.Argument(help="A city directory (rosters/, events/).")],
    as_of: Annotated[
        dt.date | None,
        typer.Option(
            parser=parse_day,
            metavar="YYYY-MM-DD",
            help="Day of the answer (default: the city's last day).",
        ),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(help="Folder with persons/enrollments/events.parquet, already linked."),
    ] = None,
) -> None:
    """Certify everyone, spread to every benefit, flag wrong claims, dispatch door checks.

    The monthly run without the graph load: a new version in the data folder, its
    report in <data_dir>/report (report.json, report.html and the tables as Parquet).
    Decisions in the ledger (flags, visits, stop requests) count.
    """
    from linkgraph.pipeline import run_city

    try:
        if inputs is not None:
            missing = [
                n
                for n in ("persons", "enrollments", "events")
                if not (inputs / f"{n}.parquet").exists()
            ]
            if missing:
                raise LinkgraphError(
                    f"{inputs}: needs {', '.join(n + '.parquet' for n in missing)}"
                )
        result = run_city(city, as_of=as_of, load_store=False, linked=inputs)
    except (LinkgraphError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    print_report(result.report)
    console.print(f"report: {result.report_paths['json']}\n        {result.report_paths['html']}")


def print_report(report: dict[str, object]) -> None:
    """The report's headline figures and flags, as tables."""
    from linkgraph.report import figure_text

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
    head.add_row("¥ written off", f"{totals.get('amount_written_off', 0):,}")
    head.add_row("¥ arrears owed", f"{totals['arrears_owed']:,}")
    console.print(head)
    flags = Table(title="Flags")
    columns = ("kind", "flags", "suspicious", "routine", "open", "¥ at risk", "¥ recovered")
    for column in (*columns, "¥ written off"):
        flags.add_column(column, justify="left" if column == "kind" else "right")
    for f in report["flags"]:  # type: ignore[attr-defined]
        flags.add_row(
            f["kind"],
            f"{f['flags']:,}",
            f"{f['suspicious']:,}",
            f"{f['routine']:,}",
            f"{f['open']:,}",
            f"{f['amount_at_risk'] or 0:,}",
            f"{f['amount_recovered'] or 0:,}",
            f"{f.get('amount_written_off') or 0:,}",
        )
    console.print(flags)
    reform = Table(title="Against the reform (scaled: this city at Bozhou's 1.36 M persons)")
    for column in ("measure", "Bozhou", "this city", "scaled", "× Bozhou"):
        reform.add_column(column, justify="left" if column == "measure" else "right")
    for m in report.get("reform", []):  # type: ignore[attr-defined]
        reform.add_row(
            m["measure"], *(figure_text(m[k]) for k in ("bozhou", "city", "scaled", "ratio"))
        )
    console.print(reform)
    timings = report.get("timings_seconds", {})
    if isinstance(timings, dict):
        console.print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))


Decision = StrEnum("Decision", {d: d for d in DECISIONS})  # type: ignore[misc]
RecoveryKindOption = StrEnum("RecoveryKindOption", {k: k for k in RECOVERY_KINDS})  # type: ignore[misc]


def flag_command(
    flag_id: Annotated[str, typer.Argument(help="The flag to decide on.")],
    to: Annotated[
        Decision,
        typer.Option(
            help="confirmed | dismissed | open; recovered (money back, with --amount and"
            " --kind); written_off (what is left cannot be recovered, with --amount);"
            " corrected (the right amount at risk, with --amount); reverse (undo the last"
            " decision still in effect)."
        ),
    ],
    who: Annotated[str, typer.Option(help="Who decides (name, role).")],
    why: Annotated[str, typer.Option(help="Why: what was checked.")],
    amount: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Yuan: recovered this time (recoveries add up), written off (at most what"
            " is left), or the corrected amount at risk.",
        ),
    ] = None,
    kind: Annotated[
        RecoveryKindOption | None,
        typer.Option(
            help="How money is recovered: cash (paid back, the default) or offset (arrears"
            " the person is owed, kept against what they owe)."
        ),
    ] = None,
    over_recovery_reason: Annotated[
        str | None,
        typer.Option(
            help="Why the recovered total may exceed the amount at risk (interest, other months)."
        ),
    ] = None,
) -> None:
    """Decide on one flag: confirm, dismiss, reopen, record money recovered (cash or an
    offset against arrears), write off what cannot be recovered, correct the amount at
    risk, or reverse.

    Recoveries may be partial: the flag is recovering until they reach the amount at
    risk, then recovered. A correction derives the status again from the right amount.
    A wrong decision is undone by `--to reverse`, kept as a new step with who and why.
    The decision is checked against the flag as it stands now and kept in the ledger:
    the API shows it at once, and every later run applies it.
    """
    from linkgraph.casework import FlagMove, flag_decision
    from linkgraph.ledger import Journal
    from linkgraph.versions import Versions

    settings = get_settings()
    recovery_kind = kind.value if kind is not None else None
    try:
        version = Versions(settings.data_dir).current()
        if version is None:
            raise LinkgraphError(f"{settings.data_dir}: no run yet; run `linkgraph run` first")
        journal = Journal.of(settings.data_dir)
        since = journal.read(after=version.ledger_mark)
        decision = FlagMove(
            flag_id,
            to.value,  # type: ignore[arg-type]
            who,
            why,
            amount,
            dt.datetime.now(dt.UTC).replace(microsecond=0),
            over_recovery_reason,
            recovery_kind,  # type: ignore[arg-type]
        )
        f = flag_decision(version.table("flags"), since, decision)
        journal.append(
            "flag",
            "cli",
            who,
            flag_id=flag_id,
            to_status=to.value,
            why=why,
            amount=amount,
            over_recovery_reason=over_recovery_reason,
            recovery_kind=recovery_kind,
        )
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    written_off = f"; ¥{f.amount_written_off:,} written off" if f.amount_written_off else ""
    console.print(
        f"{f.flag_id} ({f.kind}) is now [bold]{f.status}[/bold];"
        f" ¥{f.amount_recovered:,} of ¥{f.amount_at_risk:,} recovered{written_off};"
        f" {len(f.history)} step(s); kept in the ledger",
        highlight=False,
    )


def tipoff_command(
    person_id: Annotated[str, typer.Argument(help="The person the tip-off is about.")],
    by: Annotated[
        str, typer.Option(help="Who reported it (a village committee, a neighbour, ...).")
    ],
    says: Annotated[str, typer.Option(help="What they report: moved away, died, in prison ...")],
    who: Annotated[str | None, typer.Option(help="Who records it (default: the reporter).")] = None,
    on: Annotated[
        dt.date | None,
        typer.Option(
            parser=parse_day, metavar="YYYY-MM-DD", help="Day it was received (default: today)."
        ),
    ] = None,
) -> None:
    """Record a tip-off: someone reports that a beneficiary may no longer be eligible.

    It never stops or holds a payment by itself: it becomes a door check for the
    person's grid worker, due within the policy's [tipoffs] visit_within_days, and the
    visit's finding is evidence like any other visit's. Kept in the ledger: the API
    gives the grid worker the task at once, and every later run keeps it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from linkgraph.casework import tipoff_entry
    from linkgraph.certify import CERTIFICATION
    from linkgraph.dispatch import TIPOFF, door_tasks
    from linkgraph.ledger import Journal
    from linkgraph.policy import Policy
    from linkgraph.versions import Versions

    settings = get_settings()
    try:
        tip = tipoff_entry(person_id, by, says, on or dt.date.today(), dt.date.today())
        version = Versions(settings.data_dir).current()
        if version is None:
            raise LinkgraphError(f"{settings.data_dir}: no run yet; run `linkgraph run` first")
        person = pq.read_table(
            version.table_path("persons"), filters=[("person_id", "=", person_id)]
        )
        if person.num_rows == 0:
            raise LinkgraphError(f"no person {person_id!r} in the current version")
        policy = Policy.load(settings.seed_dir / "policy.toml")
        (task,) = door_tasks(
            CERTIFICATION.empty_table(),
            person,
            policy,
            tip["on"],
            pa.Table.from_pylist([{**tip, "received_on": tip["on"]}], schema=TIPOFF),
        ).to_pylist()
        Journal.of(settings.data_dir).append("tipoff", "cli", who or by, **tip)
    except LinkgraphError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(
        f"tip-off {tip['tipoff_id']} about {person_id} kept in the ledger; payments unchanged;"
        f" door check {task['task_id']} for grid {task['grid']}, due by {task['due_on']}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("certify")(certify_command)
    app.command("flag")(flag_command)
    app.command("tipoff")(tipoff_command)
