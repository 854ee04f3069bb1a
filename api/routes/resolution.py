"""Resolution: a record to a person in real time; why two records are (not) one person."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import CallerDep, ServiceDep, require
from api.models import (
    ExplainRequest,
    ExplanationPublic,
    ResolutionPublic,
    ResolveRequest,
    ReviewDecision,
    ReviewPublic,
)
from linkgraph.service import Role

router = APIRouter(tags=["resolution"])


@router.post(
    "/resolution/resolve",
    response_model=ResolutionPublic,
    dependencies=[Depends(require(Role.BENEFIT_SYSTEM, Role.INVESTIGATOR, Role.REVIEWER))],
)
def resolve(body: ResolveRequest, service: ServiceDep, caller: CallerDep) -> object:
    """The person a record belongs to (incremental resolver); nothing is saved."""
    return service.resolve(caller, dict(body.record))


@router.post(
    "/resolution/explain",
    response_model=ExplanationPublic,
    dependencies=[Depends(require(Role.INVESTIGATOR, Role.REVIEWER))],
)
def explain(body: ExplainRequest, service: ServiceDep, caller: CallerDep) -> object:
    """Per-field evidence for or against two linked records being one person."""
    return service.explain(caller, body.record_a, body.record_b)


@router.post(
    "/reviews",
    response_model=ReviewPublic,
    tags=["reviewers"],
    dependencies=[Depends(require(Role.REVIEWER))],
)
def review(body: ReviewDecision, service: ServiceDep, caller: CallerDep) -> object:
    """A reviewer's decision: link (same person) or split (different persons), with what it
    changes; ``dry_run`` shows that without recording the decision."""
    return service.review(
        caller, body.decision, body.record_a, body.record_b, body.why, body.dry_run
    )
