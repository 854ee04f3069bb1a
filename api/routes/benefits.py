"""Benefit systems: recognition (one, or a payroll of up to 10,000) and roster changes.

The two recognition routes are the hot path: they take no FastAPI dependencies
(solving them costs more than the look-up), so the key, role and body are checked
by plain calls with the same answers (401/403/422), and the answer — already plain
JSON types — is serialised once, straight to bytes. ``openapi_extra`` and the
response models document them like the other routes.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.deps import (
    DOCUMENTED_BODIES,
    ServiceDep,
    caller_of,
    documented_body,
    note_asked,
    parse_body,
    require,
)
from api.models import (
    BatchResult,
    BulkRecognitionRequest,
    Recognition,
    RecognitionRequest,
    RecognitionsPublic,
    RosterBatch,
)
from linkgraph.service import Caller, Role, Service

router = APIRouter(tags=["benefit systems"])

BenefitCaller = Annotated[Caller, Depends(require(Role.BENEFIT_SYSTEM))]
DOCUMENTED_BODIES.extend([RecognitionRequest, BulkRecognitionRequest])


def _json(data: object) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    return Response(body.encode("utf-8"), media_type="application/json")


@router.post(
    "/recognition", response_model=Recognition, openapi_extra=documented_body(RecognitionRequest)
)
async def recognise(request: Request) -> Response:
    """Is this person recognised for this item: status, valid until, method and basis."""
    caller = caller_of(request, Role.BENEFIT_SYSTEM)
    body = parse_body(RecognitionRequest, await request.body())
    note_asked(request, body.id_number)
    service: Service = request.app.state.service
    return _json(await service.recognise_async(caller, body.id_number, body.item_code))


@router.post(
    "/recognition/bulk",
    response_model=RecognitionsPublic,
    openapi_extra=documented_body(BulkRecognitionRequest),
)
async def recognise_bulk(request: Request) -> Response:
    """Recognition of up to 10,000 ID numbers for one item (the monthly payroll)."""
    caller = caller_of(request, Role.BENEFIT_SYSTEM)
    body = parse_body(BulkRecognitionRequest, await request.body())
    note_asked(request, *body.id_numbers)
    service: Service = request.app.state.service
    data = await service.recognise_bulk_async(caller, body.item_code, body.id_numbers)
    return _json({"data": data, "count": len(data)})


#: Served first by plain Starlette routes (see ``api.main``): FastAPI's own request
#: handling — dependency solving, query parsing — costs more than the look-up. The
#: routes above document them (OpenAPI) and behave the same.
HOT_ROUTES = [("/recognition", recognise), ("/recognition/bulk", recognise_bulk)]


@router.post("/rosters/changes", response_model=BatchResult)
def roster_changes(body: RosterBatch, service: ServiceDep, caller: BenefitCaller) -> object:
    """New, changed and ended enrolments; bad rows are named, good rows written together."""
    return service.submit_roster_changes(caller, body.batch_id, body.changes)
