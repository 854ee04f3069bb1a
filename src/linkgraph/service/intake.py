"""Intake: channels' evidence events and departments' roster changes, in batches.

Each row of a batch is accepted or refused on its own: the good rows are written
together as one ledger entry (:meth:`~linkgraph.service.context.ServiceContext.commit`),
the bad ones named with the field and the reason. A batch id the caller already
used is answered from the ledger (a retry), or refused if its rows differ.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel

from linkgraph import normalise
from linkgraph.catalogue import Identifier
from linkgraph.errors import InputError
from linkgraph.ingest import day_fault, validate_events, validate_roster
from linkgraph.ledger import body_digest
from linkgraph.service.batches import new_person_id
from linkgraph.service.context import Caller, Conflict, ServiceContext
from linkgraph.service.live import Received
from linkgraph.service.readmodel import EnrollmentView, ReadModel
from linkgraph.service.rows import (
    Change,
    EventRow,
    RosterChangeRow,
    RowError,
    from_rejected,
    parse_rows,
)
from linkgraph.tables import EVENT, ROSTER, event_key

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Batch(Generic[R]):
    """A write batch, opened under the write lock: its digest, and either the answer
    already given to it (``replay``) or its rows parsed (``good``) and refused (``errors``)."""

    digest: str
    replay: dict[str, Any] | None
    good: list[tuple[int, R]]
    errors: list[RowError]


def _replay(
    ctx: ServiceContext, kind: str, caller: Caller, batch_id: str, digest: str
) -> dict[str, Any] | None:
    seen = ctx.receipt(kind, caller, batch_id)
    if seen is None:
        return None
    if seen["digest"] != digest:
        raise Conflict(
            f"batch {batch_id!r} was already accepted with different rows;"
            " send changed rows under a new batch id"
        )
    return {**seen["answer"], "replayed": True}


@contextlib.contextmanager
def _batch(
    ctx: ServiceContext,
    kind: str,
    caller: Caller,
    batch_id: str,
    rows: list[Any],
    model: type[R],
    key: str,
) -> Iterator[_Batch[R]]:
    """Open a write batch: the steps every kind shares, held under the write lock."""
    if len(rows) > ctx.api.max_batch_rows:
        raise InputError(f"at most {ctx.api.max_batch_rows} rows per batch, got {len(rows)}")
    digest = body_digest(rows)
    with ctx.write_lock:
        replay = _replay(ctx, kind, caller, batch_id, digest)
        if replay is not None:
            yield _Batch(digest, replay, [], [])
        else:
            yield _Batch(digest, None, *parse_rows(rows, model, key))


# ------------------------------------------------------------------ evidence events


def submit_events(
    ctx: ServiceContext, caller: Caller, batch_id: str, rows: list[Any]
) -> dict[str, Any]:
    """A channel's batch of evidence events: good rows written, bad ones named."""
    with _batch(ctx, "events", caller, batch_id, rows, EventRow, "event_id") as batch:
        if batch.replay is not None:
            return batch.replay
        model = ctx.read_model()
        errors = batch.errors
        scoped = _events_in_scope(ctx, caller, batch.good, errors)
        errors += _invalid_events(ctx, batch_id, scoped)
        accepted, repeated, keep = _first_of_each(scoped, {e.index for e in errors})
        linked = [(index, row, *_link_event(ctx, model, row)) for index, row in keep]
        linked = _new_events(ctx, linked, accepted, repeated, errors)
        ledger_rows, persons, unlinked = _ledger_rows(linked)
        answer = {
            "batch_id": batch_id,
            "replayed": False,
            "received": len(rows),
            "accepted": accepted,
            "repeated": repeated,
            "rejected": [e.as_dict() for e in sorted(errors, key=lambda e: e.index)],
            "unlinked": unlinked,
        }
        ctx.commit(
            caller,
            model,
            "events",
            batch_id=batch_id,
            digest=batch.digest,
            rows=ledger_rows,
            answer=answer,
        )
    ctx.audit.write(
        caller.entry(
            "evidence.submit",
            sorted(persons),
            batch_id=batch_id,
            accepted=len(accepted),
            rejected=len(errors),
        )
    )
    return answer


