"""Who asks and why: the caller every use case checks, masks for and audits.

Kept apart from :mod:`linkgraph.service.context` so that the command line can ask as a
caller (:mod:`linkgraph.cli.asked`) without loading the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from linkgraph.service.audit import AuditEntry, RequestAudit
from linkgraph.service.keys import Principal


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks and why: every use case checks the one and audits both."""

    principal: Principal
    purpose: str
    #: The API request this call answers: the use case's audit entry becomes part of it.
    request: RequestAudit | None = None
    #: Whether a purpose was stated: the command line shows identifiers whole only then
    #: (a key's purpose is always stated, by the call or by its role's default).
    purpose_stated: bool = True

    @property
    def unmasked(self) -> bool:
        """ID numbers, phones and accounts shown whole: the role needs them, for a purpose."""
        return self.principal.unmasked and self.purpose_stated

    def entry(self, action: str, subjects: Iterable[str], **detail: Any) -> AuditEntry:
        p = self.principal
        return AuditEntry(
            actor=f"{p.name} ({p.key_id})",
            role=str(p.role),
            action=action,
            purpose=self.purpose,
            subjects=tuple(subjects),
            detail={"scope": str(p.scope), **detail},
            request=self.request,
        )
