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
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from api.deps import DEFAULT_PURPOSE, DOCUMENTED_BODIES, caller_as
from api.models import ERRORS
from api.routes import (
    admin,
    benefits,
    channels,
    citizens,
    grid,
    investigators,
    ops,
    resolution,
    tipoffs,
)
from api.routes.benefits import FastRoute, answer_bytes
from linkgraph.config import Settings, get_settings
from linkgraph.errors import (
    InputError,
    LinkgraphError,
    NoResults,
    StoreError,
    StoreUnavailable,
)
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
    """One JSON line per request on stderr, when ``LINKGRAPH_API_ACCESS_LOG`` is on (the
    audit log records every request already), written directly: the logging module's
    record, handler and formatter machinery costs more than a recognition look-up."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = False

    def write(self, fields: dict[str, Any]) -> None:
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


async def _send_json(send: Send, status: int, data: bytes, headers: list[Any]) -> None:
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
    """Pure ASGI middleware outside FastAPI's own, the API's trust boundary: a request
    id; the key, checked before anything else under ``/v1`` (401 comes first); the
    body size limit (413); one audit entry per request, refusals included, on disk
    before the answer leaves; metrics. The fast lane's routes
    (``api.routes.benefits.FAST_LANE``) are answered here, sparing them FastAPI's
    middleware, routing and request objects."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, lane: dict[str, FastRoute], retry_after: int
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.lane = lane
        self.retry_after = retry_after

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
        path: str = scope["path"]
        fast = self.lane.get(path) if scope["method"] == "POST" else None
        route: tuple[str, str] | None = (fast.path, fast.name) if fast else None
        if service is not None:
            service.audit.request_started()

        async def audit(answered: int) -> None:
            """The request's entry, on disk (or in the file, as configured) before the answer."""
            nonlocal audited, route
            if audited or service is None:
                return
            audited = True
            route = route or _route_of(scope)
            await service.audit.append_async(
                _entry(record, principal, purpose, scope["method"], *route, answered),
                durable=service.api.audit_reads == "fsync",
                request=True,
            )

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid]
                await audit(status)
            await send(message)

        async def answer(code: int, body: bytes, headers: list[Any]) -> None:
            nonlocal status
            status = code
            await audit(code)
            await _send_json(send, code, body, [rid, *headers])

        async def refuse(code: int, detail: Any, headers: list[Any], name: str = "") -> None:
            record.outcome = name or ERROR_NAMES[code]
            body = {"error": record.outcome, "detail": detail, "request_id": request_id}
            await answer(code, json.dumps(jsonable_encoder(body)).encode(), headers)

        try:
            if length is not None and _int(length) > self.max_body:
                await refuse(413, f"request body over {self.max_body} bytes", [])
                return
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
                if fast is not None and service is not None and principal is not None:
                    caller = caller_as(principal, purpose, record, fast.roles)
                    raw = await _body(limited_receive)
                    await answer(200, answer_bytes(await fast.answer(service, caller, raw)), [])
                else:
                    await self.app(scope, limited_receive, send_wrapper)
            except _TooLarge:
                await refuse(413, f"request body over {self.max_body} bytes", [])
            except _Disconnected:
                record.outcome = "client_disconnected"
                await audit(499)  # nobody is left to answer
            except Exception as exc:
                if fast is None or audited:
                    raise
                code, name, detail, headers = refusal_of(exc, self.retry_after)
                raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                await refuse(code, detail, raw_headers, name)
        except Exception:
            record.outcome = record.outcome or "internal_error"
            await audit(500)  # the server's 500 answer follows
            raise
        finally:
            if service is not None:
                service.audit.request_ended(appended=audited)
            elapsed = time.perf_counter() - started
            label = (route or _route_of(scope))[0]
            _observe(scope["method"], label, status, elapsed)
            if access_log.enabled:
                access_log.write(
                    {
                        "msg": "request",
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": label,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "key_id": getattr(principal, "key_id", None),
                    }
                )