def _events_in_scope(
    ctx: ServiceContext, caller: Caller, good: list[tuple[int, EventRow]], errors: list[RowError]
) -> list[tuple[int, EventRow]]:
    """The rows of channels the caller may send for; the others are refused into ``errors``."""
    scoped: list[tuple[int, EventRow]] = []
    for index, row in good:
        reason = _channel_out_of_scope(ctx, caller, row.channel)
        if reason:
            errors.append(RowError(index, "channel", reason, str(row.event_id)))
        else:
            scoped.append((index, row))
    return scoped


def _invalid_events(
    ctx: ServiceContext, batch_id: str, scoped: list[tuple[int, EventRow]]
) -> list[RowError]:
    """The rows :func:`linkgraph.ingest.validate_events` refuses, as it would in a feed."""
    indices = [i for i, _ in scoped]
    table = pa.Table.from_pylist([r.model_dump() for _, r in scoped], schema=EVENT)
    checked = validate_events(table, ctx.catalogue, f"batch {batch_id}", dt.date.today())
    return [from_rejected(r, indices) for r in checked.rejected]


def _first_of_each(
    scoped: list[tuple[int, EventRow]], rejected: set[int]
) -> tuple[list[int], list[int], list[tuple[int, EventRow]]]:
    """(accepted, repeated, rows kept): an event sent twice in one batch is kept once."""
    accepted: list[int] = []
    repeated: list[int] = []
    seen: set[tuple[str, int]] = set()
    keep: list[tuple[int, EventRow]] = []
    for index, row in scoped:
        if index in rejected:
            continue
        if (row.channel, row.event_id) in seen:
            repeated.append(index)
            continue
        seen.add((row.channel, row.event_id))
        accepted.append(index)
        keep.append((index, row))
    return accepted, repeated, keep


Linked = tuple[int, EventRow, str | None, str | None]  # (index, row, person, linked by)


def _new_events(
    ctx: ServiceContext,
    linked: list[Linked],
    accepted: list[int],
    repeated: list[int],
    errors: list[RowError],
) -> list[Linked]:
    """The events the city has not received yet. An event is its channel's and the
    channel's own id: the same (channel, event_id) again is a repeat when its body is the
    same, and a named conflict when it is not; nothing already received is rewritten."""
    assert ctx.live is not None
    held = ctx.live.received((row.channel, row.event_id) for _, row, _, _ in linked)
    fresh: list[Linked] = []
    for index, row, person, how in linked:
        before = held.get((row.channel, row.event_id))
        if before is None:
            fresh.append((index, row, person, how))
            continue
        accepted.remove(index)
        conflict = before.conflicts_with(Received(row.occurred_on, row.reported_on, person))
        if conflict is None:
            repeated.append(index)
        else:
            errors.append(
                RowError(
                    index,
                    "event_id",
                    f"{event_key(row.channel, row.event_id)} was already received with other"
                    f" content: {conflict}; an event received is never rewritten",
                    str(row.event_id),
                )
            )
    repeated.sort()
    return fresh


def _ledger_rows(linked: list[Linked]) -> tuple[list[dict[str, Any]], set[str], list[int]]:
    """(the entry's rows, each naming its person; the persons named; rows naming none)."""
    ledger_rows: list[dict[str, Any]] = []
    persons: set[str] = set()
    unlinked: list[int] = []
    for index, row, person, how in linked:
        ledger_rows.append(
            {
                **row.model_dump(mode="json"),
                "person_id": person,
                "linked_by": how if person else None,
            }
        )
        if person is None:
            unlinked.append(index)
        else:
            persons.add(person)
    return ledger_rows, persons, unlinked


def _channel_out_of_scope(ctx: ServiceContext, caller: Caller, channel: str) -> str | None:
    scope = caller.principal.scope
    known = ctx.catalogue.channel.get(channel)
    if known is None or scope.city:
        return None  # an unknown channel is named by validate_events
    if scope.kind == "channel" and scope.value != channel:
        return f"channel {channel} is outside this key's scope ({scope})"
    if scope.kind == "department" and known.department != scope.value:
        return f"channel {channel} is provided by {known.department}, not {scope.value}"
    return None


