"""Channels: batches of evidence events."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import CallerDep, ServiceDep, require
from api.models import BatchResult, EventBatch
from linkgraph.service import Role

router = APIRouter(tags=["channels"], dependencies=[Depends(require(Role.CHANNEL))])


@router.post("/evidence/batches", response_model=BatchResult)
def submit_events(body: EventBatch, service: ServiceDep, caller: CallerDep) -> object:
    """Evidence events, checked as ``linkgraph.ingest.validate_events`` checks a feed."""
    return service.submit_events(caller, body.batch_id, body.events)
