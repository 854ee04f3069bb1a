"""What an accepted write batch puts in the graph: the rows of one store transaction.

Shared by the live path (:class:`linkgraph.service.Service`, which resolves and
checks each row first) and :func:`linkgraph.service.replay.replay_inbox` (which
writes the inbox back after a pipeline run replaced the store), so both write
the same nodes and relationships for the same row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from typing import Any

import pyarrow as pa

from linkgraph import normalise
from linkgraph.graph.model import GraphTables
from linkgraph.graph.schema import GraphSchema
from linkgraph.service.readmodel import EnrollmentView, PersonView, ReadModel
from linkgraph.service.rows import Change, EventRow, RosterChangeRow

Rows = dict[str, list[dict[str, Any]]]


def batch_tables(schema: GraphSchema, nodes: Rows, rels: Rows) -> GraphTables:
    """The rows as graph tables, typed by the schema (only the columns given are set)."""

    def typed(full: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=pa.schema([full.field(n) for n in rows[0]]))

    return GraphTables(
        {k: typed(schema.node(k).arrow_schema(), v) for k, v in nodes.items() if v},
        {k: typed(schema.rel_schema(k), v) for k, v in rels.items() if v},
    )


def event_tables(linked: list[tuple[EventRow, str, str | None]]) -> tuple[Rows, Rows]:
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
    return nodes, rels


def new_person_id(row: RosterChangeRow) -> str:
    """The id of the person a new roster record founds (the same for the same record)."""
    digest = hashlib.sha256(f"{row.id_number or ''}|{row.record_id}".encode()).hexdigest()
    return f"N{int(digest[:12], 16) % 10**9:09d}"


def roster_tables(
    model: ReadModel,
    who: str,
    on: dt.date,
    news: list[tuple[RosterChangeRow, str, str, bool, float]],
    edits: list[tuple[RosterChangeRow, EnrollmentView]],
) -> tuple[Rows, Rows, dict[str, EnrollmentView], list[PersonView]]:
    """New enrolments ``(row, department, person_id, is_new_person, probability)`` and
    changed or ended ones ``(row, enrolment as it stands)``, ``who`` sent on ``on``:
    (nodes, relationships, the enrolments as written, the new persons)."""
    nodes: Rows = {k: [] for k in ("Person", "SourceRecord", "Enrollment", "BankAccount", "Phone")}
    rels: Rows = {k: [] for k in ("RESOLVES_TO", "RECORDS", "HAS", "OF", "PAID_TO", "REACHABLE_AT")}
    enrollments: dict[str, EnrollmentView] = {}
    persons: dict[str, PersonView] = {}
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
    return nodes, rels, enrollments, list(persons.values())


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
