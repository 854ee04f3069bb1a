"""Casework: what people's inputs in the ledger mean for the core, written once.

A door visit becomes an evidence event (:func:`linkgraph.dispatch.record_visit`)
and closes its task; a stop request holds the enrolments it names until a human
confirms (stop) or dismisses it (:func:`linkgraph.recognise.recognise` reads it
as a :data:`~linkgraph.recognise.STOP_REQUEST` row) and is a ``stop_request``
flag; a flag decision moves a flag through :func:`linkgraph.flags.transition`
(money recovered in cash or by an offset against arrears, written off, or the amount
at risk corrected, each a step of its own); a tip-off is a door check for the person's
grid worker (:func:`linkgraph.dispatch.door_tasks`) and holds nothing by itself;
a roster batch adds records to link and changes enrolments; an API event batch
adds feed rows.

:func:`ledger_inputs` reads all of it from the ledger's entries in order, for the
monthly run (everyone) and the live service (the persons a write touches)
alike, so both decide from the same inputs with the same functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from linkgraph import duck
from linkgraph.decisions import FlagDecision, RecoveryKind
from linkgraph.dispatch import TASK, TIPOFF, Task, record_visit
from linkgraph.errors import InputError
from linkgraph.flags import (
    FLAG,
    Flag,
    IllegalTransition,
    flags_from_table,
    flags_to_table,
)
from linkgraph.flags import transition as move_flag
from linkgraph.ingest import day_fault
from linkgraph.ledger import Entry
from linkgraph.recognise import STOP_REQUEST
from linkgraph.tables import ENROLLMENT, EVENT, LINKED_EVENT, ROSTER, conform

STOP_FLAG = "stop_request"


@dataclass(frozen=True, slots=True)
class FlagMove:
    """A human's decision on a flag (``linkgraph flag`` or the API), as the ledger holds it."""

    flag_id: str
    to: FlagDecision
    who: str
    why: str
    amount: int | None
    at: dt.datetime
    over_recovery_reason: str | None = None
    recovery_kind: RecoveryKind | None = None  # cash or offset, for ``recovered``

    def applied_to(self, flag: Flag) -> Flag:
        """``flag`` after this decision, checked by :func:`linkgraph.flags.transition`."""
        return move_flag(
            flag,
            self.to,
            self.who,
            self.why,
            self.amount,
            over_recovery_reason=self.over_recovery_reason,
            recovery_kind=self.recovery_kind,
            at=self.at,
        )


@dataclass
class LedgerInputs:
    """The ledger's entries as the core's inputs (see the module docstring)."""

    raw_events: pa.Table = field(default_factory=EVENT.empty_table)
    linked_events: pa.Table = field(default_factory=LINKED_EVENT.empty_table)
    roster_records: pa.Table = field(default_factory=ROSTER.empty_table)
    roster_edits: list[dict[str, Any]] = field(default_factory=list)
    visit_events: pa.Table = field(default_factory=LINKED_EVENT.empty_table)
    visited_tasks: pa.Table = field(default_factory=TASK.empty_table)
    stop_requests: pa.Table = field(default_factory=STOP_REQUEST.empty_table)
    stop_flags: pa.Table = field(default_factory=FLAG.empty_table)
    flag_moves: list[FlagMove] = field(default_factory=list)
    tipoffs: pa.Table = field(default_factory=TIPOFF.empty_table)
    mark: int = -1  # seq of the last entry read

    def plus_evidence(self, later: LedgerInputs) -> LedgerInputs:
        """These inputs and ``later``'s events, records, roster changes and visits (what
        adds up; stop requests and flag decisions interact, so they are read whole)."""
        return replace(
            self,
            raw_events=pa.concat_tables([self.raw_events, later.raw_events]),
            linked_events=pa.concat_tables([self.linked_events, later.linked_events]),
            roster_records=pa.concat_tables([self.roster_records, later.roster_records]),
            roster_edits=[*self.roster_edits, *later.roster_edits],
            visit_events=pa.concat_tables([self.visit_events, later.visit_events]),
            visited_tasks=apply_visits(self.visited_tasks, later.visited_tasks),
            mark=max(self.mark, later.mark),
        )

    def for_persons(self, person_ids: Iterable[str]) -> LedgerInputs:
        """Only what concerns these persons (the live path decides a few at a time)."""
        ids = pa.array(sorted(set(person_ids)), pa.string())

        def mine(table: pa.Table) -> pa.Table:
            return table.filter(pc.is_in(table["person_id"], ids))

        return replace(
            self,
            linked_events=mine(self.linked_events),
            visit_events=mine(self.visit_events),
            visited_tasks=mine(self.visited_tasks),
            stop_requests=mine(self.stop_requests),
            tipoffs=mine(self.tipoffs),
        )


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows read back from JSON (dates as ISO strings) as a typed table."""
    dates = [f.name for f in schema if f.type == pa.date32()]
    as_text = pa.schema([pa.field(f.name, pa.string()) if f.name in dates else f for f in schema])
    for row in rows:
        for name in dates:
            value = row.get(name)
            if isinstance(value, dt.date):
                row[name] = value.isoformat()
            elif isinstance(value, str):
                row[name] = value[:10]
    return pa.Table.from_pylist(rows, schema=as_text).cast(schema)


def _day(entry: Entry, key: str = "on") -> dt.date:
    value = entry.get(key)
    if value:
        return dt.date.fromisoformat(str(value)[:10])
    return dt.datetime.fromisoformat(entry["received_at"]).date()


def with_visit_events(events: pa.Table, ledger: LedgerInputs) -> pa.Table:
    """Linked events and the evidence the ledger's door visits produced."""
    if ledger.visit_events.num_rows == 0:
        return events
    return pa.concat_tables([conform(events, LINKED_EVENT, "events"), ledger.visit_events])


