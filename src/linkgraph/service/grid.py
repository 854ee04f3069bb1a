"""Grid work: a grid worker's open door-check tasks, and what a visit found.

A grid worker's key is scoped to one grid: they see and close only its tasks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from linkgraph.errors import InputError
from linkgraph.ingest import day_fault
from linkgraph.service.context import Caller, Conflict, Forbidden, NotFound, ServiceContext
from linkgraph.service.masking import shown_id, shown_phone
from linkgraph.service.readmodel import ReadModel, TaskView
from linkgraph.service.recognition import status_of


def _check_grid(caller: Caller, grid: str | None) -> None:
    scope = caller.principal.scope
    if scope.kind == "grid" and scope.value != grid:
        raise Forbidden(f"this key is scoped to grid {scope.value}")


def _task_dict(caller: Caller, model: ReadModel, t: TaskView) -> dict[str, Any]:
    p = model.persons.get(t.person_id)
    return {
        "task_id": t.task_id,
        "kind": t.kind,
        "status": t.status or "open",
        "due_on": t.due_on,
        "reason": t.reason,
        "grid": t.grid,
        "person_id": t.person_id,
        "name": p.name if p else None,
        "id_number": shown_id(caller, p.id_number if p else None),
        "phone": shown_phone(caller, p.phone if p else None),
    }


def grid_tasks(
    ctx: ServiceContext, caller: Caller, grid: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the grid's open tasks, and how many there are."""
    _check_grid(caller, grid)
    model = ctx.read_model()
    tasks = model.open_tasks(grid)
    page = tasks[offset : offset + limit]
    ctx.audit.write(caller.entry("task.list", sorted({t.person_id for t in page}), grid=grid))
    return [_task_dict(caller, model, t) for t in page], len(tasks)


def record_visit(
    ctx: ServiceContext, caller: Caller, task_id: str, result: str, on: dt.date, note: str
) -> dict[str, Any]:
    """A grid worker's door check: the task is closed and what was seen becomes evidence."""
    fault = day_fault(on, dt.date.today())
    if fault:
        raise InputError(f"on: {fault}")
    with ctx.write_lock:
        model = ctx.read_model()
        t = model.tasks.get(task_id)
        if t is None:
            raise NotFound(f"no task {task_id!r}")
        _check_grid(caller, t.grid)
        if not t.open:
            raise Conflict(f"task {task_id} is already {t.status}")
        task = model.task_rows[task_id]
        ctx.commit(caller, model, "visit", task=task, result=result, on=on, note=note)
        done = model.tasks[task_id]
        enrollments = model.enrollments_for(t.person_id)
    ctx.audit.write(caller.entry("task.visit", [t.person_id], task_id=task_id, result=result))
    return {
        "task_id": task_id,
        "status": done.status,
        "result": result,
        "enrollments": [
            {
                "enrollment_id": e.enrollment_id,
                "item_code": e.item_code,
                "status": status_of(e)[0],
            }
            for e in enrollments
        ],
    }
