"""The ASGI app: routes over a :class:`utils.serving.service.Service`.

    POST /v1/detect   an image (raw body or multipart file) -> predict.py's JSON record + timing
    GET  /v1/model    what is served          GET /healthz   alive
    GET  /readyz      loaded and warmed up    GET /metrics   Prometheus text
    GET  /            the browser page        GET /docs      OpenAPI docs

Every error is JSON ``{"error": "..."}`` with a 4xx/5xx status; /v1 and /metrics need the API key
when the service has one.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from utils.serving.errors import RequestError
from utils.serving.service import Service

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
PAGE_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
log = logging.getLogger("yolo_lite.serve")

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
                "required": ["image"],
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _key_check(api_key: str | None):
    """A dependency that refuses (401) a request without the key, in constant time."""
    expected = api_key.encode() if api_key else None

    async def require_key(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("x-api-key", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), expected):
            raise RequestError(
                401,
                "missing or wrong API key (send 'Authorization: Bearer KEY' or 'X-API-Key: KEY')",
                {"WWW-Authenticate": "Bearer"},
            )

    return require_key


def create_app(service: Service, api_key: str | None = None) -> FastAPI:
    """The app serving ``service``; it starts the service's worker when it starts up and stops
    it (after the requests in flight) when it shuts down."""

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="YOLOv4-lite detection service",
        summary=service.detector.describe(),
        lifespan=lifespan,
    )
    keyed = [Depends(_key_check(api_key))]
    _add_error_handlers(app)
    _add_metrics_middleware(app, service)

    @app.post("/v1/detect", dependencies=keyed, openapi_extra={"requestBody": _UPLOAD_BODY})
    async def detect(
        request: Request,
        conf: float | None = Query(None, description="score threshold (default: the service's)"),
        nms_iou: float | None = Query(None, description="NMS IoU threshold (per class)"),
        max_boxes: int | None = Query(None, description="detections kept per class and image"),
        classes: str | None = Query(
            None, description="only these classes: names or ids, comma-separated"
        ),
    ) -> dict:
        """Detect objects in one image: the raw body (any image type) or a multipart file."""
        thresholds = service.thresholds(conf, nms_iou, max_boxes)
        class_ids = service.class_filter(classes)
        with service.admitted():
            return await service.detect(request, thresholds, class_ids)

    @app.get("/v1/model", dependencies=keyed)
    async def model() -> dict:
        """Backbone, alpha, classes, input size, format, quantisation and defaults."""
        return service.model_info()

    @app.get("/healthz")
    async def healthz() -> dict:
        """The process is alive (the model may still be warming up: see /readyz)."""
        return {"alive": True}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 once the model is loaded and every batch size is warmed up, else 503."""
        state = service.readiness()
        return JSONResponse(state, status_code=200 if state["ready"] else 503)

    @app.get("/metrics", dependencies=keyed, include_in_schema=False)
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type=service.metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(os.path.join(PAGE_DIR, "index.html"), media_type="text/html")

    @app.get("/page/{name}", include_in_schema=False)
    async def page_file(name: str) -> FileResponse:
        if name not in PAGE_FILES:
            raise RequestError(404, f"no page file {name}")
        return FileResponse(os.path.join(PAGE_DIR, name), media_type=PAGE_FILES[name])

    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request, exc: RequestError):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        return _error(400, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(request, exc: Exception):
        log.exception("request failed: %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")


def _add_metrics_middleware(app: FastAPI, service: Service) -> None:
    """Every HTTP answer counted by route and status, and timed (a plain ASGI middleware:
    Starlette's BaseHTTPMiddleware would wrap every request's body and response in streams)."""
    inner = app.build_middleware_stack

    def build():
        return _Counted(inner(), service)

    app.build_middleware_stack = build  # type: ignore[method-assign]


class _Counted:
    def __init__(self, app, service: Service) -> None:
        self.app = app
        self.metrics = service.metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(path, status, time.perf_counter() - start)
