"""The service's read model: what recognition and the work lists need, held in memory.

Recognition must answer a payroll of 10,000 ID numbers in well under a second
and single look-ups at close to the HTTP stack's own speed, on either store. So
the service keeps the core's results — persons and their identifiers, enrolments
with their status, latest certifications, open tasks and flags — in plain
dictionaries, loaded from the current version's tables (:func:`load_read_model`,
the same rows the graph stores receive, whichever store is in use) and kept
current by the live path's decisions. A new version (a monthly run) is picked up
by :meth:`linkgraph.service.context.ServiceContext.refresh`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from linkgraph.flags import Flag, history_from_json
from linkgraph.graph.model import CERT_SUFFIX
from linkgraph.versions import Version


@dataclass(frozen=True, slots=True)
class PersonView:
    person_id: str
    name: str | None
    id_number: str | None
    birth_date: dt.date | None
    grid: str | None
    phone: str | None
    village: str | None = None
    district: str | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    enrollment_id: str
    person_id: str
    item_code: str
    enrolled_on: dt.date | None
    paid_until: dt.date | None
    monthly_amount: int | None
    status: str | None  # the core's pay | warning | hold | stop; ended; None until decided
    valid_until: dt.date | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CertificationView:
    cert_id: str
    person_id: str
    status: str | None
    method: str | None
    certified_on: dt.date | None
    valid_until: dt.date | None
    rule: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> CertificationView:
        """The view of a person's certification (a :data:`linkgraph.certify.CERTIFICATION`
        row), keyed as its graph node."""
        return cls(
            row["person_id"] + CERT_SUFFIX,
            row["person_id"],
            row["status"],
            row["method"],
            row["certified_on"],
            row["valid_until"],
            row["rule"],
        )


@dataclass(frozen=True, slots=True)
class TaskView:
    task_id: str
    person_id: str
    grid: str | None
    kind: str | None
    due_on: dt.date | None
    status: str | None
    reason: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> TaskView:
        """The view of a door task (a :data:`linkgraph.dispatch.TASK` row)."""
        return cls(
            row["task_id"],
            row["person_id"],
            row["grid"],
            "door_knock",
            row["due_on"],
            row["status"],
            row["reason"],
        )

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
    amount_recovered: int = 0
    history: str = "[]"  # the steps of its workflow, as the flags table holds them

    def as_flag(self) -> Flag:
        """The flag as the workflow (:func:`linkgraph.flags.transition`) takes it."""
        return Flag(
            flag_id=self.flag_id,
            kind=self.kind or "",
            key="",
            person_ids=self.person_ids,
            enrollment_ids=self.enrollment_ids,
            amount_at_risk=self.amount_at_risk or 0,
            months=self.months or 0,
            status=(self.status or "open"),  # type: ignore[arg-type]
            amount_recovered=self.amount_recovered,
            history=history_from_json(self.history),
        )


@dataclass
class ReadModel:
    """Dictionaries keyed for the service's look-ups; see the module docstring."""

    persons: dict[str, PersonView] = field(default_factory=dict)
    by_id_number: dict[str, str] = field(default_factory=dict)  # a person's own ID number
    # Identifiers that name one person, by kind: what evidence is tied through, as in the run.
    by_sscard: dict[str, str] = field(default_factory=dict)
    by_phone: dict[str, str] = field(default_factory=dict)
    by_name_dob: dict[tuple[str, dt.date], str] = field(default_factory=dict)
    by_event_id_number: dict[str, str] = field(default_factory=dict)
    enrollments: dict[str, EnrollmentView] = field(default_factory=dict)
    enrollments_of: dict[str, list[str]] = field(default_factory=dict)
    certifications: dict[str, CertificationView] = field(default_factory=dict)
    latest_cert: dict[str, str] = field(default_factory=dict)  # person -> cert_id
    tasks: dict[str, TaskView] = field(default_factory=dict)
    tasks_of: dict[str, list[str]] = field(default_factory=dict)  # person -> task ids
    task_rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # TASK rows, for visits
    flags: dict[str, FlagView] = field(default_factory=dict)
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # ---------------------------------------------------------------- changes

    def put_person(self, p: PersonView) -> None:
        self.persons[p.person_id] = p
        if p.id_number:
            self.by_id_number.setdefault(p.id_number, p.person_id)
            self.by_event_id_number.setdefault(p.id_number, p.person_id)
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

    def put_task(self, t: TaskView) -> None:
        self.tasks[t.task_id] = t
        mine = self.tasks_of.setdefault(t.person_id, [])
        if t.task_id not in mine:
            mine.append(t.task_id)

    def put_certification(self, c: CertificationView) -> None:
        self.certifications[c.cert_id] = c
        latest = self.latest_cert.get(c.person_id)
        if latest is None or _cert_order(c) >= _cert_order(self.certifications[latest]):
            self.latest_cert[c.person_id] = c.cert_id

    # ---------------------------------------------------------------- reads

    def person_of_id_number(self, id_number: str) -> PersonView | None:
        """The person who holds this number, else the one person whose records carry it (a
        roster's slip of its holder's number, by which evidence is tied to them too)."""
        pid = self.by_id_number.get(id_number) or self.by_event_id_number.get(id_number)
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


