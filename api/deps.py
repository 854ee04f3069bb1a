"""Dependencies as ``Annotated`` aliases, and role gates passed as ``dependencies=[...]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from linkgraph.service import Caller, Principal, Role, Service

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Key from `linkgraph api keys create`."
)

DEFAULT_PURPOSE = {
    Role.BENEFIT_SYSTEM: "benefit payment",
    Role.CHANNEL: "evidence delivery",
    Role.INVESTIGATOR: "investigation",
    Role.GRID_WORKER: "door check",
    Role.REVIEWER: "linkage review",
    Role.CITIZEN: "citizen request",
    Role.ADMIN: "administration",
}


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_principal(
    request: Request, service: ServiceDep, key: Annotated[str | None, Depends(api_key_header)]
) -> Principal:
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key (header X-API-Key)",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    principal = service.keys.verify(key)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_caller(
    principal: CurrentPrincipal,
    x_purpose: Annotated[
        str | None,
        Header(max_length=200, description="Why the data is needed (written to the audit log)."),
    ] = None,
) -> Caller:
    purpose = (x_purpose or "").strip() or DEFAULT_PURPOSE[principal.role]
    return Caller(principal, purpose)


CallerDep = Annotated[Caller, Depends(get_caller)]


def require(*roles: Role) -> Callable[[Principal], None]:
    """A role gate: ``dependencies=[Depends(require(Role.INVESTIGATOR))]`` (admin always passes)."""
    allowed = {*roles, Role.ADMIN}

    def gate(principal: CurrentPrincipal) -> None:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role} may not do this"
                f" (needs {', '.join(sorted(str(r) for r in allowed))})",
            )

    return gate
