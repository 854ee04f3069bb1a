"""The live path of the core: the persons one write touches, decided by the monthly run's rules.

:class:`LiveCore` holds the current version (:mod:`linkgraph.versions`: its evidence
by person, its as-of date) and the ledger's entries. :meth:`LiveCore.decide` runs
:func:`linkgraph.pipeline.decide` — the very function the monthly run calls — over
just the persons a write touches, with the ledger entries including the one being
written; :func:`decided_write` turns its answer into the read model's views and the
graph rows of one store transaction. So an accepted event, visit or stop request
changes its person's answers within the request, and the next run gives the same.

Flags that compare persons with one another (shared accounts, duplicate claims)
are raised by the monthly run; the live path moves flags only by decisions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from linkgraph.casework import LedgerInputs, ledger_inputs
from linkgraph.catalogue import Catalogue
from linkgraph.graph.model import CERT_SUFFIX
from linkgraph.ledger import Entry
from linkgraph.policy import Policy
from linkgraph.service.readmodel import (
    CertificationView,
    EnrollmentView,
    PersonView,
    ReadModel,
    TaskView,
)
from linkgraph.tables import ENROLLMENT, PERSON
from linkgraph.versions import EventsByPerson, Version

if TYPE_CHECKING:
    from linkgraph.pipeline import CertificationRun

#: Entry kinds whose rows a version already holds once the run read them (evidence and
#: records); the others (visits, stop requests, flag decisions) are read whole, since
#: deciding a person again needs all of that person's.
_SINCE_MARK = ("events", "roster")

#: Entry kinds a pending write adds to the inputs read so far, without reading them again.
_ADDITIVE = ("events", "roster", "visit")

#: What a task still open becomes when the core no longer asks for it.
CLOSED = "closed"


def cert_id(person_id: str) -> str:
    """The Certification node's key, as the graph model writes it."""
    return person_id + CERT_SUFFIX


@dataclass(frozen=True, slots=True)
class Staged:
    """The read model as a write will leave it: its new persons, enrolments and tasks seen
    first (the write is applied only once its store transaction committed)."""

    model: ReadModel
    persons: dict[str, PersonView]
    enrollments: dict[str, EnrollmentView]
    tasks: dict[str, TaskView]

    def person(self, person_id: str) -> PersonView | None:
        return self.persons.get(person_id) or self.model.persons.get(person_id)

    def enrollment(self, enrollment_id: str) -> EnrollmentView:
        return self.enrollments.get(enrollment_id) or self.model.enrollments[enrollment_id]

    def enrollments_for(self, person_id: str) -> list[EnrollmentView]:
        mine = {e.enrollment_id: e for e in self.model.enrollments_for(person_id)}
        mine.update({i: e for i, e in self.enrollments.items() if e.person_id == person_id})
        return list(mine.values())

    def open_tasks_of(self, person_ids: set[str]) -> list[TaskView]:
        ids = {i for p in person_ids for i in self.model.tasks_of.get(p, ())}
        ids |= {i for i, t in self.tasks.items() if t.person_id in person_ids}
        tasks = [self.tasks.get(i) or self.model.tasks[i] for i in sorted(ids)]
        return [t for t in tasks if t.open]