def load_read_model(version: Version) -> ReadModel:
    """The read model of a version: the core's results as the monthly run wrote them.

    A person is found by the ID number they hold (when no other person holds it);
    evidence is tied only through identifiers that name one person
    (:func:`linkgraph.identity.identifier_keys`), as the batch linking does.
    """
    model = ReadModel()
    owners: dict[str, list[str]] = {}
    for r in version.table("persons").to_pylist():
        model.persons[r["person_id"]] = PersonView(
            r["person_id"],
            r["name"],
            r["id_number"],
            r["birth_date"],
            r["grid"],
            r["phone"],
            r["village"],
            r["district"],
        )
        if r["id_number"]:
            owners.setdefault(r["id_number"], []).append(r["person_id"])
    model.by_id_number = {idn: pids[0] for idn, pids in owners.items() if len(pids) == 1}
    lookups = {
        "id_number": model.by_event_id_number,
        "sscard_no": model.by_sscard,
        "phone": model.by_phone,
    }
    keys = version.table("keys")
    for kind, value, pid in zip(
        keys["kind"].to_pylist(),
        keys["value"].to_pylist(),
        keys["person_id"].to_pylist(),
        strict=True,
    ):
        if kind in lookups:
            lookups[kind][value] = pid
        elif kind == "name_dob":
            name, _, born = value.rpartition("|")
            model.by_name_dob[(name, dt.date.fromisoformat(born))] = pid
    for c in version.table("certifications").to_pylist():
        model.put_certification(CertificationView.of(c))
    decided = {r["enrollment_id"]: r for r in version.table("recognitions").to_pylist()}
    for e in version.table("enrollments").to_pylist():
        r = decided.get(e["enrollment_id"], {})
        model.put_enrollment(
            EnrollmentView(
                e["enrollment_id"],
                e["person_id"],
                e["item_code"],
                e["enrolled_on"],
                e["paid_until"],
                e["monthly_amount"],
                r.get("status"),
                r.get("valid_until"),
                r.get("reason"),
            )
        )
    for t in version.table("tasks").to_pylist():
        model.task_rows[t["task_id"]] = t
        model.put_task(TaskView.of(t))
    for f in version.table("flags").to_pylist():
        model.flags[f["flag_id"]] = FlagView(
            f["flag_id"],
            f["kind"],
            f["status"],
            f["amount_at_risk"],
            f["months"],
            f["detail"],
            tuple(f["person_ids"] or ()),
            tuple(f["enrollment_ids"] or ()),
            f["amount_recovered"] or 0,
            f["history"] or "[]",
        )
    return model
