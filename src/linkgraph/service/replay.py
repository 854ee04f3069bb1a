"""The API's writes, written back into a store that a pipeline run replaced.

The service keeps every write it accepts (event and roster batches, stop requests,
visit results, flag moves) as one line of ``<state>/inbox/writes.jsonl``, in the
order accepted. A pipeline run rebuilds the graph from the departments' files
(``store.load``) and so drops them; :func:`replay_inbox`, called right after the
load, builds each again with the live path's builders (:mod:`.batches`) against the
reloaded graph, one transaction each, in that order: a flag move must find the hold
its stop request made, a stop request must hold what an earlier visit paid.

Idempotent: the store merges by key, and each builder sets values from what its line
recorded; a new enrolment the store already holds is left as the store has it. A row
naming a person, enrolment, task or flag the reloaded graph no longer holds is
skipped and counted (a reference to nothing would refuse the whole transaction);
events the API could not link were never in the graph and are neither.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from linkgraph.config import Settings
from linkgraph.graph.schema import load_schema
from linkgraph.graph.store import GraphStore
from linkgraph.service.batches import (
    Write,
    event_write,
    flag_write,
    new_person_id,
    roster_write,
    stop_write,
    visit_write,
)
from linkgraph.service.readmodel import EnrollmentView, ReadModel, load_read_model
from linkgraph.service.rows import Change, EventRow, RosterChangeRow
from linkgraph.service.settings import ApiSettings

R = TypeVar("R", bound=BaseModel)
Line = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Replayed:
    """Rows written back and skipped. An event or roster change counts one, and so does a
    whole stop request (holding those of its enrolments still there), visit or flag move."""

    written: int = 0
    skipped: int = 0


def replay_inbox(store: GraphStore, settings: Settings, api: ApiSettings | None = None) -> Replayed:
    """Write every accepted write of the API's inbox back into ``store``, in order."""
    path = (api or ApiSettings()).resolved_state_dir(settings) / "inbox" / "writes.jsonl"
    if not path.exists():
        return Replayed()
    schema = load_schema()
    model = load_read_model(store)
    written = skipped = 0
    for line in _lines(path):
        write, done, gone = _BUILD[line["kind"]](model, line)
        write.upsert(store, schema)
        write.apply(model)
        written, skipped = written + done, skipped + gone
    return Replayed(written, skipped)


def _lines(path: Path) -> Iterator[Line]:
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            try:
                yield json.loads(text)
            except ValueError:  # a torn last line: its write was never acknowledged
                continue


def _row(model: type[R], raw: dict[str, Any]) -> R:
    """The row as the API parsed it, from its inbox line (which adds whom it named)."""
    return model.model_validate({k: v for k, v in raw.items() if k in model.model_fields})


def _day(line: Line) -> dt.date:
    return dt.date.fromisoformat(line["on"])


def _events(model: ReadModel, line: Line) -> tuple[Write, int, int]:
    named = [r for r in line["rows"] if r["person_id"] is not None]
    linked = [
        (_row(EventRow, r), r["person_id"], r["linked_by"])
        for r in named
        if r["person_id"] in model.persons
    ]
    return event_write(linked), len(linked), len(named) - len(linked)


def _roster(model: ReadModel, line: Line) -> tuple[Write, int, int]:
    news: list[tuple[RosterChangeRow, str, str, bool, float]] = []
    edits: list[tuple[RosterChangeRow, EnrollmentView]] = []
    skipped = 0
    for raw in line["rows"]:
        row = _row(RosterChangeRow, raw)
        existing = model.enrollments.get(row.record_id)
        if row.change == Change.NEW:
            if existing is not None:
                continue
            pid = raw["person_id"]
            is_new = pid == new_person_id(row)  # the record founded its person, as it did then
            if is_new or pid in model.persons:
                news.append((row, raw["department"], pid, is_new, 0.0 if is_new else 1.0))
            else:
                skipped += 1
        elif existing is None:
            skipped += 1
        else:
            edits.append((row, existing))
    write = roster_write(model, line["by"], _day(line), news, edits)
    return write, len(news) + len(edits), skipped


def _stop(model: ReadModel, line: Line) -> tuple[Write, int, int]:
    if line["person_id"] not in model.persons:
        return _nothing(), 0, 1
    write = stop_write(
        model,
        line["flag_id"],
        line["person_id"],
        line["enrollment_ids"],
        line["amount_at_risk"],
        line["requested_by"],
        line["reason"],
        _day(line),
    )
    return write, 1, 0


def _visit(model: ReadModel, line: Line) -> tuple[Write, int, int]:
    task = model.tasks.get(line["task_id"])
    if task is None:
        return _nothing(), 0, 1
    return visit_write(model, task, line["result"], _day(line), line["note"], line["by"]), 1, 0


def _flag(model: ReadModel, line: Line) -> tuple[Write, int, int]:
    flag = model.flags.get(line["flag_id"])
    if flag is None:
        return _nothing(), 0, 1
    return flag_write(model, flag, line["to_status"], line["by"], line["why"]), 1, 0


def _nothing() -> Write:
    return Write({}, {})


_BUILD: dict[str, Callable[[ReadModel, Line], tuple[Write, int, int]]] = {
    "events": _events,
    "roster": _roster,
    "stop": _stop,
    "visit": _visit,
    "flag": _flag,
}
