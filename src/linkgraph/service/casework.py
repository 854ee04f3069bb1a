"""Casework: investigators' flags and their workflow, citizens' stop requests, tip-offs.

No adverse decision is made by the machine alone: a stop request holds the
enrolments at once, but only a case worker's move of its flag (confirmed or
dismissed) stops or resumes the payments; a tip-off holds nothing, it is a door check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from linkgraph import normalise
from linkgraph.decisions import WITH_AMOUNT
from linkgraph.errors import InputError
from linkgraph.service.context import Caller, Conflict, Forbidden, NotFound, ServiceContext
from linkgraph.service.keys import Role
from linkgraph.service.readmodel import FlagView
from linkgraph.service.recognition import status_of

# ------------------------------------------------------------------ flags


def _flag_dict(f: FlagView) -> dict[str, Any]:
    return {
        "flag_id": f.flag_id,
        "kind": f.kind,
        "status": f.status or "open",
        "amount_at_risk": f.amount_at_risk,
        "months": f.months,
        "detail": f.detail,
        "person_ids": list(f.person_ids),
        "enrollment_ids": list(f.enrollment_ids),
        "recovered": f.amount_recovered,
        "written_off": f.as_flag().amount_written_off,
    }


def list_flags(
    ctx: ServiceContext,
    caller: Caller,
    status: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the flags of a status and kind (any when None), and how many there are."""
    flags = [
        f
        for f in sorted(ctx.read_model().flags.values(), key=lambda f: f.flag_id)
        if (status is None or (f.status or "open") == status) and (kind is None or f.kind == kind)
    ]
    page = flags[offset : offset + limit]
    ctx.audit.write(caller.entry("flag.list", sorted({p for f in page for p in f.person_ids})))
    return [_flag_dict(f) for f in page], len(flags)


def get_flag(ctx: ServiceContext, caller: Caller, flag_id: str) -> dict[str, Any]:
    f = ctx.read_model().flags.get(flag_id)
    if f is None:
        raise NotFound(f"no flag {flag_id!r}")
    ctx.audit.write(caller.entry("flag.read", f.person_ids, flag_id=flag_id))
    return _flag_dict(f)


def transition_flag(
    ctx: ServiceContext,
    caller: Caller,
    flag_id: str,
    to: str,
    why: str,
    amount: int | None,
    over_recovery_reason: str | None = None,
    recovery_kind: str | None = None,
) -> dict[str, Any]:
    """A decision on a flag, checked by the workflow of :mod:`linkgraph.flags`
    (``transition``): confirm, dismiss, reopen, record money recovered (cash or an
    offset against arrears; partial recoveries add up), write off what is left,
    correct the amount at risk, or reverse the last decision. Every step is kept with
    who, when, why and how much."""
    from linkgraph.casework import FlagMove
    from linkgraph.flags import IllegalTransition

    with ctx.write_lock:
        model = ctx.read_model()
        f = model.flags.get(flag_id)
        if f is None:
            raise NotFound(f"no flag {flag_id!r}")
        if to in WITH_AMOUNT and amount is None:
            raise InputError(f"{to} needs the amount (yuan)")
        decision = FlagMove(
            flag_id,
            to,  # type: ignore[arg-type]
            str(caller.principal),
            why,
            amount,
            dt.datetime.now(dt.UTC).replace(microsecond=0),
            over_recovery_reason,
            recovery_kind,  # type: ignore[arg-type]
        )
        try:
            decision.applied_to(f.as_flag())
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from exc
        ctx.commit(
            caller,
            model,
            "flag",
            flag_id=flag_id,
            from_status=f.status or "open",
            to_status=to,
            why=why,
            amount=amount,
            over_recovery_reason=over_recovery_reason,
            recovery_kind=recovery_kind,
        )
        f = model.flags[flag_id]
    ctx.audit.write(
        caller.entry(
            f"flag.{to}",
            f.person_ids,
            flag_id=flag_id,
            why=why,
            amount=amount,
            recovery_kind=recovery_kind,
        )
    )
    return _flag_dict(f)


# ------------------------------------------------------------------ stop requests


@dataclass(frozen=True, slots=True)
class StopAsk:
    """A stop request as asked: whose benefits, which items, by whom and why."""

    id_number: str
    item_codes: list[str] | None
    requested_by: str
    reason: str
    requester_id_number: str | None = None


