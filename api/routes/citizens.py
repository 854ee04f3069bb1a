"""Citizens and families: ask to stop a benefit (held at once, pending confirmation)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.deps import CallerDep, ServiceDep, note_asked, require
from api.models import StopRequest, StopRequestPublic
from linkgraph.service import Role

router = APIRouter(
    tags=["citizens"], dependencies=[Depends(require(Role.CITIZEN, Role.BENEFIT_SYSTEM))]
)


@router.post("/stop-requests", response_model=StopRequestPublic, status_code=202)
def stop_request(
    request: Request, body: StopRequest, service: ServiceDep, caller: CallerDep
) -> object:
    """Hold the enrolments now; a case worker confirms (stop) or dismisses (resume)."""
    note_asked(request, body.id_number)
    return service.stop_request(
        caller, body.id_number, body.item_codes, body.requested_by, body.reason
    )
