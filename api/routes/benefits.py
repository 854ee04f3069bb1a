"""Benefit systems: recognition (one, or a payroll of up to 10,000) and roster changes.

The two recognition routes are the hot path, answered in ``api.main.Guard``'s fast
lane (:data:`FAST_LANE`) before FastAPI's own request handling: its middleware,
routing and dependency solving cost more than the look-up. The key, role and body
are checked by plain calls with the same answers (401/403/422), and the answer,
already plain JSON types, is serialised once. The routes declared here document
them (OpenAPI) and answer the same wherever the lane is not in front of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response

from api.deps import (
    DOCUMENTED_BODIES,
    ServiceDep,
    caller_of,
    documented_body,
    note_asked_in,
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


def answer_bytes(data: object) -> bytes:
    """The answer as JSON (orjson: a fifth of the standard library's time per answer)."""
    return orjson.dumps(data, default=str)


async def recognition(service: Service, caller: Caller, raw: bytes) -> object:
    body = parse_body(RecognitionRequest, raw)
    note_asked_in(service, caller.request, [body.id_number])
    return await service.recognise_async(caller, body.id_number, body.item_code)


async def bulk_recognition(service: Service, caller: Caller, raw: bytes) -> object:
    body = parse_body(BulkRecognitionRequest, raw)
    note_asked_in(service, caller.request, body.id_numbers)
    data = await service.recognise_bulk_async(caller, body.item_code, body.id_numbers)
    return {"data": data, "count": len(data)}


@dataclass(frozen=True)
class FastRoute:
    """A POST route ``api.main.Guard`` answers itself: who may call it, and the answer
    to a caller's raw JSON body."""

    path: str
    name: str
    roles: tuple[Role, ...]
    answer: Callable[[Service, Caller, bytes], Awaitable[object]]


FAST_LANE = {
    route.path: route
    for route in (
        FastRoute("/v1/recognition", "recognise", (Role.BENEFIT_SYSTEM,), recognition),
        FastRoute(
            "/v1/recognition/bulk", "recognise_bulk", (Role.BENEFIT_SYSTEM,), bulk_recognition
        ),
    )
}


async def _documented(request: Request, path: str) -> Response:
    route = FAST_LANE[path]
    caller = caller_of(request, *route.roles)
    data = await route.answer(request.app.state.service, caller, await request.body())
    return Response(answer_bytes(data), media_type="application/json")


@router.post(
    "/recognition", response_model=Recognition, openapi_extra=documented_body(RecognitionRequest)
)
async def recognise(request: Request) -> Response:
    """Is this person recognised for this item: status, valid until, method and basis."""
    return await _documented(request, "/v1/recognition")


@router.post(
    "/recognition/bulk",
    response_model=RecognitionsPublic,
    openapi_extra=documented_body(BulkRecognitionRequest),
)
async def recognise_bulk(request: Request) -> Response:
    """Recognition of up to 10,000 ID numbers for one item (the monthly payroll)."""
    return await _documented(request, "/v1/recognition/bulk")


@router.post("/rosters/changes", response_model=BatchResult)
def roster_changes(body: RosterBatch, service: ServiceDep, caller: BenefitCaller) -> object:
    """New, changed and ended enrolments; bad rows are named, good rows written together."""
    return service.submit_roster_changes(caller, body.batch_id, body.changes)
