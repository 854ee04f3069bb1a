"""The service's read model: what recognition and the work lists need, held in memory.

Recognition must answer a payroll of 10,000 ID numbers in well under a second
and single look-ups at close to the HTTP stack's own speed, on either store. So
the service keeps a projection of the graph — persons and their identifiers,
enrolments with their status, latest certifications, open tasks and flags — in
plain dictionaries, loaded from the store at start (:func:`load_read_model`) and
kept current by the service's own writes (each applied to the store in one
transaction first, then here). Writes made by other processes (a pipeline run)
are picked up by :meth:`linkgraph.service.Service.refresh`.

The loaders are fixed statements of this module (SQL over the embedded store's
tables, Cypher for Neo4j), never caller text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from linkgraph.graph.queries import node_table, rel_table
from linkgraph.graph.store import GraphStore


@dataclass(frozen=True, slots=True)
class PersonView:
    person_id: str
    name: str | None
    id_number: str | None
    birth_date: dt.date | None
    grid: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    enrollment_id: str
    person_id: str
    item_code: str
    enrolled_on: dt.date | None
    paid_until: dt.date | None
    monthly_amount: int | None
    status: str | None  # pay | warning | hold | hold_pending | stopped | ended | None
    valid_until: dt.date | None
    reason: str | None
    certified_by: str | None


@dataclass(frozen=True, slots=True)
class CertificationView:
    cert_id: str
    person_id: str
    status: str | None
    method: str | None
    certified_on: dt.date | None
    valid_until: dt.date | None
    rule: str | None


@dataclass(frozen=True, slots=True)
class TaskView:
    task_id: str
    person_id: str
    grid: str | None
    kind: str | None
    due_on: dt.date | None
    status: str | None
    reason: str | None

    @property
    def open(self) -> bool:
        return (self.status or "open") not in ("done", "closed", "cancelled")


@dataclass(frozen=True, slots=True)
class FlagView:
    flag_id: str
    kind: str | None
    status: str | None
    amount_at_risk: int | None
    months: int | None
    detail: str | None
    person_ids: tuple[str, ...]
    enrollment_ids: tuple[str, ...]


@dataclass
class ReadModel:
    """Dictionaries keyed for the service's look-ups; see the module docstring."""

    persons: dict[str, PersonView] = field(default_factory=dict)
    by_id_number: dict[str, str] = field(default_factory=dict)
    by_sscard: dict[str, str] = field(default_factory=dict)
    by_phone: dict[str, str] = field(default_factory=dict)
    by_name_dob: dict[tuple[str, dt.date], str] = field(default_factory=dict)
    enrollments: dict[str, EnrollmentView] = field(default_factory=dict)
    enrollments_of: dict[str, list[str]] = field(default_factory=dict)
    certifications: dict[str, CertificationView] = field(default_factory=dict)
    latest_cert: dict[str, str] = field(default_factory=dict)  # person -> cert_id
    tasks: dict[str, TaskView] = field(default_factory=dict)
    flags: dict[str, FlagView] = field(default_factory=dict)
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # ---------------------------------------------------------------- changes

    def put_person(self, p: PersonView) -> None:
        self.persons[p.person_id] = p
        if p.id_number:
            self.by_id_number.setdefault(p.id_number, p.person_id)
        if p.phone:
            self.by_phone.setdefault(p.phone, p.person_id)
        if p.name and p.birth_date:
            self.by_name_dob.setdefault((p.name, p.birth_date), p.person_id)

    def put_enrollment(self, e: EnrollmentView) -> None:
        old = self.enrollments.get(e.enrollment_id)
        if old is not None and old.person_id != e.person_id:
            self.enrollments_of.get(old.person_id, []).remove(e.enrollment_id)
        self.enrollments[e.enrollment_id] = e
        mine = self.enrollments_of.setdefault(e.person_id, [])
        if e.enrollment_id not in mine:
            mine.append(e.enrollment_id)

    def set_enrollment(self, enrollment_id: str, **changes: Any) -> EnrollmentView:
        e = replace(self.enrollments[enrollment_id], **changes)
        self.enrollments[enrollment_id] = e
        return e

    def put_certification(self, c: CertificationView) -> None:
        self.certifications[c.cert_id] = c
        latest = self.latest_cert.get(c.person_id)
        if latest is None or _cert_order(c) >= _cert_order(self.certifications[latest]):
            self.latest_cert[c.person_id] = c.cert_id

    # ---------------------------------------------------------------- reads

    def person_of_id_number(self, id_number: str) -> PersonView | None:
        pid = self.by_id_number.get(id_number)
        return self.persons.get(pid) if pid else None

    def enrollments_for(self, person_id: str) -> list[EnrollmentView]:
        return [self.enrollments[e] for e in self.enrollments_of.get(person_id, ())]

    def certification_of(self, person_id: str) -> CertificationView | None:
        cid = self.latest_cert.get(person_id)
        return self.certifications.get(cid) if cid else None

    def open_tasks(self, grid: str) -> list[TaskView]:
        return sorted(
            (t for t in self.tasks.values() if t.grid == grid and t.open),
            key=lambda t: (t.due_on or dt.date.max, t.task_id),
        )


