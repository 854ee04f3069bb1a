"""Grid workers: their grid's open tasks, and the result of a visit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import CallerDep, ServiceDep, require
from api.models import TasksPublic, Visit, VisitPublic
from linkgraph.service import Role

router = APIRouter(tags=["grid workers"], dependencies=[Depends(require(Role.GRID_WORKER))])

Key = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/grids/{grid}/tasks", response_model=TasksPublic)
def tasks(
    grid: Key,
    service: ServiceDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> object:
    """Open door-check tasks of one grid (a grid worker sees only their own grid)."""
    data, count = service.grid_tasks(caller, grid, limit, offset)
    return {"data": data, "count": count}


@router.post("/tasks/{task_id}/visit", response_model=VisitPublic)
def visit(task_id: Key, body: Visit, service: ServiceDep, caller: CallerDep) -> object:
    """What the worker found at the door; closes the task."""
    return service.record_visit(caller, task_id, body.result, body.on, body.note)
