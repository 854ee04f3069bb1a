"""Tip-offs: a village committee's or the public's report that a beneficiary may no longer be
eligible, filed by whoever received it.

Grid workers file the reports their village committees bring them (about their own grid's
persons); investigators file the public's (hotline, letters), about anyone in the city.
A department's payroll system (``benefit_system``) and the citizen portal do not: the one
pays, the other acts for a verified person about their own benefits.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.deps import CallerDep, ServiceDep, note_asked, require
from api.models import TipOff, TipOffPublic
from linkgraph.service import Role

router = APIRouter(
    tags=["tip-offs"], dependencies=[Depends(require(Role.GRID_WORKER, Role.INVESTIGATOR))]
)


@router.post("/tipoffs", response_model=TipOffPublic, status_code=202)
def tipoff(request: Request, body: TipOff, service: ServiceDep, caller: CallerDep) -> object:
    """Record a tip-off: kept in the ledger as ``linkgraph tipoff`` keeps it, never a hold,
    a door check for the person's grid worker."""
    note_asked(request, body.id_number)
    return service.file_tipoff(caller, body.id_number, body.reported_by, body.says, body.on)