def stop_request(ctx: ServiceContext, caller: Caller, ask: StopAsk) -> dict[str, Any]:
    """Record a request to stop a person's benefits; whether it holds them at once is the
    core's rule (:func:`linkgraph.recognise.recognise`, policy ``stop_requests``)."""
    rules = ctx.policy.stop_requests
    subject = normalise.canonical_id(ask.id_number)
    if subject is None:
        raise NotFound("no beneficiary with this ID number (it is not a valid one)")
    requester = _requester(caller, ask, subject)
    department = caller.principal.scope.department
    for code in ask.item_codes or ():
        owner = ctx.item_department.get(code)
        if owner is None:
            raise InputError(f"item_codes: unknown benefit item {code!r}")
        if department is not None and owner != department:
            raise Forbidden(
                f"item_codes: {code} belongs to department {owner};"
                f" this key may stop only department {department}'s items"
            )
    with ctx.write_lock:
        model = ctx.read_model()
        person = model.person_of_id_number(subject)
        if person is None or not ctx.sees(caller, model, person.person_id):
            raise NotFound("no beneficiary with this ID number")
        targets = [
            e
            for e in model.enrollments_for(person.person_id)
            if (ask.item_codes is None or e.item_code in ask.item_codes)
            and (department is None or ctx.item_department.get(e.item_code) == department)
            and e.status not in ("ended", "stop")
        ]
        if not targets:
            raise NotFound("no live enrolment of this person matches the request")
        today = dt.date.today()
        flag_id = (
            "STOP-"
            + hashlib.sha256(
                "|".join(
                    [person.person_id, *(e.enrollment_id for e in targets), str(today)]
                ).encode()
            ).hexdigest()[:12]
        )
        repeat = flag_id in model.flags  # the same request again today: already on record
        built = (
            None
            if repeat
            else ctx.commit(
                caller,
                model,
                "stop",
                flag_id=flag_id,
                person_id=person.person_id,
                enrollment_ids=[e.enrollment_id for e in targets],
                amount_at_risk=sum(e.monthly_amount or 0 for e in targets),
                requested_by=ask.requested_by,
                requester_id_number=requester,
                reason=ask.reason,
                on=today,
            )
        )
        held = [model.enrollments[e.enrollment_id] for e in targets]
    holds = ask.requested_by in rules.hold_at_once
    ctx.audit.write(
        caller.entry(
            "stop.request",
            [person.person_id],
            flag_id=flag_id,
            requested_by=ask.requested_by,
            held=holds,
            reason=ask.reason,
        )
    )
    detail = (
        "payments are on hold until a case worker confirms the stop"
        if holds
        else f"a case worker will check this request (by {ask.requested_by});"
        " payments continue until they confirm it"
    )
    return {
        "request_id": flag_id,
        "status": "pending",
        "held": holds,
        "enrollments": [
            {
                "enrollment_id": e.enrollment_id,
                "item_code": e.item_code,
                "status": status_of(e)[0],
                "pending": status_of(e)[1],
            }
            for e in held
        ],
        "detail": detail
        + ("; this request was already on record" if repeat else "")
        + ("" if built is None or built.touched else "; the person is not in the results"),
    }


def _requester(caller: Caller, ask: StopAsk, subject: str) -> str | None:
    """The verified requester's ID number; the portal acts only for a requester it names,
    and a request 'by self' only for the person themself (else 403: not theirs to ask)."""
    requester = normalise.canonical_id(ask.requester_id_number)
    if ask.requester_id_number and requester is None:
        raise Forbidden("requester_id_number: not a valid ID number; the requester is not verified")
    if caller.principal.role == Role.CITIZEN and requester is None:
        raise Forbidden("requester_id_number: the portal must name the verified requester")
    if ask.requested_by == "self" and requester not in (None, subject):
        raise Forbidden("requester_id_number: a request 'by self' must come from the person")
    if ask.requested_by != "self" and requester == subject:
        raise Forbidden("requested_by: the requester is the person; send requested_by 'self'")
    return requester


# ------------------------------------------------------------------ tip-offs


def file_tipoff(
    ctx: ServiceContext,
    caller: Caller,
    id_number: str,
    reported_by: str,
    says: str,
    on: dt.date | None,
) -> dict[str, Any]:
    """Record a tip-off about a beneficiary, as ``linkgraph tipoff`` does
    (:func:`linkgraph.casework.tipoff_entry`); the core makes it a door check for the
    person's grid worker and holds nothing. A grid worker files only about their grid's
    persons (anyone else is not found, as for a department's key); the same report
    again is on record once."""
    from linkgraph.casework import tipoff_entry

    subject = normalise.canonical_id(id_number)
    if subject is None:
        raise NotFound("no beneficiary with this ID number (it is not a valid one)")
    today = dt.date.today()
    scope = caller.principal.scope
    with ctx.write_lock:
        model = ctx.read_model()
        person = model.person_of_id_number(subject)
        if (
            person is None
            or not ctx.sees(caller, model, person.person_id)
            or (scope.kind == "grid" and person.grid != scope.value)
        ):
            raise NotFound("no beneficiary with this ID number")
        tip = tipoff_entry(person.person_id, reported_by, says, on or today, today)
        assert ctx.live is not None
        repeat = tip["tipoff_id"] in ctx.live.inputs().tipoffs["tipoff_id"].to_pylist()
        if not repeat:
            ctx.commit(caller, model, "tipoff", **tip)
        tasks = [model.tasks[t] for t in model.tasks_of.get(person.person_id, ())]
        task = next((t for t in tasks if t.reason == "tip_off" and t.open), None)
    ctx.audit.write(
        caller.entry(
            "tipoff.file",
            [person.person_id],
            tipoff_id=tip["tipoff_id"],
            reported_by=tip["reported_by"],
        )
    )
    return {
        "tipoff_id": tip["tipoff_id"],
        "person_id": person.person_id,
        "received_on": tip["on"],
        "held": False,
        "task_id": task.task_id if task else None,
        "grid": person.grid,
        "due_on": task.due_on if task else None,
        "detail": (
            "payments unchanged; "
            + (
                f"a door check for grid {person.grid}, due by {task.due_on}"
                if task
                else "no door check now (received after the day the results are as of, so the"
                " next run gives it; or the person's death is already confirmed at the door)"
            )
            + ("; this tip-off was already on record" if repeat else "")
        ),
    }
