"""The service as one object: the context, with every use case as a method.

The use cases live in one module per audience, as functions over the context
(:mod:`linkgraph.service.context`); :class:`Service` only binds them, so that a
caller holding one object — the routes, the benchmarks, the tests — reaches them
all by name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from linkgraph.service import admin, casework, intake, investigation, recognition, resolution
from linkgraph.service import grid as grid_work  # ``grid`` is also a parameter below
from linkgraph.service.context import Caller, ServiceContext


class Service(ServiceContext):
    """See the module docstring; each method is the audience module's function."""

    # ------------------------------------------------------------ recognition

    async def recognise_async(
        self, caller: Caller, id_number: str, item_code: str
    ) -> dict[str, Any]:
        return await recognition.recognise_async(self, caller, id_number, item_code)

    async def recognise_bulk_async(
        self, caller: Caller, item_code: str, id_numbers: list[str]
    ) -> list[dict[str, Any]]:
        return await recognition.recognise_bulk_async(self, caller, item_code, id_numbers)

    # ------------------------------------------------------------ intake

    def submit_events(self, caller: Caller, batch_id: str, rows: list[Any]) -> dict[str, Any]:
        return intake.submit_events(self, caller, batch_id, rows)

    def submit_roster_changes(
        self, caller: Caller, batch_id: str, rows: list[Any]
    ) -> dict[str, Any]:
        return intake.submit_roster_changes(self, caller, batch_id, rows)

    # ------------------------------------------------------------ investigation

    def person_360(self, caller: Caller, person_id: str) -> list[dict[str, Any]]:
        return investigation.person_360(self, caller, person_id)

    def query_catalogue(self) -> list[dict[str, Any]]:
        return investigation.query_catalogue()

    def run_query(self, caller: Caller, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return investigation.run_query(self, caller, name, params)

    # ------------------------------------------------------------ casework

    def list_flags(
        self, caller: Caller, status: str | None, kind: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        return casework.list_flags(self, caller, status, kind, limit, offset)

    def get_flag(self, caller: Caller, flag_id: str) -> dict[str, Any]:
        return casework.get_flag(self, caller, flag_id)

    def transition_flag(
        self,
        caller: Caller,
        flag_id: str,
        to: str,
        why: str,
        amount: int | None,
        over_recovery_reason: str | None = None,
        recovery_kind: str | None = None,
    ) -> dict[str, Any]:
        return casework.transition_flag(
            self, caller, flag_id, to, why, amount, over_recovery_reason, recovery_kind
        )

    def stop_request(self, caller: Caller, ask: casework.StopAsk) -> dict[str, Any]:
        return casework.stop_request(self, caller, ask)

    def file_tipoff(
        self,
        caller: Caller,
        id_number: str,
        reported_by: str,
        says: str,
        on: dt.date | None = None,
    ) -> dict[str, Any]:
        return casework.file_tipoff(self, caller, id_number, reported_by, says, on)

    # ------------------------------------------------------------ grid work

    def grid_tasks(
        self, caller: Caller, grid: str, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        return grid_work.grid_tasks(self, caller, grid, limit, offset)

    def record_visit(
        self, caller: Caller, task_id: str, result: str, on: dt.date, note: str
    ) -> dict[str, Any]:
        return grid_work.record_visit(self, caller, task_id, result, on, note)

    # ------------------------------------------------------------ resolution

    def resolve(self, caller: Caller, record: dict[str, Any]) -> dict[str, Any]:
        return resolution.resolve(self, caller, record)

    def explain(self, caller: Caller, record_a: str, record_b: str) -> dict[str, Any]:
        return resolution.explain(self, caller, record_a, record_b)

    def review(
        self,
        caller: Caller,
        decision: str,
        record_a: str,
        record_b: str,
        why: str,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        return resolution.review(self, caller, decision, record_a, record_b, why, dry_run)

    # ------------------------------------------------------------ audit

    def search_audit(self, caller: Caller, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        return admin.search_audit(self, caller, **filters)