def _link_event(
    ctx: ServiceContext, model: ReadModel, row: EventRow
) -> tuple[str | None, str | None]:
    """The person an event names, by its channel's identifier, and which identifier."""
    identifier = ctx.catalogue.channel[row.channel].identifier
    if identifier == Identifier.ID_NUMBER and row.id_number:
        parsed = normalise.resident_id(row.id_number)
        pid = model.by_event_id_number.get(parsed.value or row.id_number.upper())
        return pid, "id_number"
    if identifier == Identifier.SSCARD_NO and row.sscard_no:
        return model.by_sscard.get(row.sscard_no), "sscard_no"
    if identifier == Identifier.PHONE and row.phone:
        number = normalise.phone(row.phone)
        return (model.by_phone.get(number) if number else None), "phone"
    if identifier == Identifier.NAME_DOB and row.name and row.birth_date:
        name, born = normalise.name(row.name), normalise.date(row.birth_date)
        if name and born:
            return model.by_name_dob.get((name, born)), "name_dob"
    return None, None


# ------------------------------------------------------------------ roster changes


def submit_roster_changes(
    ctx: ServiceContext, caller: Caller, batch_id: str, rows: list[Any]
) -> dict[str, Any]:
    """A department's new, changed and ended enrolments: good rows written, bad ones named."""
    with _batch(ctx, "roster", caller, batch_id, rows, RosterChangeRow, "record_id") as batch:
        if batch.replay is not None:
            return batch.replay
        model = ctx.read_model()
        errors = batch.errors
        news, edits, repeated = _sort_changes(ctx, model, caller, batch.good, errors)
        valid_news, new_errors = _validate_new(ctx, news)
        errors += new_errors
        today = dt.date.today()
        person_of = {row.record_id: _resolve_new(model, row) for row, _, _ in valid_news}
        ledger_rows = [
            {
                **row.model_dump(mode="json", exclude={"department"}),
                "department": department,
                "person_id": person_of[row.record_id],
            }
            for row, _, department in valid_news
        ] + [
            {
                **row.model_dump(mode="json", exclude={"department"}),
                "department": ctx.item_department.get(existing.item_code),
                "person_id": existing.person_id,
            }
            for _, row, existing in edits
        ]
        accepted = sorted([i for _, i, _ in valid_news] + [i for i, _, _ in edits])
        answer = {
            "batch_id": batch_id,
            "replayed": False,
            "received": len(rows),
            "accepted": accepted,
            "repeated": repeated,
            "rejected": [e.as_dict() for e in sorted(errors, key=lambda e: e.index)],
            "persons": person_of,
        }
        ctx.commit(
            caller,
            model,
            "roster",
            batch_id=batch_id,
            digest=batch.digest,
            on=today,
            rows=ledger_rows,
            answer=answer,
        )
    ctx.audit.write(
        caller.entry(
            "roster.submit",
            sorted({r["person_id"] for r in ledger_rows}),
            batch_id=batch_id,
            accepted=len(accepted),
            rejected=len(errors),
        )
    )
    return answer


def _sort_changes(
    ctx: ServiceContext,
    model: ReadModel,
    caller: Caller,
    good: list[tuple[int, RosterChangeRow]],
    errors: list[RowError],
) -> tuple[
    list[tuple[int, RosterChangeRow, str]],
    list[tuple[int, RosterChangeRow, EnrollmentView]],
    list[int],
]:
    """(new enrolments with their department, edits of existing ones, repeated rows);
    rows that cannot apply are refused into ``errors``."""
    news: list[tuple[int, RosterChangeRow, str]] = []
    edits: list[tuple[int, RosterChangeRow, EnrollmentView]] = []
    seen: set[str] = set()
    repeated: list[int] = []
    for index, row in good:
        department, dept_fault = _row_department(ctx, model, caller, row)
        if dept_fault:
            errors.append(RowError(index, "department", dept_fault, row.record_id))
            continue
        if row.record_id in seen:
            repeated.append(index)
            continue
        existing = model.enrollments.get(row.record_id)
        if row.change == Change.NEW:
            if (
                existing is not None
                and existing.item_code == row.item_code
                and existing.enrolled_on == row.enrolled_on
            ):
                # Already written (a retry after an answer that never arrived).
                repeated.append(index)
                continue
            if existing is not None:
                errors.append(
                    RowError(
                        index,
                        "record_id",
                        "enrolment already exists; send it as 'changed'",
                        row.record_id,
                    )
                )
                continue
            news.append((index, row, department))
        else:
            fault = _edit_fault(ctx, row, existing, department)
            if fault is not None or existing is None:
                field, reason = fault or ("record_id", "no such enrolment")
                errors.append(RowError(index, field, reason, row.record_id))
                continue
            edits.append((index, row, existing))
        seen.add(row.record_id)
    return news, edits, repeated