def _cert_order(c: CertificationView) -> tuple[dt.date, str]:
    return (c.certified_on or dt.date.min, c.cert_id)


# ------------------------------------------------------------------- loading

_EMBEDDED = {
    "persons": f"""
        SELECT p.person_id, p.name, p.id_number, p.birth_date, p.grid,
               (SELECT min(r."end") FROM {rel_table("REACHABLE_AT")} r
                WHERE r.start = p.person_id) AS phone
        FROM {node_table("Person")} p""",
    "sscards": f"""
        SELECT DISTINCT s.sscard_no, r."end" AS person_id
        FROM {node_table("SourceRecord")} s
        JOIN {rel_table("RESOLVES_TO")} r ON r.start = s.record_id
        WHERE s.sscard_no IS NOT NULL""",
    "enrollments": f"""
        SELECT e.enrollment_id, h.start AS person_id, e.item_code, e.enrolled_on, e.paid_until,
               e.monthly_amount, e.status, e.valid_until, e.reason, e.certified_by
        FROM {node_table("Enrollment")} e JOIN {rel_table("HAS")} h ON h."end" = e.enrollment_id""",
    "certifications": f"""
        SELECT c.cert_id, cb.start AS person_id, c.status, c.method, c.certified_on,
               c.valid_until, c.rule
        FROM {node_table("Certification")} c
        JOIN {rel_table("CERTIFIED_BY")} cb ON cb."end" = c.cert_id""",
    "tasks": f"""
        SELECT t.task_id, f."end" AS person_id, i."end" AS grid, t.kind, t.due_on, t.status,
               t.reason
        FROM {node_table("Task")} t JOIN {rel_table("FOR")} f ON f.start = t.task_id
        LEFT JOIN {rel_table("IN")} i ON i.start = t.task_id""",
    "flags": f"""
        SELECT f.flag_id, f.kind, f.status, f.amount_at_risk, f.months, f.detail,
               coalesce((SELECT list(c."end" ORDER BY c."end") FROM {rel_table("CONCERNS")} c
                         WHERE c.start = f.flag_id), []) AS person_ids,
               coalesce((SELECT list(o."end" ORDER BY o."end") FROM {rel_table("ON")} o
                         WHERE o.start = f.flag_id), []) AS enrollment_ids
        FROM {node_table("Flag")} f""",
}

