"""What an accepted write puts in the graph and the read model: one :class:`Write` per call.

Each builder turns one ledger entry's facts (the events, the records, the flag a
stop request raises, the task a visit closes, a flag's new status) into graph rows
and read-model views; :func:`decided` adds what the core then decides for the
persons the entry touches (:mod:`linkgraph.service.live`). Shared by the service
(a write as it arrives) and :mod:`linkgraph.service.catchup` (entries a new version
has not seen yet), so both write the same nodes for the same entry. No builder
holds a rule: statuses come from the core.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from linkgraph import normalise
from linkgraph.casework import stop_flag, visit
from linkgraph.flags import Flag, history_to_json
from linkgraph.graph.model import SETTLED_FLAG_STATUSES, GraphTables
from linkgraph.graph.schema import GraphSchema
from linkgraph.graph.store import GraphStore
from linkgraph.ledger import Entry
from linkgraph.service.live import (
    LiveCore,
    Staged,
    decided_views,
    decision_rows,
    enrollment_row,
    task_row,
)
from linkgraph.service.readmodel import (
    CertificationView,
    EnrollmentView,
    FlagView,
    PersonView,
    ReadModel,
    TaskView,
)
from linkgraph.service.rows import Change, EventRow, RosterChangeRow
from linkgraph.tables import event_key

Rows = dict[str, list[dict[str, Any]]]


@dataclass
class Write:
    """The rows of one store transaction, and the read model's views they change (applied
    only once the transaction committed, so a failed write leaves the model as it was)."""

    nodes: Rows
    rels: Rows
    persons: list[PersonView] = field(default_factory=list)
    sscards: dict[str, str] = field(default_factory=dict)
    enrollments: list[EnrollmentView] = field(default_factory=list)
    certifications: list[CertificationView] = field(default_factory=list)
    tasks: list[TaskView] = field(default_factory=list)
    task_rows: list[dict[str, Any]] = field(default_factory=list)  # TASK rows behind ``tasks``
    flags: list[FlagView] = field(default_factory=list)

    def merge(self, other: Write) -> Write:
        """This write and ``other`` as one transaction; ``other``'s rows win per key."""
        nodes: Rows = {}
        for label in {*self.nodes, *other.nodes}:
            keyed: dict[Any, dict[str, Any]] = {}
            for row in (*self.nodes.get(label, ()), *other.nodes.get(label, ())):
                key = next(iter(row.values()))
                keyed[key] = {**keyed.get(key, {}), **row}
            nodes[label] = list(keyed.values())
        rels: Rows = {}
        for rtype in {*self.rels, *other.rels}:
            pairs = {
                (r["start"], r["end"]): r
                for r in (*self.rels.get(rtype, ()), *other.rels.get(rtype, ()))
            }
            rels[rtype] = list(pairs.values())
        return Write(
            nodes,
            rels,
            persons=[*self.persons, *other.persons],
            sscards={**self.sscards, **other.sscards},
            enrollments=[*self.enrollments, *other.enrollments],
            certifications=[*self.certifications, *other.certifications],
            tasks=[*self.tasks, *other.tasks],
            task_rows=[*self.task_rows, *other.task_rows],
            flags=[*self.flags, *other.flags],
        )

    def upsert(self, store: GraphStore, schema: GraphSchema) -> None:
        """Write the rows as one store transaction (nothing is written if any part fails)."""
        tables = batch_tables(schema, self.nodes, self.rels)
        if tables.num_rows:
            store.upsert(tables, batch_size=tables.num_rows + 1)

    def apply(self, model: ReadModel) -> None:
        for p in self.persons:
            model.put_person(p)
        for sscard, pid in self.sscards.items():
            model.by_sscard.setdefault(sscard, pid)
        for e in self.enrollments:
            model.put_enrollment(e)
        for c in self.certifications:
            model.put_certification(c)
        for t in self.tasks:
            model.put_task(t)
        for row in self.task_rows:
            model.task_rows[row["task_id"]] = row
        for f in self.flags:
            model.flags[f.flag_id] = f


def batch_tables(schema: GraphSchema, nodes: Rows, rels: Rows) -> GraphTables:
    """The rows as graph tables, typed by the schema (only the columns given are set)."""

    def typed(full: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=pa.schema([full.field(n) for n in rows[0]]))

    return GraphTables(
        {k: typed(schema.node(k).arrow_schema(), v) for k, v in nodes.items() if v},
        {k: typed(schema.rel_schema(k), v) for k, v in rels.items() if v},
    )


#: An evidence event's properties besides its key (``cypher/schema.cypher``).
EVENT_PROPERTIES = ("event_id", "channel", "occurred_on", "reported_on", "linked_by")


