"""Investigators: person 360, the library's named queries, flags and their workflow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import CallerDep, ServiceDep, require
from api.models import (
    FlagPublic,
    FlagsPublic,
    FlagTransition,
    Person360,
    QueriesPublic,
    QueryRequest,
    QueryResult,
)
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


@router.post("/queries/{name}", response_model=QueryResult)
def run_query(name: Key, body: QueryRequest, service: ServiceDep, caller: CallerDep) -> object:
    """Run a library query by name; only names from the library, never caller text."""
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
    """Confirm, dismiss or reopen a flag, record money recovered, or reverse a decision."""
    return service.transition_flag(
        caller, flag_id, body.to, body.why, body.amount, body.over_recovery_reason
    )
