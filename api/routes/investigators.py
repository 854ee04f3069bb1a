"""Investigators: person 360, the library's named queries, flags and their workflow."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from api.deps import CallerDep, ServiceDep, require
from api.models import (
    FlagPublic,
    FlagRecovery,
    FlagsPublic,
    FlagTransition,
    Person360,
    QueriesPublic,
    QueryRequest,
    QueryResult,
)
from linkgraph.graph.queries import QUERIES, LibraryQuery
from linkgraph.service import Role

router = APIRouter(tags=["investigators"], dependencies=[Depends(require(Role.INVESTIGATOR))])

Key = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/persons/{person_id}", response_model=Person360)
def person_360(person_id: Key, service: ServiceDep, caller: CallerDep) -> object:
    """Everything the city holds on one person, across departments."""
    data = service.person_360(caller, person_id)
    return {"person_id": person_id, "data": data, "count": len(data)}


@router.get("/queries", response_model=QueriesPublic)
def queries(service: ServiceDep) -> object:
    """The read-only queries of the library, with their parameters."""
    data = service.query_catalogue()
    return {"data": data, "count": len(data)}


def _json_integer(value: object) -> object:
    """A JSON integer (``2``, or ``2.0``, which JSON Schema counts as one); never ``"2"``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a JSON integer")
    return value


def _full_date(value: object) -> dt.date:
    """A date written ``YYYY-MM-DD`` (RFC 3339 full-date)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date written YYYY-MM-DD")
    return dt.date.fromisoformat(value)  # a ValueError names an impossible date


def _query_body(query: LibraryQuery) -> type[BaseModel]:
    """The body of one library query, its parameters typed as the query declares them."""
    kinds: dict[type, Any] = {
        str: Annotated[str, Field(min_length=1, max_length=64)],
        int: Annotated[int, Field(ge=-(2**31), le=2**31 - 1), BeforeValidator(_json_integer)],
        dt.date: Annotated[dt.date, BeforeValidator(_full_date)],
    }
    fields: dict[str, Any] = {
        p.name: (
            kinds[p.kind] if p.required else kinds[p.kind] | None,
            Field(... if p.required else None, description=p.doc, examples=[p.example]),
        )
        for p in query.params.values()
    }
    title = "".join(part.title() for part in query.name.split("_"))
    params = create_model(f"{title}Params", __config__=ConfigDict(extra="forbid"), **fields)
    required = any(p.required for p in query.params.values())
    return create_model(
        f"{title}Query",
        __config__=ConfigDict(extra="forbid"),
        params=(params, ... if required else Field(default_factory=params)),
    )


def _add_query_route(query: LibraryQuery) -> None:
    """``POST /queries/<name>``: one documented operation per query of the library."""

    def run(body: BaseModel, service: ServiceDep, caller: CallerDep) -> object:
        params = body.params.model_dump(exclude_none=True)  # type: ignore[attr-defined]
        data = service.run_query(caller, query.name, params)
        return {"name": query.name, "data": data, "count": len(data)}

    run.__annotations__["body"] = _query_body(query)
    router.add_api_route(
        f"/queries/{query.name}",
        run,
        methods=["POST"],
        response_model=QueryResult,
        name=f"query_{query.name}",
        summary=query.summary,
        description=f"Columns: {', '.join(query.columns)}.",
    )


for _query in QUERIES.values():
    _add_query_route(_query)


@router.post("/queries/{name}", response_model=QueryResult, include_in_schema=False)
def run_query(name: Key, body: QueryRequest, service: ServiceDep, caller: CallerDep) -> object:
    """A name that is not in the library: 404 naming those that are."""
    data = service.run_query(caller, name, dict(body.params))
    return {"name": name, "data": data, "count": len(data)}


@router.get("/flags", response_model=FlagsPublic)
def flags(
    service: ServiceDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> object:
    """Flags (duplicate claims, payments after death, stop requests ...), filtered."""
    data, count = service.list_flags(caller, status, kind, limit, offset)
    return {"data": data, "count": count}


@router.get("/flags/{flag_id}", response_model=FlagPublic)
def flag(flag_id: Key, service: ServiceDep, caller: CallerDep) -> object:
    return service.get_flag(caller, flag_id)


@router.post("/flags/{flag_id}/transitions", response_model=FlagPublic)
def transition(
    flag_id: Key, body: FlagTransition, service: ServiceDep, caller: CallerDep
) -> object:
    """Confirm, dismiss or reopen a flag, record money recovered (cash or an offset
    against arrears), write off what cannot be recovered, correct the amount at risk,
    or reverse a decision."""
    return service.transition_flag(
        caller,
        flag_id,
        body.to,
        body.why,
        getattr(body, "amount", None),
        getattr(body, "over_recovery_reason", None),
        body.kind if isinstance(body, FlagRecovery) else None,
    )