def _row_department(
    ctx: ServiceContext, model: ReadModel, caller: Caller, row: RosterChangeRow
) -> tuple[str, str | None]:
    """The department a roster row is for, or why the caller may not send it."""
    scope = caller.principal.scope
    given = row.department
    if scope.kind == "department":
        if given and given != scope.value:
            return given, f"this key is scoped to department {scope.value}, not {given}"
        return str(scope.value), None
    if given:
        return given, None
    if row.item_code in ctx.item_department:
        return ctx.item_department[row.item_code], None
    existing = model.enrollments.get(row.record_id)
    if existing is not None:
        return ctx.item_department.get(existing.item_code, ""), None
    return "", "department is required with a city-wide key"


def _edit_fault(
    ctx: ServiceContext, row: RosterChangeRow, existing: EnrollmentView | None, department: str
) -> tuple[str, str] | None:
    """(field, reason) if a changed or ended row cannot apply to ``existing``."""
    if existing is None:
        return ("record_id", f"no enrolment {row.record_id!r} to change or end")
    if ctx.item_department.get(existing.item_code) != department:
        return ("record_id", f"enrolment {row.record_id!r} belongs to another department")
    if row.item_code and row.item_code != existing.item_code:
        return ("item_code", "an enrolment's item cannot change; end it and enrol anew")
    for name, received in (("paid_until", None), ("ended_on", dt.date.today())):
        day = getattr(row, name)
        fault = day_fault(day, received) if day is not None else None
        if fault:
            return (name, fault)
        if day is not None and existing.enrolled_on and day < existing.enrolled_on:
            return (name, f"before the enrolment began ({existing.enrolled_on})")
    if row.change == Change.CHANGED:
        if row.monthly_amount is not None and row.monthly_amount <= 0:
            return ("monthly_amount", "must be a positive amount")
        if row.paid_until is None and row.monthly_amount is None and not row.bank_account:
            return (
                "change",
                "nothing to change: give paid_until, monthly_amount or bank_account",
            )
    return None


def _validate_new(
    ctx: ServiceContext, news: list[tuple[int, RosterChangeRow, str]]
) -> tuple[list[tuple[RosterChangeRow, int, str]], list[RowError]]:
    """New enrolments through :func:`linkgraph.ingest.validate_roster`."""
    if not news:
        return [], []
    table = pa.Table.from_pylist(
        [
            {
                **{f.name: getattr(row, f.name, None) for f in ROSTER if f.name != "source"},
                "source": department,
            }
            for _, row, department in news
        ],
        schema=ROSTER,
    )
    checked = validate_roster(table, ctx.catalogue, "roster batch", dt.date.today())
    indices = [i for i, _, _ in news]
    errors = [from_rejected(r, indices) for r in checked.rejected]
    bad = {e.index for e in errors}
    for index, row, _ in news:
        if (
            index not in bad
            and row.id_number
            and normalise.resident_id(row.id_number).status
            in (
                "invalid",
                "missing",
            )
        ):
            errors.append(
                RowError(
                    index,
                    "id_number",
                    "not a valid resident ID number (check character, birth date or length);"
                    " send it corrected, or without id_number",
                    row.record_id,
                )
            )
            bad.add(index)
    return [(row, i, d) for i, row, d in news if i not in bad], errors


def _resolve_new(model: ReadModel, row: RosterChangeRow) -> str:
    """The person of a new roster record: the one holding its ID number (in its one
    written form), else the person it founds (:func:`new_person_id`, the same for every
    record of the batch with that ID number)."""
    canonical = normalise.canonical_id(row.id_number)
    found = model.by_id_number.get(canonical) if canonical else None
    return found or new_person_id(row)