@dataclass(frozen=True, slots=True)
class Received:
    """What the city holds of an event already received: the body it is compared on."""

    occurred_on: dt.date
    reported_on: dt.date
    person_id: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Received:
        return cls(_day(row["occurred_on"]), _day(row["reported_on"]), row.get("person_id"))

    def conflicts_with(self, other: Received) -> str | None:
        """How ``other``, sent under the same (channel, event_id), differs; None when it is
        the same event again. The person counts only when both name one: an event the
        city could not tie to anyone may be tied now that a roster names its person."""
        for name in ("occurred_on", "reported_on"):
            if getattr(self, name) != getattr(other, name):
                return f"{name} {getattr(other, name)} (received before: {getattr(self, name)})"
        if self.person_id and other.person_id and self.person_id != other.person_id:
            return "another person than the one it was received for"
        return None


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class LiveCore:
    """The current version and the ledger, for deciding a few persons at a time."""

    def __init__(
        self, version: Version, policy: Policy, catalogue: Catalogue, entries: list[Entry]
    ) -> None:
        self.version = version
        self.as_of = version.as_of
        self.mark = version.ledger_mark
        self.policy = policy
        self.catalogue = catalogue
        self.events = EventsByPerson(version)
        self.department = {i.code: i.department for i in catalogue.benefit_items}
        self.entries: list[Entry] = list(entries)
        self._inputs: LedgerInputs | None = None
        self._sent: dict[tuple[str, int], Received] = {}
        for entry in self.entries:
            self._note_events(entry)

    def add(self, entry: Entry) -> None:
        """An entry now in the ledger (its inputs kept up to date, not read again)."""
        self.entries.append(entry)
        self._note_events(entry)
        if self._inputs is not None and entry["kind"] in _ADDITIVE:
            self._inputs = self._inputs.plus_evidence(self._read([entry]))
        else:
            self._inputs = None

    def inputs(self, pending: Iterable[Entry] = ()) -> LedgerInputs:
        """The ledger's inputs for live decisions, with ``pending`` entries (not appended yet).

        Evidence and records the version already holds are left out (:data:`_SINCE_MARK`),
        and so are the events of visits it read (their tasks stay: a task's state is the
        visit's). A pending batch of evidence adds to the inputs read so far; a pending
        stop request or flag decision has them read again, since those interact.
        """
        pending = list(pending)
        if self._inputs is None or any(e["kind"] not in _ADDITIVE for e in pending):
            inputs = self._read([*self.entries, *pending])
            if pending:
                return inputs
            self._inputs = inputs
        if not pending:
            return self._inputs
        return self._inputs.plus_evidence(self._read(pending))

    def _note_events(self, entry: Entry) -> None:
        if entry["kind"] == "events" and int(entry.get("seq", self.mark + 1)) > self.mark:
            for r in entry["rows"]:
                self._sent[(r["channel"], int(r["event_id"]))] = Received.of(r)

    def received(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Received]:
        """The events among ``keys`` (channel, event_id) the city already holds: in the
        version (found by event id, any channel, then matched on the channel) or sent
        through the ledger since."""
        keys = list(keys)
        found = {k: self._sent[k] for k in keys if k in self._sent}
        wanted = set(keys)
        for r in self.events.find([event_id for _, event_id in keys]).to_pylist():
            key = (r["channel"], r["event_id"])
            if key in wanted:
                found.setdefault(key, Received.of(r))
        return found

    def _read(self, entries: list[Entry]) -> LedgerInputs:
        def new(e: Entry) -> bool:
            return int(e.get("seq", self.mark + 1)) > self.mark

        inputs = ledger_inputs([e for e in entries if e["kind"] not in _SINCE_MARK or new(e)])
        recent = [e for e in entries if e["kind"] == "visit" and new(e)]
        return replace(inputs, visit_events=ledger_inputs(recent).visit_events)

    def decide(
        self, model: Staged, person_ids: Iterable[str], pending: Iterable[Entry] = ()
    ) -> CertificationRun:
        """:func:`linkgraph.pipeline.decide` over these persons."""
        from linkgraph.pipeline import decide

        ids = sorted({p for p in person_ids if model.person(p) is not None})
        inputs = self.inputs(pending).for_persons(ids)
        events = pa.concat_tables([self.events.of(ids), inputs.linked_events])
        return decide(
            self._persons(model, ids),
            self._enrollments(model, ids),
            events,
            self.policy,
            self.catalogue,
            self.as_of,
            inputs,
            with_flags=False,
        )

    def _persons(self, model: Staged, ids: list[str]) -> pa.Table:
        rows = []
        for pid in ids:
            p = model.person(pid)
            assert p is not None
            rows.append(
                {
                    "person_id": pid,
                    "name": p.name,
                    "id_number": p.id_number,
                    "birth_date": p.birth_date,
                    "phone": p.phone,
                    "grid": p.grid,
                    "village": p.village,
                    "district": p.district,
                }
            )
        return pa.Table.from_pylist(rows, schema=PERSON)

    def _enrollments(self, model: Staged, ids: list[str]) -> pa.Table:
        rows = [
            {
                "enrollment_id": e.enrollment_id,
                "person_id": e.person_id,
                "item_code": e.item_code,
                "department": self.department.get(e.item_code),
                "enrolled_on": e.enrolled_on,
                "paid_until": e.paid_until,
                "monthly_amount": e.monthly_amount,
            }
            for pid in ids
            for e in model.enrollments_for(pid)
        ]
        return pa.Table.from_pylist(rows, schema=ENROLLMENT)


