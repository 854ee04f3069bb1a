"""What an accepted write puts in the graph and the read model: one :class:`Write` per call.

Shared by the live path (:class:`linkgraph.service.Service`, which resolves and
checks the request first) and :func:`linkgraph.service.replay.replay_inbox` (which
writes the inbox back after a pipeline run replaced the store), so both write
the same nodes and relationships for the same request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from linkgraph import normalise
from linkgraph.dispatch import VISIT_CHANNELS, visit_event_id
from linkgraph.graph.model import GraphTables
from linkgraph.graph.schema import GraphSchema
from linkgraph.graph.store import GraphStore
from linkgraph.service.readmodel import (
    CertificationView,
    EnrollmentView,
    FlagView,
    PersonView,
    ReadModel,
    TaskView,
)
from linkgraph.service.rows import Change, EventRow, RosterChangeRow

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
    flags: list[FlagView] = field(default_factory=list)

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
            model.tasks[t.task_id] = t
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


def event_write(linked: list[tuple[EventRow, str, str | None]]) -> Write:
    """Evidence events ``(row, person_id, linked_by)`` with their person and channel."""
    nodes = {
        "EvidenceEvent": [
            {
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
        "HAS_EVIDENCE": [{"start": p, "end": r.event_id} for r, p, _ in linked],
        "FROM": [{"start": r.event_id, "end": r.channel} for r, _, _ in linked],
    }
    return Write(nodes, rels)


def new_person_id(row: RosterChangeRow) -> str:
    """The id of the person a new roster record founds (the same for the same record)."""
    digest = hashlib.sha256(f"{row.id_number or ''}|{row.record_id}".encode()).hexdigest()
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
    nodes: Rows = {k: [] for k in ("Person", "SourceRecord", "Enrollment", "BankAccount", "Phone")}
    rels: Rows = {k: [] for k in ("RESOLVES_TO", "RECORDS", "HAS", "OF", "PAID_TO", "REACHABLE_AT")}
    enrollments: dict[str, EnrollmentView] = {}
    persons: dict[str, PersonView] = {}
    sscards: dict[str, str] = {}
    for row, department, pid, is_new, probability in news:
        if is_new and pid not in persons:
            parsed = normalise.resident_id(row.id_number) if row.id_number else None
            person = PersonView(
                pid,
                normalise.name(row.name) if row.name else None,
                parsed.value if parsed and parsed.status in ("valid", "repaired") else None,
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
                }
            )
            if person.phone:
                nodes["Phone"].append({"number": person.phone})
                rels["REACHABLE_AT"].append({"start": pid, "end": person.phone})
        if row.sscard_no:
            sscards.setdefault(row.sscard_no, pid)
        cert = model.certification_of(pid)
        certified = cert is not None and cert.status == "certified"
        e = EnrollmentView(
            row.record_id,
            pid,
            str(row.item_code),
            row.enrolled_on,
            row.paid_until,
            row.monthly_amount,
            "pay" if certified else None,
            cert.valid_until if cert and certified else None,
            None,
            cert.cert_id if cert and certified else None,
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
    return Write(
        nodes,
        rels,
        persons=list(persons.values()),
        sscards=sscards,
        enrollments=list(enrollments.values()),
    )


def stop_write(
    model: ReadModel,
    flag_id: str,
    person_id: str,
    enrollment_ids: list[str],
    amount_at_risk: int,
    requested_by: str,
    reason: str,
    on: dt.date,
) -> Write:
    """A stop request: a ``stop_request`` flag on the person's enrolments (those the graph
    holds), each not yet ended or stopped held pending a human's confirmation. The amount
    is the one asked on ``on``: later changes to the enrolments do not move it."""
    named = [model.enrollments[i] for i in enrollment_ids if i in model.enrollments]
    held = [
        replace(
            e,
            status="hold_pending",
            reason=f"stop requested by {requested_by} on {on}; pending confirmation",
        )
        for e in named
        if e.status not in ("ended", "stopped")
    ]
    flag = FlagView(
        flag_id,
        "stop_request",
        "open",
        amount_at_risk,
        0,
        f"requested by {requested_by}: {reason}",
        (person_id,),
        tuple(e.enrollment_id for e in named),
    )
    nodes = {
        "Flag": [
            {
                "flag_id": flag.flag_id,
                "kind": flag.kind,
                "amount_at_risk": flag.amount_at_risk,
                "months": flag.months,
                "status": flag.status,
                "detail": flag.detail,
            }
        ],
        "Enrollment": [enrollment_row(e) for e in held],
    }
    rels = {
        "CONCERNS": [{"start": flag_id, "end": person_id}],
        "ON": [{"start": flag_id, "end": i} for i in flag.enrollment_ids],
    }
    return Write(nodes, rels, enrollments=held, flags=[flag])


def flag_write(model: ReadModel, flag: FlagView, to: str, who: str, why: str) -> Write:
    """``flag`` moved to ``to``: a stop request confirmed stops the enrolments it holds,
    dismissed lifts the hold (paid again if the certification they rest on holds)."""
    changed = []
    if flag.kind == "stop_request" and to in ("confirmed", "dismissed"):
        for eid in flag.enrollment_ids:
            e = model.enrollments.get(eid)
            if e is None or e.status != "hold_pending":
                continue
            if to == "confirmed":
                changed.append(
                    replace(e, status="stopped", reason=f"stop confirmed by {who}: {why}")
                )
            else:
                cert = model.certifications.get(e.certified_by or "")
                back = "pay" if cert is not None and cert.status == "certified" else None
                changed.append(replace(e, status=back, reason=f"stop request dismissed: {why}"))
    return Write(
        {
            "Flag": [{"flag_id": flag.flag_id, "status": to}],
            "Enrollment": [enrollment_row(e) for e in changed],
        },
        {},
        enrollments=changed,
        flags=[replace(flag, status=to)],
    )


def visit_write(
    model: ReadModel, task: TaskView, result: str, on: dt.date, note: str, who: str
) -> Write:
    """A grid worker's door check: seen alive certifies the person (manual check) and pays
    every live enrolment not held by a stop request; deceased stops them all; moved and
    not found leave the task open for a follow-up (:mod:`linkgraph.dispatch`)."""
    status = "done" if result in VISIT_CHANNELS else "open"
    done = replace(
        task,
        status=status,
        reason=f"visit by {who} on {on}: {result}" + (f" ({note})" if note else ""),
    )
    write = Write(
        {"Task": [{"task_id": done.task_id, "status": done.status, "reason": done.reason}]},
        {},
        tasks=[done],
    )
    channel = VISIT_CHANNELS.get(result)
    if channel is None:
        return write
    pid = task.person_id
    event_id = visit_event_id(task.task_id, on)
    write.nodes["EvidenceEvent"] = [
        {
            "event_id": event_id,
            "channel": channel,
            "occurred_on": on,
            "reported_on": on,
            "linked_by": "manual",
        }
    ]
    write.rels["HAS_EVIDENCE"] = [{"start": pid, "end": event_id}]
    write.rels["FROM"] = [{"start": event_id, "end": channel}]
    live = [e for e in model.enrollments_for(pid) if e.status not in ("ended", "stopped")]
    if result == "seen_alive":
        cert = CertificationView(
            f"{pid}@{on.isoformat()}-visit",
            pid,
            "certified",
            "manual",
            on,
            _add_months(on, 12),
            "M1-grid-visit",
        )
        write.nodes["Certification"] = [
            {
                "cert_id": cert.cert_id,
                "status": cert.status,
                "method": cert.method,
                "certified_on": cert.certified_on,
                "valid_until": cert.valid_until,
                "rule": cert.rule,
            }
        ]
        write.rels["CERTIFIED_BY"] = [{"start": pid, "end": cert.cert_id}]
        write.rels["BASED_ON"] = [{"start": cert.cert_id, "end": event_id}]
        write.certifications = [cert]
        write.enrollments = [
            replace(
                e,
                status="pay",
                valid_until=cert.valid_until,
                certified_by=cert.cert_id,
                reason=f"seen alive by {who} on {on}",
            )
            for e in live
            if e.status != "hold_pending"
        ]
    else:
        write.enrollments = [
            replace(e, status="stopped", reason=f"death confirmed at the door by {who} on {on}")
            for e in live
        ]
    write.nodes["Enrollment"] = [enrollment_row(e) for e in write.enrollments]
    return write


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def enrollment_row(e: EnrollmentView) -> dict[str, Any]:
    return {
        "enrollment_id": e.enrollment_id,
        "item_code": e.item_code,
        "enrolled_on": e.enrolled_on,
        "paid_until": e.paid_until,
        "monthly_amount": e.monthly_amount,
        "status": e.status,
        "valid_until": e.valid_until,
        "reason": e.reason,
        "certified_by": e.certified_by,
    }
