"""The linkgraph API: routers included in one place, errors as JSON, logs as JSON.

    uvicorn api.main:app            # or: linkgraph api serve

Versioned under ``/v1``; ``/healthz``, ``/readyz`` and ``/metrics`` sit at the root.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from api.deps import DEFAULT_PURPOSE, DOCUMENTED_BODIES
from api.models import ERRORS
from api.routes import admin, benefits, channels, citizens, grid, investigators, ops, resolution
from linkgraph.config import Settings, get_settings
from linkgraph.errors import InputError, LinkgraphError, StoreError, StoreUnavailable
from linkgraph.service import ApiSettings, Conflict, Forbidden, NotFound, Principal, Service
from linkgraph.service.audit import RequestAudit
from linkgraph.service.rows import EventRow, RosterChangeRow

log = logging.getLogger("linkgraph.api")

REQUESTS = Counter(
    "linkgraph_api_requests_total",
    "HTTP requests by route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "linkgraph_api_request_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# ------------------------------------------------------------------ logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _skip = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("linkgraph", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


# ------------------------------------------------------------------ middleware


class AccessLog:
    """One JSON line per request on stderr, written directly: the logging module's
    record, handler and formatter machinery costs more than a recognition look-up."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = True

    def write(self, fields: dict[str, Any]) -> None:
        if not self.enabled:
            return
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        line = json.dumps(
            {"ts": stamp, "level": "info", "logger": "linkgraph.api.access", **fields},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self.stream.write(line + "\n")


access_log = AccessLog()
_metric_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_ids = itertools.count(1)
_id_prefix = os.urandom(3).hex()


def _observe(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, str(status))
    children = _metric_children.get(key)
    if children is None:
        children = (REQUESTS.labels(*key), LATENCY.labels(route))
        _metric_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


async def _json(send: Send, status: int, body: dict[str, Any], headers: list[Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


#: The error name of each refusal, as the answers' ``error`` field and the audit's outcome.
ERROR_NAMES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    500: "internal_error",
    502: "store_error",
    503: "store_unavailable",
}


class Guard:
    """Pure ASGI middleware, the API's trust boundary: a request id; the key, checked
    before anything else under ``/v1`` (401 comes first); the body size limit (413);
    one audit entry per request, refusals included, on disk before the answer leaves;
    metrics and one JSON log line."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"{_id_prefix}{next(_ids):010x}"
        record = RequestAudit(request_id)
        state = scope.setdefault("state", {})
        state["request_id"], state["audit"] = request_id, record
        service: Service | None = getattr(scope["app"].state, "service", None)
        status = 500
        audited = False
        rid = (b"x-request-id", request_id.encode())
        length = key = purpose = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value
            elif name == b"x-api-key":
                key = value.decode("latin-1")
            elif name == b"x-purpose":
                purpose = value.decode("latin-1")
        principal = service.keys.verify(key) if service is not None and key else None
        if principal is not None:
            state["principal"] = principal
        if service is not None:
            service.audit.requests_in_progress += 1

        async def audit(answered: int) -> None:
            """The request's entry, on disk (or in the file, as configured) before the answer."""
            nonlocal audited
            if audited or service is None:
                return
            audited = True
            route, name = _route_of(scope)
            await service.audit.append_async(
                _entry(record, principal, purpose, scope["method"], route, name, answered),
                durable=service.api.audit_reads == "fsync",
            )

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid]
                await audit(status)
            await send(message)

        async def refuse(code: int, detail: str, headers: list[Any]) -> None:
            nonlocal status
            status = code
            record.outcome = ERROR_NAMES[code]
            body = {"error": record.outcome, "detail": detail, "request_id": request_id}
            await audit(code)
            await _json(send, code, body, [rid, *headers])

        try:
            if length is not None and _int(length) > self.max_body:
                await refuse(413, f"request body over {self.max_body} bytes", [])
                return
            path: str = scope["path"]
            if service is not None and principal is None and path.startswith("/v1/"):
                reason = "unknown or revoked API key" if key else "missing API key"
                challenge = [(b"www-authenticate", b"ApiKey")]
                await refuse(401, f"{reason} (header X-API-Key)", challenge)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise _TooLarge
                return message

            try:
                await self.app(scope, limited_receive, send_wrapper)
            except _TooLarge:
                await refuse(413, f"request body over {self.max_body} bytes", [])
        except Exception:
            record.outcome = record.outcome or "internal_error"
            await audit(500)  # the server's 500 answer follows
            raise
        finally:
            if service is not None:
                service.audit.requests_in_progress -= 1
            elapsed = time.perf_counter() - started
            route = _route_of(scope)[0]
            _observe(scope["method"], route, status, elapsed)
            access_log.write(
                {
                    "msg": "request",
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "key_id": getattr(principal, "key_id", None),
                }
            )


def _int(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _entry(
    record: RequestAudit,
    principal: Principal | None,
    purpose: str | None,
    method: str,
    route: str,
    name: str,
    status: int,
) -> dict[str, Any]:
    """The request's audit entry: who (key), why, what was asked, and how it was answered."""
    p = principal
    shown_purpose = (purpose or "").strip()[:200] or (DEFAULT_PURPOSE[p.role] if p else "")
    return {
        "request_id": record.request_id,
        "key_id": p.key_id if p else None,
        "actor": record.actor or (f"{p.name} ({p.key_id})" if p else None),
        "role": record.role or (str(p.role) if p else None),
        "purpose": record.purpose or shown_purpose,
        "method": method,
        "route": route,
        "status": status,
        "outcome": record.outcome or ("ok" if status < 400 else ERROR_NAMES.get(status, "refused")),
        "action": record.action or f"api.{name}",
        "subjects": record.subjects,
        "asked": record.asked,
        "detail": {"scope": str(p.scope), **record.detail} if p else record.detail,
    }


def _route_of(scope: Scope) -> tuple[str, str]:
    """The matched route's template (``/v1/persons/{person_id}``: bounded metric labels)
    and name; found in the app's table of routes when the request was refused before
    routing."""
    if scope.get("route") is None and scope.get("endpoint") is None:
        for pattern, template, name in scope["app"].state.route_table:
            if pattern.match(scope["path"]):
                return template, name
        return "unmatched", "unmatched"
    label = str(scope["path"])
    for name, value in sorted(
        scope.get("path_params", {}).items(), key=lambda kv: -len(str(kv[1]))
    ):
        if str(value):
            label = label.replace(f"/{value}", f"/{{{name}}}", 1)
    route = scope.get("route")
    name = getattr(route, "name", None) or getattr(scope.get("endpoint"), "__name__", "")
    return label, str(name or "unmatched")


class _TooLarge(Exception):
    pass


# ------------------------------------------------------------------ errors


def _error(request: Request, status: int, error: str, detail: Any, **headers: str) -> JSONResponse:
    record: RequestAudit | None = getattr(request.state, "audit", None)
    if record is not None:
        record.outcome = error
    return JSONResponse(
        {
            "error": error,
            "detail": jsonable_encoder(detail),
            "request_id": getattr(request.state, "request_id", None),
        },
        status_code=status,
        headers=headers or None,
    )


def _install_error_handlers(app: FastAPI, retry_after: int) -> None:
    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return _error(request, 422, "invalid_request", detail)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI's answer to a body that is not UTF-8 JSON
            detail = [{"loc": ["body"], "msg": "not UTF-8 JSON", "type": "json_invalid"}]
            return _error(request, 422, "invalid_request", detail)
        return _error(
            request,
            exc.status_code,
            ERROR_NAMES.get(exc.status_code, "http_error"),
            exc.detail,
            **(exc.headers or {}),
        )

    async def linkgraph(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, StoreUnavailable):
            log.warning("store unavailable", extra={"error": str(exc)})
            return _error(
                request,
                503,
                "store_unavailable",
                "the graph store cannot be reached; retry later",
                **{"Retry-After": str(retry_after)},
            )
        if isinstance(exc, StoreError):
            log.error("store error", extra={"error": str(exc)})
            return _error(request, 502, "store_error", str(exc))
        kinds: dict[type[LinkgraphError], tuple[int, str]] = {
            NotFound: (404, "not_found"),
            Forbidden: (403, "forbidden"),
            Conflict: (409, "conflict"),
            InputError: (422, "invalid_request"),
        }
        for kind, (status, name) in kinds.items():
            if isinstance(exc, kind):
                return _error(request, status, name, str(exc))
        return _error(request, 500, "internal_error", str(exc))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(request, 500, "internal_error", "unexpected error; see the server log")

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(LinkgraphError, linkgraph)
    app.add_exception_handler(Exception, unexpected)


# ------------------------------------------------------------------ the app


def create_app(settings: Settings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """The API for ``settings`` (default: environment); the service starts with the app."""
    api = api or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The audit's syncing thread hands each synced group back to the event loop: it
        # must get the GIL within a fraction of a sync (~0.2 ms), not Python's default
        # 5 ms, or every request of the group waits that long (see AuditLog).
        sys.setswitchinterval(0.0002)
        service = Service(settings or get_settings(), api)
        app.state.service = service
        try:
            model = service.refresh()
            log.info(
                "read model loaded",
                extra={"persons": len(model.persons), "enrollments": len(model.enrollments)},
            )
        except StoreUnavailable as exc:
            log.warning(
                "store unavailable at start; will retry on demand", extra={"error": str(exc)}
            )
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="linkgraph",
        version="1.0.0",
        summary="Recognition and investigation API: certify once, recognise everywhere.",
        lifespan=lifespan,
        docs_url="/docs" if api.enable_docs else None,
        redoc_url=None,
    )
    table = []
    for module in (benefits, channels, resolution, investigators, grid, citizens, admin):
        app.include_router(module.router, prefix="/v1", responses=ERRORS)
        for route in module.router.routes:
            path = f"/v1{getattr(route, 'path', '')}"
            table.append((compile_path(path)[0], path, str(getattr(route, "name", ""))))
    app.state.route_table = table  # see _route_of
    for path, endpoint in reversed(benefits.HOT_ROUTES):
        app.router.routes.insert(
            0, Route(f"/v1{path}", endpoint, methods=["POST"], include_in_schema=False)
        )
    app.include_router(ops.router)
    _install_error_handlers(app, api.retry_after_seconds)
    app.add_middleware(Guard, max_body_bytes=api.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for body in DOCUMENTED_BODIES:
            found = body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[body.__name__] = found
        for model, batch, field in (
            (RosterChangeRow, "RosterBatch", "changes"),
            (EventRow, "EventBatch", "events"),
        ):
            row = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(row.pop("$defs", {}))
            components[model.__name__] = row
            # Each row is checked alone (a bad row is named, the others go on), so the
            # batch takes any rows: the row's own schema is documented beside it.
            prop = components[batch]["properties"][field]
            prop["description"] = (
                f"Rows of {model.__name__} (#/components/schemas/{model.__name__}); each is"
                " checked alone: a row that does not fit is named in `rejected`."
            )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


configure_logging()
app = create_app()