_CYPHER = {
    "persons": """
        MATCH (p:Person)
        OPTIONAL MATCH (p)-[:REACHABLE_AT]->(ph:Phone)
        WITH p, min(ph.number) AS phone
        RETURN p.person_id AS person_id, p.name AS name, p.id_number AS id_number,
               p.birth_date AS birth_date, p.grid AS grid, phone""",
    "sscards": """
        MATCH (s:SourceRecord)-[:RESOLVES_TO]->(p:Person) WHERE s.sscard_no IS NOT NULL
        RETURN DISTINCT s.sscard_no AS sscard_no, p.person_id AS person_id""",
    "enrollments": """
        MATCH (p:Person)-[:HAS]->(e:Enrollment)
        RETURN e.enrollment_id AS enrollment_id, p.person_id AS person_id,
               e.item_code AS item_code, e.enrolled_on AS enrolled_on,
               e.paid_until AS paid_until, e.monthly_amount AS monthly_amount,
               e.status AS status, e.valid_until AS valid_until, e.reason AS reason,
               e.certified_by AS certified_by""",
    "certifications": """
        MATCH (p:Person)-[:CERTIFIED_BY]->(c:Certification)
        RETURN c.cert_id AS cert_id, p.person_id AS person_id, c.status AS status,
               c.method AS method, c.certified_on AS certified_on,
               c.valid_until AS valid_until, c.rule AS rule""",
    "tasks": """
        MATCH (t:Task)-[:FOR]->(p:Person)
        OPTIONAL MATCH (t)-[:IN]->(g:Grid)
        RETURN t.task_id AS task_id, p.person_id AS person_id, g.code AS grid, t.kind AS kind,
               t.due_on AS due_on, t.status AS status, t.reason AS reason""",
    "flags": """
        MATCH (f:Flag)
        OPTIONAL MATCH (f)-[:CONCERNS]->(p:Person)
        WITH f, collect(DISTINCT p.person_id) AS person_ids
        OPTIONAL MATCH (f)-[:ON]->(e:Enrollment)
        WITH f, person_ids, collect(DISTINCT e.enrollment_id) AS enrollment_ids
        RETURN f.flag_id AS flag_id, f.kind AS kind, f.status AS status,
               f.amount_at_risk AS amount_at_risk, f.months AS months, f.detail AS detail,
               person_ids, enrollment_ids""",
}


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


def _fetch(store: GraphStore) -> dict[str, list[dict[str, Any]]]:
    """Rows of each projection statement, read through the store's own connection."""
    out: dict[str, list[dict[str, Any]]] = {}
    if store.backend == "neo4j":
        from linkgraph.graph.neo4j_store import Neo4jStore, map_driver_errors

        assert isinstance(store, Neo4jStore)
        with (
            map_driver_errors("loading the service's read model"),
            store.driver.session(database=store.database) as session,
        ):
            for name, cypher in _CYPHER.items():
                result = session.run(cypher)
                out[name] = [{k: _native(v) for k, v in r.items()} for r in result]
        return out
    from linkgraph.graph.embedded_store import EmbeddedStore

    assert isinstance(store, EmbeddedStore)
    for name, sql in _EMBEDDED.items():
        cursor = store.con.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def load_read_model(store: GraphStore) -> ReadModel:
    """Build the read model from everything ``store`` holds."""
    rows = _fetch(store)
    model = ReadModel()
    for r in rows["persons"]:
        model.put_person(PersonView(**r))
    for r in rows["sscards"]:
        model.by_sscard.setdefault(r["sscard_no"], r["person_id"])
    for r in rows["enrollments"]:
        r["monthly_amount"] = None if r["monthly_amount"] is None else int(r["monthly_amount"])
        model.put_enrollment(EnrollmentView(**r))
    for r in rows["certifications"]:
        model.put_certification(CertificationView(**r))
    for r in rows["tasks"]:
        model.tasks[r["task_id"]] = TaskView(**r)
    for r in rows["flags"]:
        r["person_ids"] = tuple(r["person_ids"] or ())
        r["enrollment_ids"] = tuple(r["enrollment_ids"] or ())
        model.flags[r["flag_id"]] = FlagView(**r)
    return model