async def _body(receive: Receive) -> bytes:
    """The whole request body (the fast lane reads it without a Request object)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


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


class _Disconnected(Exception):
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


def refusal_of(exc: Exception, retry_after: int) -> tuple[int, str, Any, dict[str, str]]:
    """The answer to an error raised while serving a request: status, error name,
    detail and headers (the same for FastAPI's routes and the fast lane)."""
    if isinstance(exc, RequestValidationError):
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return 422, "invalid_request", detail, {}
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's answer to a body that is not UTF-8 JSON
            detail = [{"loc": ["body"], "msg": "not UTF-8 JSON", "type": "json_invalid"}]
            return 422, "invalid_request", detail, {}
        name = ERROR_NAMES.get(exc.status_code, "http_error")
        return exc.status_code, name, exc.detail, dict(exc.headers or {})
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable", extra={"error": str(exc)})
        detail = (
            NoResults.reason  # the folder's path stays in the server's log
            if isinstance(exc, NoResults)
            else "the graph store cannot be reached; retry later"
        )
        return 503, "store_unavailable", detail, {"Retry-After": str(retry_after)}
    if isinstance(exc, StoreError):
        log.error("store error", extra={"error": str(exc)})
        return 502, "store_error", str(exc), {}
    kinds: dict[type[LinkgraphError], tuple[int, str]] = {
        NotFound: (404, "not_found"),
        Forbidden: (403, "forbidden"),
        Conflict: (409, "conflict"),
        InputError: (422, "invalid_request"),
    }
    for kind, (status, name) in kinds.items():
        if isinstance(exc, kind):
            return status, name, str(exc), {}
    if isinstance(exc, LinkgraphError):
        return 500, "internal_error", str(exc), {}
    log.exception("unhandled error", exc_info=exc)
    return 500, "internal_error", "unexpected error; see the server log", {}


def _install_error_handlers(app: FastAPI, retry_after: int) -> None:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        status, name, detail, headers = refusal_of(exc, retry_after)
        return _error(request, status, name, detail, **headers)

    for kind in (RequestValidationError, StarletteHTTPException, LinkgraphError, Exception):
        app.add_exception_handler(kind, handler)


class GuardedAPI(FastAPI):
    """FastAPI with :class:`Guard` in front of its whole middleware stack: the trust
    boundary is the first thing a request meets, and the fast lane skips the rest."""

    guard: dict[str, Any]

    def build_middleware_stack(self) -> ASGIApp:  # type: ignore[override]
        return Guard(super().build_middleware_stack(), **self.guard)


# ------------------------------------------------------------------ the app


def _serve_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the files ``fastapi-offline`` installs (Swagger UI 5, which
    reads OpenAPI 3.1), not from a CDN, which the city's closed network cannot reach."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    files = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs/files", StaticFiles(directory=files), name="docs-files")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/files/swagger-ui-bundle.js",
            swagger_css_url="/docs/files/swagger-ui.css",
            swagger_favicon_url="/docs/files/favicon.png",
        )


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

    app = GuardedAPI(
        title="linkgraph",
        version="1.0.0",
        summary="Recognition and investigation API: certify once, recognise everywhere.",
        lifespan=lifespan,
        docs_url=None,  # served from files installed with the API: see _serve_docs
        redoc_url=None,
        telemetry={
            "tracing": api.opentelemetry,
            "metrics": api.opentelemetry,
            "logs": api.opentelemetry,
        },
    )
    table = []
    for module in (benefits, channels, resolution, investigators, grid, citizens, tipoffs, admin):
        app.include_router(module.router, prefix="/v1", responses=ERRORS)
        for route in module.router.routes:
            path = f"/v1{getattr(route, 'path', '')}"
            table.append((compile_path(path)[0], path, str(getattr(route, "name", ""))))
    app.state.route_table = table  # see _route_of
    app.include_router(ops.router)
    if api.enable_docs:
        _serve_docs(app)
    _install_error_handlers(app, api.retry_after_seconds)
    app.guard = {
        "max_body_bytes": api.max_body_bytes,
        "lane": benefits.FAST_LANE,
        "retry_after": api.retry_after_seconds,
    }
    access_log.enabled = api.access_log

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