def stop_flag(entry: Entry) -> Flag:
    """The ``stop_request`` flag a stop request raises (open until a human decides)."""
    return Flag(
        flag_id=entry["flag_id"],
        kind=STOP_FLAG,
        key=entry["person_id"],
        person_ids=(entry["person_id"],),
        enrollment_ids=tuple(entry["enrollment_ids"]),
        amount_at_risk=int(entry["amount_at_risk"]),
        months=0,
        detail=f"requested by {entry['requested_by']}: {entry['reason']}",
        raised_on=_day(entry),
    )


def visit(entry: Entry) -> tuple[Task, pa.Table]:
    """A door visit entry as its task after the visit and its evidence event (0 or 1 row)."""
    return record_visit(Task(**entry["task"]), entry["result"], entry["by"], _day(entry))


def tipoff_id(person_id: str, reported_by: str, says: str, on: dt.date) -> str:
    """A tip-off's id: the same report (person, reporter, words, day) sent twice is one."""
    text = "|".join([person_id, reported_by.strip(), says.strip(), on.isoformat()])
    return "T" + hashlib.sha256(text.encode()).hexdigest()[:15]


def tipoff_entry(
    person_id: str, reported_by: str, says: str, on: dt.date, today: dt.date
) -> dict[str, Any]:
    """The fields of a ``tipoff`` ledger entry, checked: who reported it and what they say
    (neither blank), received ``on`` a day neither before 1900 nor after ``today``. The one
    way a tip-off enters the ledger (``linkgraph tipoff`` and ``POST /v1/tipoffs``)."""
    if not reported_by.strip() or not says.strip():
        raise InputError("a tip-off needs who reported it and what they say")
    fault = day_fault(on, today)
    if fault:
        raise InputError(f"on: {fault}")
    return {
        "tipoff_id": tipoff_id(person_id, reported_by, says, on),
        "person_id": person_id,
        "reported_by": reported_by.strip(),
        "says": says.strip(),
        "on": on,
    }


def tipoff(entry: Entry) -> dict[str, Any]:
    """A tip-off entry as a :data:`~linkgraph.dispatch.TIPOFF` row."""
    on = _day(entry)
    return {
        "tipoff_id": entry.get("tipoff_id")
        or tipoff_id(entry["person_id"], entry["reported_by"], entry["says"], on),
        "person_id": entry["person_id"],
        "reported_by": entry["reported_by"],
        "says": entry["says"],
        "received_on": on,
    }


def flag_move(entry: Entry) -> FlagMove:
    return FlagMove(
        entry["flag_id"],
        entry["to_status"],
        entry["by"],
        entry["why"],
        entry.get("amount"),
        dt.datetime.fromisoformat(entry["received_at"]).replace(microsecond=0),
        entry.get("over_recovery_reason"),
        entry.get("recovery_kind"),
    )


