"""Operations: liveness, readiness (checks the store), Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServiceDep
from api.models import Ready

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready)
def readyz(service: ServiceDep) -> object:
    """The store answers and the read model is loaded; 503 with Retry-After otherwise."""
    return service.ready()


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
