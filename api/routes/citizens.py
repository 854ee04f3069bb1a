"""Citizens and families: ask to stop a benefit (held at once, pending confirmation)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import CallerDep, ServiceDep, require
from api.models import StopRequest, StopRequestPublic
from linkgraph.service import Role
from linkgraph.service.casework import StopAsk

router = APIRouter(
    tags=["citizens"], dependencies=[Depends(require(Role.CITIZEN, Role.BENEFIT_SYSTEM))]
)


@router.post("/stop-requests", response_model=StopRequestPublic, status_code=202)
def stop_request(body: StopRequest, service: ServiceDep, caller: CallerDep) -> object:
    """Ask to stop a person's benefits: held at once when the person asks, otherwise a
    check; a case worker confirms (stop) or dismisses (pay on)."""
    return service.stop_request(caller, StopAsk(**body.model_dump()))
