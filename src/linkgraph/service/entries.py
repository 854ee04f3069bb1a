"""Ledger entries as writes: what one entry puts in the graph and the read model.

:func:`entry_write` is the one translation, used for a write as the service
accepts it (before it is appended) and for entries a version has not seen yet
(:func:`catch_up`: written while a run computed, or by the command line), so
both give the same nodes and the same decisions. The core decides the persons
an entry touches (:func:`linkgraph.service.batches.decided`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from linkgraph.casework import flag_move
from linkgraph.flags import IllegalTransition
from linkgraph.graph.schema import GraphSchema
from linkgraph.graph.store import GraphStore
from linkgraph.ledger import Entry
from linkgraph.service.batches import (
    Write,
    decided,
    event_write,
    flag_write,
    new_person_id,
    roster_write,
    stop_write,
    visit_write,
)
from linkgraph.service.live import LiveCore
from linkgraph.service.readmodel import EnrollmentView, ReadModel
from linkgraph.service.rows import Change, EventRow, RosterChangeRow

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Built:
    """An entry's write, the persons it touches, and rows naming what is gone (skipped)."""

    write: Write
    touched: frozenset[str]
    skipped: int = 0


def _row(model: type[R], raw: dict[str, Any]) -> R:
    """The row as the API parsed it, from its entry (which adds whom it named)."""
    return model.model_validate({k: v for k, v in raw.items() if k in model.model_fields})


def _events(model: ReadModel, entry: Entry) -> Built:
    named = [r for r in entry["rows"] if r.get("person_id") is not None]
    linked = [
        (_row(EventRow, r), r["person_id"], r["linked_by"])
        for r in named
        if r["person_id"] in model.persons
    ]
    return Built(event_write(linked), frozenset(p for _, p, _ in linked), len(named) - len(linked))


def _roster(model: ReadModel, entry: Entry) -> Built:
    news: list[tuple[RosterChangeRow, str, str, bool, float]] = []
    edits: list[tuple[RosterChangeRow, EnrollmentView]] = []
    skipped = 0
    for raw in entry["rows"]:
        row = _row(RosterChangeRow, raw)
        existing = model.enrollments.get(row.record_id)
        if row.change == Change.NEW:
            if existing is not None:
                continue
            pid = raw["person_id"]
            is_new = pid == new_person_id(row)  # the record founded its person
            if is_new or pid in model.persons:
                news.append((row, raw["department"], pid, is_new, 0.0 if is_new else 1.0))
            else:
                skipped += 1
        elif existing is None:
            skipped += 1
        else:
            edits.append((row, existing))
    write = roster_write(model, entry["by"], _received_on(entry), news, edits)
    touched = frozenset([p for _, _, p, _, _ in news] + [e.person_id for _, e in edits])
    return Built(write, touched, skipped)


def _received_on(entry: Entry) -> dt.date:
    return dt.date.fromisoformat(str(entry.get("on") or entry["received_at"])[:10])


def _stop(model: ReadModel, entry: Entry) -> Built:
    if entry["person_id"] not in model.persons:
        return Built(Write({}, {}), frozenset(), 1)
    return Built(stop_write(model, entry), frozenset([entry["person_id"]]))


def _visit(model: ReadModel, entry: Entry) -> Built:
    person = entry["task"]["person_id"]
    if person not in model.persons:
        return Built(Write({}, {}), frozenset(), 1)
    return Built(visit_write(entry), frozenset([person]))


def _flag(model: ReadModel, entry: Entry) -> Built:
    flag = model.flags.get(entry["flag_id"])
    if flag is None:
        return Built(Write({}, {}), frozenset(), 1)
    try:
        decided = flag_move(entry).applied_to(flag.as_flag())
    except IllegalTransition:  # as the run skips it
        return Built(Write({}, {}), frozenset(), 1)
    return Built(flag_write(model, flag, decided), frozenset(flag.person_ids))


def _tipoff(model: ReadModel, entry: Entry) -> Built:
    """A tip-off holds nothing: the core gives its person a door check (their task)."""
    if entry["person_id"] not in model.persons:
        return Built(Write({}, {}), frozenset(), 1)
    return Built(Write({}, {}), frozenset([entry["person_id"]]))


def _nothing(model: ReadModel, entry: Entry) -> Built:
    return Built(Write({}, {}), frozenset())


_BUILD: dict[str, Callable[[ReadModel, Entry], Built]] = {
    "events": _events,
    "roster": _roster,
    "stop": _stop,
    "visit": _visit,
    "flag": _flag,
    "tipoff": _tipoff,
    "review": _nothing,  # takes effect at the next linkage run
    "city": _nothing,  # a run's own record of the files it read
}


def entry_write(
    model: ReadModel, live: LiveCore, entry: Entry, pending: Iterable[Entry] = ()
) -> Built:
    """The entry's own rows, and the core's decisions for the persons it touches."""
    built = _BUILD[entry["kind"]](model, entry)
    if not built.touched:
        return built
    write = built.write.merge(decided(model, live, built.touched, pending, built.write))
    return Built(write, built.touched, built.skipped)


def catch_up(
    model: ReadModel,
    live: LiveCore,
    store: GraphStore | None,
    schema: GraphSchema,
    entries: list[Entry],
) -> int:
    """Apply ``entries`` (already in the ledger, after the version's mark) to the read model
    and, when given, the store; returns how many were skipped (their nodes are gone)."""
    skipped = 0
    for entry in entries:
        built = entry_write(model, live, entry)
        if store is not None:
            built.write.upsert(store, schema)
        built.write.apply(model)
        skipped += built.skipped
    return skipped
