"""Administrators: the audit log, and reloading the read model after a pipeline run."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import CallerDep, ServiceDep, require
from api.models import AuditPublic, Ready

router = APIRouter(tags=["admin"], dependencies=[Depends(require())])


@router.get("/audit", response_model=AuditPublic)
def audit(
    service: ServiceDep,
    caller: CallerDep,
    person_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> object:
    """Who read or changed whose data, when and why; newest first."""
    data, count = service.search_audit(
        caller, person_id=person_id, actor=actor, action=action, since=since, limit=limit
    )
    return {"data": data, "count": count}


@router.post("/admin/refresh", response_model=Ready)
def refresh(service: ServiceDep) -> object:
    """Reload the read model from the store (after a pipeline run)."""
    service.refresh()
    return service.ready()
