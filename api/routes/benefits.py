"""Benefit systems: recognition (one, or a payroll of up to 10,000) and roster changes.

The two recognition routes are the hot path: the caller is resolved by one
dependency (the role gate itself), and the answer — already plain JSON types —
is serialised once, straight to bytes (the response model documents it).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import ServiceDep, require
from api.models import (
    BatchResult,
    BulkRecognitionRequest,
    Recognition,
    RecognitionRequest,
    RecognitionsPublic,
    RosterBatch,
)
from linkgraph.service import Caller, Role

router = APIRouter(tags=["benefit systems"])

BenefitCaller = Annotated[Caller, Depends(require(Role.BENEFIT_SYSTEM))]


def _json(data: object) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    return Response(body.encode("utf-8"), media_type="application/json")


@router.post("/recognition", response_model=Recognition)
async def recognise(body: RecognitionRequest, service: ServiceDep, caller: BenefitCaller) -> object:
    """Is this person recognised for this item: status, valid until, method and basis."""
    return _json(await service.recognise_async(caller, body.id_number, body.item_code))


@router.post("/recognition/bulk", response_model=RecognitionsPublic)
async def recognise_bulk(
    body: BulkRecognitionRequest, service: ServiceDep, caller: BenefitCaller
) -> object:
    """Recognition of up to 10,000 ID numbers for one item (the monthly payroll)."""
    data = await service.recognise_bulk_async(caller, body.item_code, body.id_numbers)
    return _json({"data": data, "count": len(data)})


@router.post("/rosters/changes", response_model=BatchResult)
def roster_changes(body: RosterBatch, service: ServiceDep, caller: BenefitCaller) -> object:
    """New, changed and ended enrolments; bad rows are named, good rows written together."""
    return service.submit_roster_changes(caller, body.batch_id, body.changes)