def event_write(linked: list[tuple[EventRow, str, str | None]]) -> Write:
    """Evidence events ``(row, person_id, linked_by)`` with their person and channel."""
    nodes = {
        "EvidenceEvent": [
            {
                "event_key": event_key(r.channel, r.event_id),
                "event_id": r.event_id,
                "channel": r.channel,
                "occurred_on": r.occurred_on,
                "reported_on": r.reported_on,
                "linked_by": how,
            }
            for r, _, how in linked
        ]
    }
    rels = {
        "HAS_EVIDENCE": [
            {"start": p, "end": event_key(r.channel, r.event_id)} for r, p, _ in linked
        ],
        "FROM": [
            {"start": event_key(r.channel, r.event_id), "end": r.channel} for r, _, _ in linked
        ],
    }
    return Write(nodes, rels)


def new_person_id(row: RosterChangeRow) -> str:
    """The id of the person a new roster record founds: from its valid ID number, so that
    every record written with it founds the same person; else from the record itself."""
    key = normalise.canonical_id(row.id_number) or f"|{row.record_id}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"N{int(digest[:12], 16) % 10**9:09d}"


def roster_write(
    model: ReadModel,
    who: str,
    on: dt.date,
    news: list[tuple[RosterChangeRow, str, str, bool, float]],
    edits: list[tuple[RosterChangeRow, EnrollmentView]],
) -> Write:
    """New enrolments ``(row, department, person_id, is_new_person, probability)`` and
    changed or ended ones ``(row, enrolment as it stands)``, ``who`` sent on ``on``."""
    nodes: Rows = {
        k: [] for k in ("Person", "SourceRecord", "Enrollment", "BankAccount", "Phone", "Address")
    }
    rels: Rows = {
        k: []
        for k in ("RESOLVES_TO", "RECORDS", "HAS", "OF", "PAID_TO", "REACHABLE_AT", "LIVES_AT")
    }
    enrollments: dict[str, EnrollmentView] = {}
    persons: dict[str, PersonView] = {}
    sscards: dict[str, str] = {}
    for row, department, pid, is_new, probability in news:
        if is_new and pid not in persons:
            parsed = normalise.resident_id(row.id_number) if row.id_number else None
            person = PersonView(
                pid,
                normalise.name(row.name) if row.name else None,
                normalise.canonical_id(row.id_number),
                (parsed.birth_date if parsed else None)
                or (normalise.date(row.birth_date) if row.birth_date else None),
                None,
                normalise.phone(row.phone) if row.phone else None,
            )
            persons[pid] = person
            nodes["Person"].append(
                {
                    "person_id": pid,
                    "name": person.name,
                    "id_number": person.id_number,
                    "birth_date": person.birth_date,
                    "gender": row.gender,
                    "address": row.address,
                    # as the projection writes it: find_person's pinyin, run together
                    "pinyin": (normalise.pinyin_key(person.name) or "").replace(" ", "") or None,
                }
            )
            if row.address and row.address.strip():
                nodes["Address"].append({"address": row.address})
                rels["LIVES_AT"].append({"start": pid, "end": row.address})
            if person.phone:
                nodes["Phone"].append({"number": person.phone})
                rels["REACHABLE_AT"].append({"start": pid, "end": person.phone})
        if row.sscard_no:
            sscards.setdefault(row.sscard_no, pid)
        e = EnrollmentView(
            row.record_id,
            pid,
            str(row.item_code),
            row.enrolled_on,
            row.paid_until,
            row.monthly_amount,
            None,  # decided by the core (:func:`decided`)
            None,
            None,
        )
        enrollments[e.enrollment_id] = e
        nodes["SourceRecord"].append(
            {
                "record_id": row.record_id,
                "source": department,
                "name": row.name,
                "id_number": row.id_number,
                "birth_date": row.birth_date,
                "address": row.address,
                "sscard_no": row.sscard_no,
            }
        )
        rels["RESOLVES_TO"].append(
            {
                "start": row.record_id,
                "end": pid,
                "band": "non-match" if is_new else "match",
                "match_probability": probability,
            }
        )
        rels["RECORDS"].append({"start": row.record_id, "end": row.record_id})
        rels["HAS"].append({"start": pid, "end": row.record_id})
        rels["OF"].append({"start": row.record_id, "end": row.item_code})
        if row.bank_account:
            nodes["BankAccount"].append({"number": row.bank_account})
            rels["PAID_TO"].append({"start": row.record_id, "end": row.bank_account})
    for row, existing in edits:
        if row.change == Change.ENDED:
            ended = row.ended_on or existing.paid_until
            e = replace(
                existing,
                status="ended",
                paid_until=ended,
                reason=f"ended by {who} on {on}" + (f": {row.reason}" if row.reason else ""),
            )
        else:
            e = replace(
                existing,
                paid_until=row.paid_until or existing.paid_until,
                monthly_amount=row.monthly_amount or existing.monthly_amount,
            )
            if row.bank_account:
                nodes["BankAccount"].append({"number": row.bank_account})
                rels["PAID_TO"].append({"start": row.record_id, "end": row.bank_account})
        enrollments[e.enrollment_id] = e
    nodes["Enrollment"] = [enrollment_row(e) for e in enrollments.values()]
    for kind in ("BankAccount", "Phone"):
        nodes[kind] = list({r["number"]: r for r in nodes[kind]}.values())
    nodes["Address"] = list({r["address"]: r for r in nodes["Address"]}.values())
    return Write(
        nodes,
        rels,
        persons=list(persons.values()),
        sscards=sscards,
        enrollments=list(enrollments.values()),
    )


