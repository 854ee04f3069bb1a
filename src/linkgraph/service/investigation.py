"""Investigators' reads of the graph: one person's 360° view and the library's queries.

These go to the graph store (not the read model): they follow relations the read
model does not keep. Only named, read-only queries of :mod:`linkgraph.graph.queries`
run; no caller text is ever executed.
"""

from __future__ import annotations

from typing import Any

from linkgraph.graph.queries import QUERIES
from linkgraph.service.audit import query_subjects
from linkgraph.service.context import Caller, NotFound, ServiceContext
from linkgraph.service.masking import shown_id, shown_phone, shown_row


def person_360(ctx: ServiceContext, caller: Caller, person_id: str) -> list[dict[str, Any]]:
    """Everything the graph holds on one person, their identity first."""
    rows = ctx.store.run(lambda s: s.query("person_360", person_id=person_id))
    if not rows:
        raise NotFound(f"no person {person_id!r}")
    ctx.audit.write(caller.entry("person.read", [person_id], view="person_360"))
    model = ctx.model
    person = model.persons.get(person_id) if model else None
    out = []
    for row in rows:
        if row["kind"] == "phone":
            row = {**row, "id": shown_phone(caller, row["id"])}
        out.append(row)
    if person is not None:
        out.insert(
            0,
            {
                "kind": "identity",
                "id": shown_id(caller, person.id_number),
                "detail": person.name,
                "since": person.birth_date,
                "until": None,
                "note": shown_phone(caller, person.phone),
            },
        )
    return out


def query_catalogue() -> list[dict[str, Any]]:
    """The library's queries with their parameters, for a caller to choose from."""
    return [
        {
            "name": q.name,
            "summary": q.summary,
            "columns": list(q.columns),
            "parameters": [
                {
                    "name": p.name,
                    "type": {str: "string", int: "integer"}.get(p.kind, "date"),
                    "required": p.required,
                    "example": p.example,
                    "doc": p.doc,
                }
                for p in q.params.values()
            ],
        }
        for q in QUERIES.values()
    ]


def run_query(
    ctx: ServiceContext, caller: Caller, name: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """A named, read-only library query; no caller text is ever executed."""
    spec = QUERIES.get(name)
    if spec is None:
        known = ", ".join(sorted(QUERIES))
        raise NotFound(f"no read-only query {name!r} (known: {known})")
    ctx.read_model()  # the version served: dates left out count from its as-of date
    assert ctx.live is not None
    bound = spec.bind(params, as_of=ctx.live.as_of)  # raises InputError naming the parameter
    rows = ctx.store.run(lambda s: s.query(name, **bound))
    subjects = query_subjects(name, bound, rows)
    masked = [shown_row(caller, r) for r in rows]
    ctx.audit.write(caller.entry(f"query.{name}", subjects, params=bound, rows=len(rows)))
    return masked
