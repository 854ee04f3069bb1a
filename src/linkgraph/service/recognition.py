"""Benefit systems' recognition: is this person recognised for this item, and why.

The hot path of the API (single look-ups and payrolls of up to ``max_batch_rows``), so
it answers from the read model alone. No adverse decision is made by the machine
alone: a hold found by the machine (negative evidence) or asked for by a citizen is
shown as ``pending`` until a human (investigator, grid worker) confirms or dismisses it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from linkgraph import normalise
from linkgraph.errors import InputError
from linkgraph.service.context import Caller, Forbidden, NotFound, ServiceContext
from linkgraph.service.masking import shown_id
from linkgraph.service.readmodel import CertificationView, EnrollmentView, ReadModel

_STATUS = {
    "pay": ("recognised", False),
    "warning": ("warning", False),
    "hold": ("hold", True),  # negative evidence, a stop request or a lapse: a human decides
    "stop": ("stopped", False),  # a death or a stop request, confirmed by a human
    "ended": ("ended", False),
}


def status_of(e: EnrollmentView) -> tuple[str | None, bool]:
    """The enrolment's status as recognition names it, and whether a human must decide;
    shared by the answers of the use cases that change an enrolment."""
    return _STATUS.get(e.status or "", (e.status, False))


def _check_item(ctx: ServiceContext, caller: Caller, item_code: str) -> None:
    """Refuse an item that is not in the catalogue, or outside the caller's department."""
    department = ctx.item_department.get(item_code)
    if department is None:
        raise NotFound(
            f"benefit item {item_code!r} is not in the catalogue"
            f" (known: {', '.join(sorted(ctx.item_department))})"
        )
    scope = caller.principal.scope
    if scope.kind == "department" and scope.value != department:
        raise Forbidden(
            f"benefit item {item_code!r} belongs to department {department};"
            f" this key is scoped to department {scope.value}"
        )


def _recognition(
    ctx: ServiceContext, model: ReadModel, caller: Caller, id_number: str, item_code: str
) -> tuple[dict[str, Any], str | None]:
    """The answer for one ID number, and the person it names (for the audit entry).

    A person outside the caller's scope (a department's key asking about someone only
    another department pays) is answered as unknown: scope is not to be probed."""
    raw = id_number
    key = raw.strip().upper()
    person = model.person_of_id_number(key)
    if person is None:
        canonical = normalise.canonical_id(raw)
        if canonical:
            person = model.person_of_id_number(canonical)
    out: dict[str, Any] = {
        "id_number": shown_id(caller, key),
        "item_code": item_code,
        "person_id": None,
        "enrollment_id": None,
        "status": "unknown_person",
        "pending": False,
        "valid_until": None,
        "method": None,
        "basis": "no beneficiary with this ID number",
    }
    if person is None or not ctx.sees(caller, model, person.person_id):
        return out, None
    out["person_id"] = person.person_id
    enrollments = [e for e in model.enrollments_for(person.person_id) if e.item_code == item_code]
    cert = model.certification_of(person.person_id)
    if not enrollments:
        out.update(status="not_enrolled", basis=f"not enrolled in {item_code}")
        return out, person.person_id
    # The live enrolment first (not ended), then the latest paid.
    e = sorted(
        enrollments,
        key=lambda x: (x.status != "ended", x.paid_until or dt.date.min, x.enrollment_id),
    )[-1]
    out["enrollment_id"] = e.enrollment_id
    used = cert  # one certification per person serves every item
    status, pending = _STATUS.get(e.status or "", ("not_certified", False))
    if e.status is None and used is not None:
        status = "recognised" if used.status == "certified" else "warning"
    out.update(
        status=status,
        pending=pending,
        valid_until=e.valid_until or (used.valid_until if used else None),
        method=used.method if used else None,
        basis=_basis(e, used, status, pending),
    )
    return out, person.person_id


def _basis(e: EnrollmentView, cert: CertificationView | None, status: str, pending: bool) -> str:
    if status in ("hold", "stopped", "ended"):
        text = e.reason or (
            "negative evidence found by data comparison" if status == "hold" else status
        )
        if pending and "pending" not in text:
            text += "; pending a human check, no payment decision yet"
        return text
    if cert is None:
        return "no certification on record"
    how = {
        "strong": "strong evidence",
        "corroborated_weak": "corroborated weak evidence",
        "manual": "a manual check",
        "none": "the scheme's baseline",
    }.get(cert.method or "", cert.method or "certification")
    return f"certified on {cert.certified_on} by {how} (rule {cert.rule}); shared by all items"


async def recognise_async(
    ctx: ServiceContext, caller: Caller, id_number: str, item_code: str
) -> dict[str, Any]:
    """Recognition of one person for one item: status, valid until, method and basis."""
    _check_item(ctx, caller, item_code)
    answer, pid = _recognition(ctx, ctx.read_model(), caller, id_number, item_code)
    await ctx.audit.write_async(
        caller.entry(
            "recognition.read",
            [pid] if pid else [],
            item_code=item_code,
            status=answer["status"],
        ),
        durable=ctx.api.audit_reads == "fsync",
    )
    return answer


async def recognise_bulk_async(
    ctx: ServiceContext, caller: Caller, item_code: str, id_numbers: list[str]
) -> list[dict[str, Any]]:
    """Recognition of up to ``max_batch_rows`` ID numbers for one item (the payroll)."""
    _check_item(ctx, caller, item_code)
    if len(id_numbers) > ctx.api.max_batch_rows:
        raise InputError(
            f"at most {ctx.api.max_batch_rows} ID numbers per call, got {len(id_numbers)}"
        )
    model = ctx.read_model()
    answers = []
    subjects = []
    for index, id_number in enumerate(id_numbers):
        answer, pid = _recognition(ctx, model, caller, id_number, item_code)
        answer["index"] = index
        answers.append(answer)
        if pid:
            subjects.append(pid)
    await ctx.audit.write_async(
        caller.entry("recognition.bulk", subjects, item_code=item_code, asked=len(id_numbers)),
        durable=ctx.api.audit_reads == "fsync",
    )
    return answers