def person_facts(model: ReadModel, flags: list[FlagView]) -> list[dict[str, Any]]:
    """The ``open_flags`` and ``money_at_risk`` of the persons ``flags`` concern, with
    ``flags`` as they now stand: what the projection writes (:mod:`linkgraph.graph.model`),
    so a search shows a decision at once, not at the next run."""
    now = {f.flag_id: f for f in flags}
    persons = {p for f in flags for p in f.person_ids}
    open_flags = dict.fromkeys(persons, 0)
    at_risk = dict.fromkeys(persons, 0)
    for f in [*(f for i, f in model.flags.items() if i not in now), *now.values()]:
        if (f.status or "open") in SETTLED_FLAG_STATUSES:
            continue
        for p in persons.intersection(f.person_ids):
            open_flags[p] += 1
            at_risk[p] += (f.amount_at_risk or 0) - (f.amount_recovered or 0)
    return [
        {"person_id": p, "open_flags": open_flags[p], "money_at_risk": at_risk[p]}
        for p in sorted(persons)
    ]


def stop_write(model: ReadModel, entry: Entry) -> Write:
    """A stop request's ``stop_request`` flag on the person and the enrolments it names.
    The amount is the one asked that day: later changes to the enrolments do not move it.
    The holds themselves are the core's (:func:`linkgraph.recognise.recognise`)."""
    f = stop_flag(entry)
    view = FlagView(
        f.flag_id,
        f.kind,
        f.status,
        f.amount_at_risk,
        f.months,
        f.detail,
        f.person_ids,
        f.enrollment_ids,
    )
    nodes = {
        "Flag": [
            {
                "flag_id": f.flag_id,
                "kind": f.kind,
                "amount_at_risk": f.amount_at_risk,
                "months": f.months,
                "status": f.status,
                "detail": f.detail,
                "raised_on": f.raised_on,
            }
        ],
        "Person": person_facts(model, [view]),
    }
    rels = {
        "CONCERNS": [{"start": f.flag_id, "end": p} for p in f.person_ids],
        "ON": [{"start": f.flag_id, "end": i} for i in f.enrollment_ids],
    }
    return Write(nodes, rels, flags=[view])


def flag_write(model: ReadModel, flag: FlagView, decided: Flag) -> Write:
    """``flag`` as a decision left it (:func:`linkgraph.flags.transition`). What a stop
    request's confirmation or dismissal means for payment is the core's to say."""
    view = replace(
        flag,
        status=decided.status,
        amount_at_risk=decided.amount_at_risk,  # a correction sets it right
        amount_recovered=decided.amount_recovered,
        history=history_to_json(decided.history),
    )
    row = {
        "flag_id": flag.flag_id,
        "status": decided.status,
        "amount_at_risk": decided.amount_at_risk,
        "amount_recovered": decided.amount_recovered,
    }
    return Write({"Flag": [row], "Person": person_facts(model, [view])}, {}, flags=[view])


def visit_write(entry: Entry) -> Write:
    """A grid worker's door check: the task as the visit leaves it (done, or open for a
    follow-up) and the evidence event it produced (:func:`linkgraph.casework.visit`)."""
    task, event = visit(entry)
    row = task.model_dump()
    done = TaskView.of(row)
    write = Write({"Task": [task_row(done)]}, {}, tasks=[done], task_rows=[row])
    for e in event.to_pylist():
        key = event_key(e["channel"], e["event_id"])
        write.nodes["EvidenceEvent"] = [
            {
                "event_key": key,
                **{
                    k: e[k]
                    for k in ("event_id", "channel", "occurred_on", "reported_on", "linked_by")
                },
            }
        ]
        write.rels["HAS_EVIDENCE"] = [{"start": e["person_id"], "end": key}]
        write.rels["FROM"] = [{"start": key, "end": e["channel"]}]
    return write


def decided(
    model: ReadModel,
    live: LiveCore,
    person_ids: Iterable[str],
    pending: Iterable[Entry] = (),
    staged: Write | None = None,
) -> Write:
    """What the core decides for ``person_ids``, with ``pending`` entries counted and the
    persons, enrolments and tasks of ``staged`` (the write not yet applied) seen: their
    certifications, enrolment statuses and door tasks, as views and graph rows."""
    view = Staged(
        model,
        {p.person_id: p for p in staged.persons} if staged else {},
        {e.enrollment_id: e for e in staged.enrollments} if staged else {},
        {t.task_id: t for t in staged.tasks} if staged else {},
    )
    decision = live.decide(view, person_ids, pending)
    enrollments, certifications, tasks = decided_views(view, decision)
    nodes, rels = decision_rows(decision, enrollments, tasks)
    return Write(
        nodes,
        rels,
        enrollments=enrollments,
        certifications=certifications,
        tasks=tasks,
        task_rows=decision.tasks.to_pylist(),
    )
