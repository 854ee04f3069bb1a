"""Administrators' reads of the audit log: reading it is itself audited."""

from __future__ import annotations

from typing import Any

from linkgraph.service.context import Caller, ServiceContext


def search_audit(
    ctx: ServiceContext, caller: Caller, **filters: Any
) -> tuple[list[dict[str, Any]], int]:
    """Audit entries matching ``filters``, newest first, and how many match (an ID number
    searched for is kept in the audit as the API keeps any asked: hashed, not here)."""
    entries, total = ctx.audit.search(**filters)
    shown = {k: v for k, v in filters.items() if v and k != "id_number"}
    ctx.audit.write(caller.entry("audit.read", [], filters=shown))
    return entries, total