def ledger_inputs(entries: Iterable[Entry]) -> LedgerInputs:
    """Everything the entries say, as tables the core reads (entries in ledger order)."""
    raw: list[dict[str, Any]] = []
    linked: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    edits: list[dict[str, Any]] = []
    visits: list[pa.Table] = []
    tasks: dict[str, dict[str, Any]] = {}
    stops: list[dict[str, Any]] = []
    flags: list[Flag] = []
    moves: list[FlagMove] = []
    tips: dict[str, dict[str, Any]] = {}
    mark = -1
    for entry in entries:
        mark = max(mark, int(entry.get("seq", mark)))
        kind = entry["kind"]
        if kind == "events":
            for row in entry["rows"]:
                raw.append({f.name: row.get(f.name) for f in EVENT})
                if row.get("person_id"):
                    linked.append({f.name: row.get(f.name) for f in LINKED_EVENT})
        elif kind == "roster":
            for row in entry["rows"]:
                if row["change"] == "new":
                    records.append(
                        {**{f.name: row.get(f.name) for f in ROSTER}, "source": row["department"]}
                    )
                else:
                    edits.append(row)
        elif kind == "visit":
            task, event = visit(entry)
            tasks[task.task_id] = task.model_dump()
            visits.append(event)
        elif kind == "stop":
            if any(f.flag_id == entry["flag_id"] for f in flags):
                continue  # the same request sent again: one request, one flag
            flags.append(stop_flag(entry))
            for eid in entry["enrollment_ids"]:
                stops.append(
                    {
                        "request_id": entry["flag_id"],
                        "person_id": entry["person_id"],
                        "enrollment_id": eid,
                        "requested_by": entry["requested_by"],
                        "requested_on": _day(entry),
                        "confirmed": None,
                        "confirmed_on": None,
                    }
                )
        elif kind == "flag":
            moves.append(flag_move(entry))
        elif kind == "tipoff":
            tip = tipoff(entry)
            tips.setdefault(tip["tipoff_id"], tip)  # the same report again: one check
    return LedgerInputs(
        raw_events=_table(raw, EVENT),
        linked_events=_table(linked, LINKED_EVENT),
        roster_records=_table(records, ROSTER),
        roster_edits=edits,
        visit_events=pa.concat_tables([LINKED_EVENT.empty_table(), *visits]),
        visited_tasks=_table(list(tasks.values()), TASK),
        stop_requests=_decided_stops(stops, flags, moves),
        stop_flags=flags_to_table(flags) if flags else FLAG.empty_table(),
        flag_moves=moves,
        tipoffs=_table(list(tips.values()), TIPOFF),
        mark=mark,
    )


def _decided_stops(
    stops: list[dict[str, Any]], flags: list[Flag], moves: list[FlagMove]
) -> pa.Table:
    """Stop requests with their flag as the decisions, replayed through the workflow, leave
    it: confirmed (a stop), dismissed (no effect) or open (pending, also after a reversal)."""
    table = flags_to_table(flags) if flags else FLAG.empty_table()
    decided = {f.flag_id: f for f in flags_from_table(apply_flag_moves(table, moves)[0])}
    rows = []
    for s in stops:
        flag = decided[s["request_id"]]
        verdict = {"open": None, "dismissed": False}.get(flag.status, True)
        confirmed = [h.at.date() for h in flag.history if h.to_status == "confirmed"]
        on = confirmed[-1] if verdict and confirmed else None
        rows.append({**s, "confirmed": verdict, "confirmed_on": on})
    return _table(rows, STOP_REQUEST)


def apply_flag_moves(flags: pa.Table, moves: list[FlagMove]) -> tuple[pa.Table, int]:
    """``flags`` after the moves, in order, through the workflow; (flags, moves skipped).

    A move on a flag that is not there, or that the workflow does not allow from
    where the flag now stands, is skipped and counted, never forced.
    """
    if not moves:
        return flags, 0
    moved_ids = pa.array(sorted({m.flag_id for m in moves}), pa.string())
    touched = pc.is_in(flags["flag_id"], moved_ids)
    by_id = {f.flag_id: f for f in flags_from_table(flags.filter(touched))}
    skipped = 0
    for m in moves:
        current = by_id.get(m.flag_id)
        if current is None:
            skipped += 1
            continue
        try:
            by_id[m.flag_id] = m.applied_to(current)
        except IllegalTransition:
            skipped += 1
    kept = flags.filter(pc.invert(touched))
    merged = pa.concat_tables([kept, flags_to_table(list(by_id.values()))])
    return merged.sort_by([("kind", "ascending"), ("flag_id", "ascending")]), skipped


def flag_decision(flags: pa.Table, since: list[Entry], decision: FlagMove) -> Flag:
    """The flag ``decision`` names after it, checked by the workflow.

    ``flags`` are a version's flags and ``since`` the ledger's entries after it, so
    the decision is checked against the flag as it stands now. Raises
    :class:`~linkgraph.flags.IllegalTransition` (an ``InputError``) when the flag is
    not there or the workflow refuses the decision.
    """
    later = ledger_inputs(since)
    table, _ = apply_flag_moves(
        pa.concat_tables([conform(flags, FLAG, "flags"), later.stop_flags]), later.flag_moves
    )
    found = flags_from_table(table.filter(pc.equal(table["flag_id"], decision.flag_id)))
    if not found:
        raise IllegalTransition(f"no flag {decision.flag_id!r}")
    return decision.applied_to(found[0])


