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
from starlette.routing import Route

from api.deps import DOCUMENTED_BODIES
from api.models import ERRORS
from api.routes import admin, benefits, channels, citizens, grid, investigators, ops, resolution
from linkgraph.config import Settings, get_settings
from linkgraph.errors import InputError, LinkgraphError, StoreError, StoreUnavailable
from linkgraph.service import ApiSettings, Conflict, Forbidden, NotFound, Service
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


class Guard:
    """Pure ASGI middleware: request id, body size limit (413), metrics and one JSON log line."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"{_id_prefix}{next(_ids):010x}"
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        rid = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], rid]
            await send(message)

        too_big = {
            "error": "payload_too_large",
            "detail": f"request body over {self.max_body} bytes",
            "request_id": request_id,
        }
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
                break
        try:
            if length is not None and length > self.max_body:
                status = 413
                await _json(send, 413, too_big, [rid])
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
                status = 413
                await _json(send, 413, too_big, [rid])
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            _observe(scope["method"], route, status, elapsed)
            principal = scope["state"].get("principal")
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


def _route_label(scope: Scope) -> str:
    """The matched route's template (``/v1/persons/{person_id}``): bounded metric labels."""
    if scope.get("route") is None and scope.get("endpoint") is None:
        return "unmatched"
    label = str(scope["path"])
    for name, value in sorted(
        scope.get("path_params", {}).items(), key=lambda kv: -len(str(kv[1]))
    ):
        if str(value):
            label = label.replace(f"/{value}", f"/{{{name}}}", 1)
    return label


class _TooLarge(Exception):
    pass


# ------------------------------------------------------------------ errors


def _error(request: Request, status: int, error: str, detail: Any, **headers: str) -> JSONResponse:
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
        names = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        return _error(
            request,
            exc.status_code,
            names.get(exc.status_code, "http_error"),
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
    for module in (benefits, channels, resolution, investigators, grid, citizens, admin):
        app.include_router(module.router, prefix="/v1", responses=ERRORS)
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
            prop = components[batch]["properties"][field]
            prop["items"] = {"$ref": f"#/components/schemas/{model.__name__}"}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


configure_logging()
app = create_app()
