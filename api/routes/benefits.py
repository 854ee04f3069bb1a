"""Benefit systems: recognition (one, or a payroll of up to 10,000) and roster changes."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import CallerDep, ServiceDep, require
from api.models import (
    BatchResult,
    BulkRecognitionRequest,
    Recognition,
    RecognitionRequest,
    RecognitionsPublic,
    RosterBatch,
)
from linkgraph.service import Role

router = APIRouter(tags=["benefit systems"], dependencies=[Depends(require(Role.BENEFIT_SYSTEM))])


@router.post("/recognition", response_model=Recognition)
async def recognise(body: RecognitionRequest, service: ServiceDep, caller: CallerDep) -> object:
    """Is this person recognised for this item: status, valid until, method and basis."""
    return await service.recognise_async(caller, body.id_number, body.item_code)


@router.post("/recognition/bulk", response_model=RecognitionsPublic)
async def recognise_bulk(
    body: BulkRecognitionRequest, service: ServiceDep, caller: CallerDep
) -> object:
    """Recognition of up to 10,000 ID numbers for one item (the monthly payroll)."""
    data = await service.recognise_bulk_async(caller, body.item_code, body.id_numbers)
    return {"data": data, "count": len(data)}


@router.post("/rosters/changes", response_model=BatchResult)
def roster_changes(body: RosterBatch, service: ServiceDep, caller: CallerDep) -> object:
    """New, changed and ended enrolments; bad rows are named, good rows written together."""
    return service.submit_roster_changes(caller, body.batch_id, body.changes)