def carry_flags(detected: pa.Table, previous: pa.Table | None, stop_flags: pa.Table) -> pa.Table:
    """Detected flags, plus those of the previous version found no more (a machine does
    not drop an investigator's case), plus the stop requests' flags: all as raised (on the
    day they were first raised), before the ledger's decisions are applied again."""
    detected = conform(detected, FLAG, "detected flags")
    if previous is not None and "severity" not in previous.column_names:
        # a version written before flags had a severity: grade() gives it from the policy
        previous = previous.append_column("severity", pa.nulls(previous.num_rows, pa.string()))
    if previous is not None and previous.num_rows:
        before = pc.index_in(detected["flag_id"], value_set=previous["flag_id"])
        first = pc.coalesce(previous["raised_on"].take(before), detected["raised_on"])
        detected = detected.set_column(
            detected.schema.get_field_index("raised_on"), "raised_on", first
        )
    parts = [detected, conform(stop_flags, FLAG, "stop flags")]
    if previous is not None and previous.num_rows:
        gone = previous.filter(
            pc.and_(
                pc.invert(pc.is_in(previous["flag_id"], detected["flag_id"])),
                pc.not_equal(previous["kind"], STOP_FLAG),
            )
        )
        n = gone.num_rows
        gone = (
            gone.set_column(gone.schema.get_field_index("status"), "status", pa.array(["open"] * n))
            .set_column(
                gone.schema.get_field_index("amount_recovered"),
                "amount_recovered",
                pa.array([0] * n, pa.int64()),
            )
            .set_column(gone.schema.get_field_index("history"), "history", pa.array(["[]"] * n))
        )
        parts.append(conform(gone, FLAG, "previous flags"))
    return pa.concat_tables(parts).sort_by([("kind", "ascending"), ("flag_id", "ascending")])


def apply_visits(tasks: pa.Table, visited: pa.Table) -> pa.Table:
    """Door tasks with each visited task as its visit left it (done, or open for a follow-up)."""
    if visited.num_rows == 0:
        return tasks
    kept = tasks.filter(pc.invert(pc.is_in(tasks["task_id"], visited["task_id"])))
    return pa.concat_tables([kept, conform(visited, TASK, "visited tasks")]).sort_by(
        [("grid", "ascending"), ("due_on", "ascending"), ("person_id", "ascending")]
    )


def apply_roster_edits(enrollments: pa.Table, edits: list[dict[str, Any]]) -> pa.Table:
    """Enrolments after the departments' changed and ended rows (in ledger order)."""
    if not edits:
        return enrollments
    rows = [
        {
            "enrollment_id": e["record_id"],
            "seq": i,
            "paid_until": e.get("ended_on") if e["change"] == "ended" else e.get("paid_until"),
            "monthly_amount": e.get("monthly_amount"),
            "bank_account": e.get("bank_account"),
        }
        for i, e in enumerate(edits)
    ]
    db = duck.connect()
    db.register("enr", conform(enrollments, ENROLLMENT, "enrollments"))
    db.register(
        "edits",
        pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [
                    ("enrollment_id", pa.string()),
                    ("seq", pa.int64()),
                    ("paid_until", pa.date32()),
                    ("monthly_amount", pa.int32()),
                    ("bank_account", pa.string()),
                ]
            ),
        ),
    )
    return (
        db.sql(
            """
        WITH last AS (
            SELECT enrollment_id,
                   arg_max(paid_until, seq) FILTER (WHERE paid_until IS NOT NULL) AS paid_until,
                   arg_max(monthly_amount, seq) FILTER (WHERE monthly_amount IS NOT NULL)
                       AS monthly_amount,
                   arg_max(bank_account, seq) FILTER (WHERE bank_account IS NOT NULL)
                       AS bank_account
            FROM edits GROUP BY enrollment_id
        )
        SELECT e.enrollment_id, e.person_id, e.item_code, e.department, e.enrolled_on,
               coalesce(l.paid_until, e.paid_until) AS paid_until,
               coalesce(l.monthly_amount, e.monthly_amount) AS monthly_amount,
               coalesce(l.bank_account, e.bank_account) AS bank_account
        FROM enr e LEFT JOIN last l USING (enrollment_id)
        ORDER BY e.enrollment_id
        """
        )
        .to_arrow_table()
        .cast(ENROLLMENT)
    )
