"""Batches the API accepted, written back into a store that a pipeline run replaced.

The service keeps every row it accepts in ``<state>/inbox/*.jsonl`` and writes it into
the graph. A full pipeline run rebuilds the graph from the departments' files
(``store.load``), and so drops those rows; :func:`replay_inbox`, called right after
the load, writes them back through the same table builders and ``upsert`` the API
uses (:mod:`linkgraph.service.batches`), one transaction per batch, in the order they
were accepted. Roster changes go first: they may found the persons later events name.

Replaying is idempotent: the store merges by key, and a new enrolment the store
already holds (from the department's own files, or an earlier replay) is left as
the store has it. Rows whose person or enrolment the reloaded graph no longer
holds are skipped (a reference to nothing would refuse the whole batch), and so are
events the API could not link (they were never in the graph).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from linkgraph.config import Settings
from linkgraph.graph.schema import GraphSchema, load_schema
from linkgraph.graph.store import GraphStore
from linkgraph.service.batches import (
    Rows,
    batch_tables,
    event_tables,
    new_person_id,
    roster_tables,
)
from linkgraph.service.readmodel import EnrollmentView, ReadModel, load_read_model
from linkgraph.service.rows import Change, EventRow, RosterChangeRow
from linkgraph.service.settings import ApiSettings

R = TypeVar("R", bound=BaseModel)


def replay_inbox(store: GraphStore, settings: Settings, api: ApiSettings | None = None) -> int:
    """Write every batch of the API's inbox back into ``store``; returns the rows written."""
    inbox = (api or ApiSettings()).resolved_state_dir(settings) / "inbox"
    rosters = list(_batches(inbox / "roster_changes.jsonl"))
    events = list(_batches(inbox / "events.jsonl"))
    if not rosters and not events:
        return 0
    schema = load_schema()
    model = load_read_model(store)
    written = sum(_roster_batch(store, schema, model, rows) for rows in rosters)
    return written + sum(_event_batch(store, schema, model, rows) for rows in events)


def _batches(path: Path) -> Iterator[list[dict[str, Any]]]:
    """The inbox rows of ``path``, grouped by batch (each batch was appended in one write)."""
    if not path.exists():
        return
    batch: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except ValueError:  # a torn last line: its batch was never acknowledged
                continue
            if batch and (row["sender"], row["batch_id"]) != (
                batch[0]["sender"],
                batch[0]["batch_id"],
            ):
                yield batch
                batch = []
            batch.append(row)
    if batch:
        yield batch


def _row(model: type[R], raw: dict[str, Any]) -> R:
    """The row as the API parsed it, from its inbox line (which adds who, when and whom)."""
    return model.model_validate({k: v for k, v in raw.items() if k in model.model_fields})


def _roster_batch(
    store: GraphStore, schema: GraphSchema, model: ReadModel, raws: list[dict[str, Any]]
) -> int:
    news: list[tuple[RosterChangeRow, str, str, bool, float]] = []
    edits: list[tuple[RosterChangeRow, EnrollmentView]] = []
    for raw in raws:
        row = _row(RosterChangeRow, raw)
        existing = model.enrollments.get(row.record_id)
        if row.change == Change.NEW and existing is None:
            pid = raw["person_id"]
            is_new = pid == new_person_id(row)  # the record founded its person, as it did then
            if is_new or pid in model.persons:
                news.append((row, raw["department"], pid, is_new, 0.0 if is_new else 1.0))
        elif row.change != Change.NEW and existing is not None:
            edits.append((row, existing))
    if not news and not edits:
        return 0
    first = raws[0]  # lines from before the service kept who and when: the key, and today
    who, on = first.get("by") or first["sender"], first.get("accepted_on")
    day = dt.date.fromisoformat(on) if on else dt.date.today()
    nodes, rels, enrollments, persons = roster_tables(model, who, day, news, edits)
    _upsert(store, schema, nodes, rels)
    for p in persons:
        model.put_person(p)
    for e in enrollments.values():
        model.put_enrollment(e)
    return len(news) + len(edits)


def _event_batch(
    store: GraphStore, schema: GraphSchema, model: ReadModel, raws: list[dict[str, Any]]
) -> int:
    linked = [
        (_row(EventRow, raw), raw["person_id"], raw["linked_by"])
        for raw in raws
        if raw["person_id"] in model.persons
    ]
    if linked:
        _upsert(store, schema, *event_tables(linked))
    return len(linked)


def _upsert(store: GraphStore, schema: GraphSchema, nodes: Rows, rels: Rows) -> None:
    """One store transaction, as :meth:`linkgraph.service.Service._upsert` writes a batch."""
    tables = batch_tables(schema, nodes, rels)
    store.upsert(tables, batch_size=tables.num_rows + 1)
