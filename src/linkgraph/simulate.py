"""``linkgraph simulate``: a generated city month by month, through the same core as a run.

:func:`simulate_city` links the city once (the identity stages of
:func:`linkgraph.pipeline.run_city`), then for each month in order:

1. the month's feeds arrive: events reported by the month's end are known (the core's
   own rule), and each roster shows its payments up to that month;
2. the people beside the product do the month's work on what the last month-end left
   open: grid workers visit door tasks, earliest due first, at the pace of
   ``[world]`` in ``seed/generator.toml``, and find the person alive, dead, gone from the
   city for good or not at home (the city's truth says which; persons living in another
   city or in prison are never found at home; a few are away for months, so their warning
   runs out, payment is suspended, and resumes with arrears when they are found); flags
   are decided after ``review_months`` by their severity: routine lag is confirmed and
   kept from the next payroll (an offset), a suspicious case is confirmed, a payment held
   while the person is suspended is kept against it (an offset, which the core takes from
   the arrears their resumption pays) and the rest repaid in instalments or,
   for a share of the payments after death, written off (no estate); a check is
   dismissed;
   a few persons are the subject of a tip-off (``tipoffs_per_10k_month``; most about
   persons the truth shows dead or away, some unfounded), each a door check;
3. :func:`linkgraph.pipeline.decide` answers as of the month's last day, with those
   visits, decisions and tip-offs as its ledger inputs (:class:`linkgraph.casework.LedgerInputs`),
   exactly as a run reads the journal's;
4. the month is written down: its row (:func:`linkgraph.monthly.month_row`), its notice
   queue (``notices/YYYY-MM.csv``: the reminders due, by SMS where the person has a
   phone, else by letter), and each village's lists (``villages/YYYY-MM-suspected.csv``
   and, after the checks, ``villages/YYYY-MM-confirmed.csv``).

The simulation keeps its visits and decisions to itself: the data folder's ledger is
not written, so a simulated month never becomes a real person's record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from linkgraph import duck
from linkgraph.casework import FlagMove, LedgerInputs, tipoff_id
from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings, get_settings
from linkgraph.dispatch import TIPOFF, VISIT, record_visits, reminders_due, village_list
from linkgraph.errors import InputError
from linkgraph.flags import flags_from_table
from linkgraph.monthly import month_row
from linkgraph.pipeline import CertificationRun, RunResult, decide, run_city
from linkgraph.policy import Policy
from linkgraph.report import build_report, write_report
from linkgraph.synth.config import GeneratorConfig, World
from linkgraph.versions import Versions

Progress = Callable[[str], None]
WORKER = "simulated grid worker"
CLERK = "simulated case worker"


@dataclass
class Simulation:
    """What :func:`simulate_city` produced: one row per month and where the files are."""

    monthly: list[dict[str, Any]] = field(default_factory=list)
    out: Path = Path()
    report: dict[str, Any] = field(default_factory=dict)


def month_end(first: dt.date) -> dt.date:
    """The last day of ``first``'s month: ``month_end(date(2026, 2, 1))`` -> 2026-02-28."""
    return _next_month(first) - dt.timedelta(days=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _fates(
    city: Path, enrollments: pa.Table, world: World, first: dt.date, rng: np.random.Generator
) -> pa.Table:
    """Per person: the true date of death (null: alive) and whereabouts (the day they left
    the city for good, living in another city, a prison sentence), from the generated
    city's truth, and a spell away from home (``away_from`` .. ``away_until``, null for most), drawn
    for ``[world] away_share`` of the persons over the year from ``first``."""
    truth = city / "truth"
    if not (truth / "records.parquet").exists():
        raise InputError(
            f"{city}: simulate plays a generated city's people and needs its truth/ folder"
        )
    db = duck.connect()
    db.register("enr", enrollments.select(["enrollment_id", "person_id"]))
    fates = db.sql(
        f"""SELECT e.person_id, min(p.death_date) AS death_date, min(p.left_on) AS left_on,
                   bool_or(p.lives_elsewhere) AS lives_elsewhere,
                   min(p.sentence_from) AS sentence_from, min(p.released_on) AS released_on
            FROM enr e
            JOIN read_parquet('{truth / "records.parquet"}') r ON r.record_id = e.enrollment_id
            JOIN read_parquet('{truth / "persons.parquet"}') p ON p.person_id = r.person_id
            GROUP BY e.person_id ORDER BY e.person_id"""
    ).to_arrow_table()
    n = fates.num_rows
    away = rng.random(n) < world.away_share
    start = (first - dt.date(1970, 1, 1)).days + rng.integers(0, 365, n)
    low, high = world.away_months
    length = rng.integers(low * 30, high * 30 + 1, n)
    return fates.append_column(
        "away_from", pa.array(start, mask=~away, type=pa.int32()).cast(pa.date32())
    ).append_column(
        "away_until", pa.array(start + length, mask=~away, type=pa.int32()).cast(pa.date32())
    )


def _rosters_of(enrollments: pa.Table, first: dt.date) -> pa.Table:
    """The rosters as their departments hold them in ``first``'s month: paid up to it."""
    paid = pc.min_element_wise(enrollments["paid_until"], pa.scalar(first, pa.date32()))
    return enrollments.set_column(
        enrollments.schema.get_field_index("paid_until"), "paid_until", paid
    )


def _visits(
    last: CertificationRun,
    fates: pa.Table,
    world: World,
    first: dt.date,
    rng: np.random.Generator,
) -> pa.Table:
    """The month's door checks (:data:`VISIT`): each grid's open tasks, earliest due first,
    as many as its worker makes in a month, each on a day of the month after the task
    was created; the result is what the worker finds: dead, gone for good, nobody at home
    (away, living in another city, in prison, or out), else alive."""
    end = month_end(first)
    db = duck.connect()
    db.register("tasks", last.tasks)
    db.register("fates", fates)
    chosen = db.sql(
        """SELECT t.task_id, greatest(t.created_on, $first) AS earliest, f.death_date,
                  f.away_from, f.away_until, f.left_on, f.lives_elsewhere, f.sentence_from,
                  f.released_on
           FROM tasks t LEFT JOIN fates f USING (person_id)
           WHERE t.status = 'open' AND t.created_on <= $end
           QUALIFY row_number() OVER (PARTITION BY t.grid ORDER BY t.due_on, t.task_id) <= $pace
           ORDER BY t.task_id""",
        params={"first": first, "end": end, "pace": world.visits_per_grid_month},
    ).to_arrow_table()
    n = chosen.num_rows
    earliest = chosen["earliest"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    span = (end - dt.date(1970, 1, 1)).days - earliest + 1
    day = earliest + (rng.random(n) * span).astype(np.int32)
    death = chosen["death_date"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    dead = ~np.isnan(death.astype(np.float64)) & (np.nan_to_num(death, nan=0) <= day)
    away_from = chosen["away_from"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    away_until = chosen["away_until"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):  # null spells compare false
        away = (away_from.astype(np.float64) <= day) & (day < away_until.astype(np.float64))

    def on_or_before(column: str, later: np.ndarray) -> np.ndarray:
        """Whether the truth's day in ``column`` has come by ``later`` (null: never)."""
        values = chosen[column].cast(pa.int32()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            return values.astype(np.float64) <= later

    gone = on_or_before("left_on", day)
    in_prison = on_or_before("sentence_from", day) & ~on_or_before("released_on", day)
    elsewhere = chosen["lives_elsewhere"].fill_null(False).to_numpy(zero_copy_only=False)
    missed = away | elsewhere | in_prison | (rng.random(n) < world.not_found_share)
    result = np.where(
        dead, "deceased", np.where(gone, "left", np.where(missed, "not_found", "seen_alive"))
    )
    return pa.table(
        {
            "task_id": chosen["task_id"],
            "result": pa.array(result),
            "worker": pa.array([WORKER] * n),
            "visited_on": pa.array(day, pa.int32()).cast(pa.date32()),
            "died_on": pc.if_else(pa.array(dead), chosen["death_date"], pa.nulls(n, pa.date32())),
        },
        schema=VISIT,
    )


def _written_off(flag_id: str, share: float) -> bool:
    """Whether this case is one no estate repays (a stable draw: the same every month)."""
    return int(hashlib.sha256(flag_id.encode()).hexdigest()[:8], 16) < share * 0x1_0000_0000


def _dead_by(fates: pa.Table, day: dt.date) -> frozenset[str]:
    """The persons the city's truth shows dead by ``day``."""
    died = fates.filter(pc.less_equal(fates["death_date"], pa.scalar(day, pa.date32())))
    return frozenset(died["person_id"].to_pylist())


def _held(last: CertificationRun) -> dict[str, int]:
    """Per person suspended at the last month-end, the month's payments held: owed to them as
    arrears when they are found again, so a case worker can keep them against a case."""
    suspended = last.certifications.filter(pc.equal(last.certifications["status"], "suspended"))
    rec = last.recognitions
    rec = rec.filter(
        pc.and_(pc.equal(rec["status"], "hold"), pc.is_in(rec["person_id"], suspended["person_id"]))
    )
    held: dict[str, int] = {}
    for person, amount in zip(
        rec["person_id"].to_pylist(), rec["monthly_amount"].to_pylist(), strict=True
    ):
        held[person] = held.get(person, 0) + int(amount or 0)
    return held


def _flag_moves(
    last: CertificationRun, world: World, first: dt.date, dead: frozenset[str] = frozenset()
) -> list[FlagMove]:
    """The month's decisions on flags raised ``review_months`` ago or more, by severity.

    Routine lag is confirmed and kept whole from the next payroll (an ``offset``); a
    suspicious case is confirmed, then, while the person's payment is held (suspended), the
    month's held payment is kept against it (an ``offset``: the core takes it from the
    arrears their resumption pays) and the rest repaid month by month in instalments of
    ``repayment_share`` of the amount at risk, except that ``write_off_share`` of the
    cases are written off the month after confirmation: nothing to recover the money
    from (the person died with no estate, the truth's ``dead`` say which, or has no
    means); a check is dismissed.
    """
    decided_on = dt.datetime.combine(first.replace(day=15), dt.time(10), dt.UTC)
    due = first - dt.timedelta(days=1)
    for _ in range(world.review_months - 1):
        due = due.replace(day=1) - dt.timedelta(days=1)
    flags = last.flags.filter(
        pc.and_(
            pc.less_equal(last.flags["raised_on"], pa.scalar(due, pa.date32())),
            pc.is_in(last.flags["status"], pa.array(["open", "confirmed", "recovering"])),
        )
    )
    owed = _held(last)
    moves = []
    for f in flags_from_table(flags):
        left = f.amount_at_risk - f.amount_recovered
        if f.status == "open" and (f.severity == "review" or left <= 0):
            moves.append(FlagMove(f.flag_id, "dismissed", CLERK, "checked: no loss", None,
                                  decided_on, None))  # fmt: skip
            continue
        if f.status == "open":
            moves.append(FlagMove(f.flag_id, "confirmed", CLERK, f"confirmed: {f.detail}", None,
                                  decided_on, None))  # fmt: skip
        if left <= 0:
            continue
        paid_on = decided_on + dt.timedelta(days=5)
        if f.severity == "routine":
            moves.append(FlagMove(f.flag_id, "recovered", CLERK, "kept from the next payroll",
                                  left, paid_on, None, "offset"))  # fmt: skip
            continue
        if f.status != "open" and _written_off(f.flag_id, world.write_off_share):
            why = (
                "died with no estate"
                if dead.intersection(f.person_ids)
                else "no income or assets to recover it from"
            )
            moves.append(FlagMove(f.flag_id, "written_off", CLERK, why, left, paid_on, None))
            continue
        kept = min(left, sum(owed.get(p, 0) for p in f.person_ids))
        if kept > 0:
            rest = kept
            for p in f.person_ids:  # a held payment is kept against one case only
                used = min(owed.get(p, 0), rest)
                owed[p], rest = owed.get(p, 0) - used, rest - used
            moves.append(FlagMove(f.flag_id, "recovered", CLERK, "held payment kept against it",
                                  kept, paid_on, None, "offset"))  # fmt: skip
            left -= kept
        if left > 0:
            amount = min(left, max(1, round(f.amount_at_risk * world.repayment_share)))
            moves.append(FlagMove(f.flag_id, "recovered", CLERK, "instalment repaid", amount,
                                  paid_on + dt.timedelta(days=1), None))  # fmt: skip
    return moves


#: Who tips the city off, and what they say (founded: what the city's truth shows).
_REPORTERS = ("village committee", "a neighbour", "a relative")
_SAYS = {"dead": "has died", "away": "has moved away", "unfounded": ("has died", "has moved away",
         "is in prison")}  # fmt: skip


def _tipoffs(
    last: CertificationRun | None,
    fates: pa.Table,
    persons: pa.Table,
    world: World,
    first: dt.date,
    rng: np.random.Generator,
) -> pa.Table:
    """The month's tip-offs (:data:`~linkgraph.dispatch.TIPOFF`): about
    ``tipoffs_per_10k_month`` persons in 10,000, ``tipoff_founded_share`` of them about a
    person the city's truth shows dead (a death no human confirmed yet) or away that
    month, the rest about someone at home and alive (unfounded)."""
    end = month_end(first)
    n = int(rng.poisson(world.tipoffs_per_10k_month * persons.num_rows / 10_000))
    if n == 0:
        return TIPOFF.empty_table()
    confirmed: set[str] = set()
    if last is not None:
        c = last.certifications
        confirmed = set(c.filter(c["confirmed_negative"])["person_id"].to_pylist())
    dead_on, away = {}, set()
    for person, death, start, until in zip(
        *(fates[k].to_pylist() for k in ("person_id", "death_date", "away_from", "away_until")),
        strict=True,
    ):
        if death is not None and death <= end and person not in confirmed:
            dead_on[person] = death
        elif start is not None and start <= end and first < until:
            away.add(person)
    founded = sorted(dead_on) + sorted(away)
    unfounded = sorted(set(persons["person_id"].to_pylist()) - set(dead_on) - away - confirmed)
    rows = []
    for _ in range(n):
        is_founded = bool(founded) and rng.random() < world.tipoff_founded_share
        pool = founded if is_founded else unfounded
        if not pool:
            continue
        person = pool[int(rng.integers(len(pool)))]
        what = "dead" if person in dead_on else "away" if person in away else "unfounded"
        says = _SAYS[what] if what != "unfounded" else _SAYS["unfounded"][int(rng.integers(3))]
        by = _REPORTERS[int(rng.integers(len(_REPORTERS)))]
        earliest = max(first, dead_on.get(person, first))
        on = earliest + dt.timedelta(days=int(rng.integers((end - earliest).days + 1)))
        rows.append(
            {
                "tipoff_id": tipoff_id(person, by, str(says), on),
                "person_id": person,
                "reported_by": by,
                "says": f"{person} {says}",
                "received_on": on,
            }
        )
    return pa.Table.from_pylist(rows, schema=TIPOFF)


def _notices(run: CertificationRun, persons: pa.Table, policy: Policy, first: dt.date) -> pa.Table:
    """The month's reminder queue: one row per reminder, by SMS to the person's phone, else
    by letter to their address."""
    db = duck.connect()
    db.register("due", reminders_due(run.certifications, policy, run.as_of,
                                     days=(run.as_of - first).days + 1))  # fmt: skip
    db.register("persons", persons.select(["person_id", "name", "phone", "address", "village"]))
    return db.sql(
        """SELECT d.due_on, d.person_id, p.name, p.village,
                  CASE WHEN p.phone IS NOT NULL AND p.phone <> '' THEN 'sms' ELSE 'letter' END
                      AS channel,
                  CASE WHEN p.phone IS NOT NULL AND p.phone <> '' THEN p.phone ELSE p.address END
                      AS send_to,
                  d.reminder_no, d.warning_until, d.message
           FROM due d JOIN persons p USING (person_id) ORDER BY d.due_on, d.person_id"""
    ).to_arrow_table()


def _confirmed(
    run: CertificationRun, persons: pa.Table, visits: pa.Table, first: dt.date
) -> pa.Table:
    """The month's confirmed list: deaths and departures for good confirmed at the door, and
    cases confirmed."""
    db = duck.connect()
    db.register("visits", visits)
    db.register("tasks", run.tasks)
    db.register("flags", run.flags)
    db.register("persons", persons.select(["person_id", "name", "address", "village", "grid"]))
    return db.sql(
        """WITH steps AS (
               SELECT kind, detail, person_ids,
                      unnest(from_json(history, '[{"at": "VARCHAR", "to_status": "VARCHAR"}]'))
                          AS s
               FROM flags),
           why AS (
               SELECT t.person_id, CASE v.result WHEN 'deceased' THEN 'death'
                      ELSE 'left the city for good' END || ' confirmed at the door on '
                      || strftime(v.visited_on, '%Y-%m-%d') AS reason
               FROM visits v JOIN tasks t USING (task_id) WHERE v.result IN ('deceased', 'left')
               UNION ALL
               SELECT unnest(person_ids), 'flag ' || kind || ' confirmed: ' || detail FROM steps
               WHERE s.to_status = 'confirmed' AND CAST(s.at AS DATE) >= $first)
           SELECT p.village, p.grid, w.person_id, p.name, p.address,
                  string_agg(DISTINCT w.reason, ' | ' ORDER BY w.reason) AS reason
           FROM why w JOIN persons p USING (person_id)
           GROUP BY ALL ORDER BY p.village, p.grid, w.person_id""",
        params={"first": first},
    ).to_arrow_table()


def _write_csv(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)


def _linked(city: Path, settings: Settings, out: Path, as_of: dt.date) -> RunResult:
    """The city linked in a data folder of the simulation's own (``out/linked``), from the
    live folder's linkage state, so that its persons keep their IDs: the live folder's
    versions, ledger and report are left as they were."""
    own = out / "linked"
    shutil.rmtree(own, ignore_errors=True)
    carried = Versions(settings.data_dir).linkage_to_carry()
    if carried.exists():
        shutil.copytree(carried, own / "linkage")
    return run_city(
        city,
        settings=settings.model_copy(update={"data_dir": own}),
        as_of=as_of,
        load_store=False,
    )


def simulate_city(
    city: Path,
    months: int,
    *,
    out: Path | None = None,
    settings: Settings | None = None,
    seed: int = 1,
    progress: Progress | None = None,
) -> Simulation:
    """Run ``months`` months of ``city`` in order from its first; write the month-by-month
    report, notice queues and village lists under ``out`` (default
    ``<data_dir>/simulation``). The same ``seed`` plays the same people."""
    if months < 1:
        raise InputError(f"months: {months}; simulate runs one month or more")
    settings = settings or get_settings()
    say = progress or (lambda _line: None)
    catalogue = Catalogue(settings.catalogue_dir)
    policy = Policy.load(settings.seed_dir / "policy.toml").check(catalogue)
    generator = GeneratorConfig.load(settings.seed_dir / "generator.toml")
    world = generator.world
    out = out or settings.data_dir / "simulation"
    first = generator.start_date.replace(day=1)
    rng = np.random.default_rng(seed)

    say("linking the city (ingest, normalise, link)")
    linked = _linked(city, settings, out, month_end(first))
    persons, enrollments, events = (
        linked.tables["persons"],
        linked.tables["enrollments"],
        linked.tables["events"],
    )
    say(f"linked: {persons.num_rows:,} persons, {events.num_rows:,} events")
    fates = _fates(city, enrollments, world, first, rng)
    ledger = LedgerInputs()
    result = Simulation(out=out)
    last: CertificationRun | None = None
    for _ in range(months):
        visits = VISIT.empty_table()
        if last is not None:
            visits = _visits(last, fates, world, first, rng)
            visited, visit_events = record_visits(last.tasks, visits)
            ledger = ledger.plus_evidence(
                LedgerInputs(visit_events=visit_events, visited_tasks=visited)
            )
            dead = _dead_by(fates, month_end(first))
            moves = _flag_moves(last, world, first, dead)
            ledger = replace(ledger, flag_moves=[*ledger.flag_moves, *moves])
        tips = _tipoffs(last, fates, persons, world, first, rng)
        ledger = replace(ledger, tipoffs=pa.concat_tables([ledger.tipoffs, tips]))
        rosters = _rosters_of(enrollments, first)
        last = decide(
            persons,
            rosters,
            events,
            policy,
            catalogue,
            month_end(first),
            ledger,
            previous_flags=last.flags if last is not None else None,
        )
        row = month_row(last, policy, ledger.visited_tasks, ledger.tipoffs)
        result.monthly.append(row)
        month = row["month"]
        _write_csv(_notices(last, persons, policy, first), out / "notices" / f"{month}.csv")
        suspected = village_list(last.certifications, persons, last.flags)
        _write_csv(suspected, out / "villages" / f"{month}-suspected.csv")
        confirmed = _confirmed(last, persons, visits, first)
        _write_csv(confirmed, out / "villages" / f"{month}-confirmed.csv")
        say(", ".join(f"{k} {v:,}" if isinstance(v, int) else str(v) for k, v in row.items()))
        first = _next_month(first)
    assert last is not None
    result.report = build_report(
        last,
        persons,
        rosters,
        events,
        catalogue,
        city=str(city),
        months=months,
        monthly=result.monthly,
    )
    write_report(result.report, out)
    return result