def decided_views(
    model: Staged, decision: CertificationRun
) -> tuple[list[EnrollmentView], list[CertificationView], list[TaskView]]:
    """(enrolments, certifications, tasks) of the read model after ``decision``.

    An ended enrolment stays ended (a department's word); a task of these persons
    that the core no longer asks for is closed, a visited one kept as the visit left it.
    """
    certifications = [CertificationView.of(c) for c in decision.certifications.to_pylist()]
    enrollments = []
    for r in decision.recognitions.to_pylist():
        e = model.enrollment(r["enrollment_id"])
        if e.status == "ended":
            continue
        enrollments.append(
            replace(
                e,
                status=r["status"],
                valid_until=r["valid_until"],
                reason=r["reason"],
            )
        )
    wanted = {t["task_id"]: t for t in decision.tasks.to_pylist()}
    persons = {c.person_id for c in certifications}
    tasks = [TaskView.of(t) for t in wanted.values()]
    tasks += [
        replace(t, status=CLOSED) for t in model.open_tasks_of(persons) if t.task_id not in wanted
    ]
    return enrollments, certifications, tasks


def enrollment_row(e: EnrollmentView) -> dict[str, Any]:
    """An Enrollment node's properties, all of them (rows of one write share their columns)."""
    return {
        "enrollment_id": e.enrollment_id,
        "item_code": e.item_code,
        "enrolled_on": e.enrolled_on,
        "paid_until": e.paid_until,
        "monthly_amount": e.monthly_amount,
        "status": e.status,
        "valid_until": e.valid_until,
        "reason": e.reason,
    }


def task_row(t: TaskView) -> dict[str, Any]:
    return {
        "task_id": t.task_id,
        "kind": t.kind,
        "due_on": t.due_on,
        "status": t.status,
        "reason": t.reason,
    }


def decision_rows(
    decision: CertificationRun, enrollments: list[EnrollmentView], tasks: list[TaskView]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """The graph rows (nodes, relationships) that project a live decision."""
    certs = decision.certifications.to_pylist()
    nodes: dict[str, list[dict[str, Any]]] = {
        "Certification": [
            {
                "cert_id": cert_id(c["person_id"]),
                "status": c["status"],
                "method": c["method"],
                "certified_on": c["certified_on"],
                "valid_until": c["valid_until"],
                "warning_until": c["warning_until"],
                "rule": c["rule"],
            }
            for c in certs
        ],
        "Enrollment": [enrollment_row(e) for e in enrollments],
        "Task": [task_row(t) for t in tasks],
        # the projection's Person.death_date is the death its certification found
        "Person": [{"person_id": c["person_id"], "death_date": c["death_on"]} for c in certs],
    }
    rels: dict[str, list[dict[str, Any]]] = {
        "CERTIFIED_BY": [{"start": c["person_id"], "end": cert_id(c["person_id"])} for c in certs],
        "BASED_ON": [
            {"start": cert_id(c["person_id"]), "end": key}
            for c in certs
            for key in sorted(set(c["evidence_event_keys"] or ()))
        ],
        "FOR": [{"start": t.task_id, "end": t.person_id} for t in tasks],
        "IN": [{"start": t.task_id, "end": t.grid} for t in tasks if t.grid],
    }
    return nodes, rels
