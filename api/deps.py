"""Dependencies as ``Annotated`` aliases, and role gates passed as ``dependencies=[...]``.

All are ``async def`` and never block: FastAPI would run plain ``def`` dependencies
in its thread pool, which costs more than the look-ups themselves. The caller
(key -> principal, role gate, purpose) is resolved by one dependency per route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError

from linkgraph.service import Caller, Principal, Role, Service
from linkgraph.service.audit import RequestAudit

M = TypeVar("M", bound=BaseModel)

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


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]
ApiKey = Annotated[str | None, Depends(api_key_header)]
Purpose = Annotated[
    str | None,
    Header(max_length=200, description="Why the data is needed (written to the audit log)."),
]


def authenticate(request: Request, key: str | None) -> Principal:
    """The principal of the request's key (``api.main.Guard`` has already refused a
    request under ``/v1`` without a valid one); 401 when it is missing or unknown."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key (header X-API-Key)",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    service: Service = request.app.state.service
    principal = service.keys.verify(key)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    request.state.principal = principal
    return principal


def _check_role(principal: Principal, allowed: frozenset[Role]) -> None:
    if principal.role not in allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {principal.role} may not do this"
            f" (needs {', '.join(sorted(str(r) for r in allowed))})",
        )


def require(*roles: Role) -> Callable[..., Awaitable[Caller]]:
    """The caller, if their role is one of ``roles`` (admin always passes); else 401/403.

    Used both as a router's gate, ``dependencies=[Depends(require(Role.INVESTIGATOR))]``,
    and as the route's ``CallerDep`` (FastAPI resolves it once per request).
    """
    allowed = frozenset({*roles, Role.ADMIN})

    async def caller(request: Request, key: ApiKey, x_purpose: Purpose = None) -> Caller:
        cached: Caller | None = getattr(request.state, "caller", None)
        if cached is not None:
            return cached
        principal = authenticate(request, key)
        _check_role(principal, allowed)
        purpose = (x_purpose or "").strip() or DEFAULT_PURPOSE[principal.role]
        request.state.caller = Caller(principal, purpose, _audit_of(request))
        return request.state.caller

    return caller


async def any_caller(request: Request, key: ApiKey, x_purpose: Purpose = None) -> Caller:
    """The caller of a route whose router already gated the role."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    principal = authenticate(request, key)
    purpose = (x_purpose or "").strip() or DEFAULT_PURPOSE[principal.role]
    request.state.caller = Caller(principal, purpose, _audit_of(request))
    return request.state.caller


CallerDep = Annotated[Caller, Depends(any_caller)]


def caller_of(request: Request, *roles: Role) -> Caller:
    """:func:`require` as a plain call, for routes that take no dependencies at all."""
    principal = authenticate(request, request.headers.get("x-api-key"))
    return caller_as(principal, request.headers.get("x-purpose"), _audit_of(request), roles)


def caller_as(
    principal: Principal, purpose: str | None, record: RequestAudit | None, roles: tuple[Role, ...]
) -> Caller:
    """The caller of a known principal, if their role is one of ``roles`` (admin always
    passes; else 403): how the fast lane (``api.main.Guard``) and :func:`caller_of` gate."""
    _check_role(principal, frozenset({*roles, Role.ADMIN}))
    shown = (purpose or "").strip()[:200]
    return Caller(principal, shown or DEFAULT_PURPOSE[principal.role], record)


def _audit_of(request: Request) -> RequestAudit | None:
    """The request's audit entry in the making (see ``api.main.Guard``)."""
    record: RequestAudit | None = getattr(request.state, "audit", None)
    return record


def note_asked(request: Request, *id_numbers: str) -> None:
    """Keep the ID numbers a request asks about in its audit entry, as keyed hashes."""
    service: Service = request.app.state.service
    note_asked_in(service, _audit_of(request), id_numbers)


def note_asked_in(service: Service, record: RequestAudit | None, id_numbers: Iterable[str]) -> None:
    if record is not None:
        record.note_asked(service.audit.pseudonyms(id_numbers))


def parse_body(model: type[M], raw: bytes) -> M:
    """The request body as ``model``; a 422 shaped like FastAPI's own when it is not."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a hot route: its JSON body, key and purpose header."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        },
        "parameters": [
            {
                "name": "X-Purpose",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "Why the data is needed (written to the audit log).",
            }
        ],
        "security": [{"APIKeyHeader": []}],
    }


#: Models named by hot routes' ``openapi_extra``: added to the spec's components.
DOCUMENTED_BODIES: list[type[BaseModel]] = []
