"""Administrators: the audit log, and reloading the read model after a pipeline run."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BeforeValidator

from api.deps import CallerDep, ServiceDep, note_asked, require
from api.models import AuditPublic, IdNumber, Ready

router = APIRouter(tags=["admin"], dependencies=[Depends(require())])


def _iso_8601(value: object) -> dt.datetime:
    """A date and time as ISO 8601 text with its offset: never a bare number (``0.5``)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date and time")
    try:
        return dt.datetime.fromisoformat(value.upper())
    except ValueError:
        raise ValueError("expected an ISO 8601 date and time, e.g. 2026-11-30T00:00:00Z") from None


Since = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_8601),
    Query(description="Entries from this time on (ISO 8601 with an offset)."),
]


@router.get("/audit", response_model=AuditPublic)
def audit(
    request: Request,
    service: ServiceDep,
    caller: CallerDep,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    id_number: Annotated[
        IdNumber | None, Query(description="Entries that asked about this ID number.")
    ] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Since | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> object:
    """Who asked what about whose data, when and why, and how it was answered; newest first."""
    if id_number:
        note_asked(request, id_number)
    data, count = service.search_audit(
        caller,
        person_id=person_id,
        id_number=id_number,
        actor=actor,
        action=action,
        since=since,
        limit=limit,
    )
    return {"data": data, "count": count}


@router.post("/admin/refresh", response_model=Ready)
def refresh(service: ServiceDep) -> object:
    """Reload the read model from the store (after a pipeline run)."""
    service.refresh()
    return service.ready()
