"""Middlewares every service uses: request ids, access logs and metrics, and the one place errors are rendered."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import urlencode

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram

from authorium_shared.errors import OAuthError
from authorium_shared.logs import request_id

log = logging.getLogger("authorium.http")
access_log = logging.getLogger("authorium.access")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(body: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(exc: OAuthError) -> web.Response:
    """The RFC 6749 section 5.2 JSON form, or a redirect with error parameters (section 4.1.2.1)."""
    if exc.redirect_uri is not None:
        params = exc.body()
        if exc.state is not None:
            params["state"] = exc.state
        params.update(exc.redirect_params)
        sep = "&" if "?" in exc.redirect_uri else "?"
        raise web.HTTPFound(exc.redirect_uri + sep + urlencode(params))
    return json_response(exc.body(), status=exc.status, headers={**NO_STORE, **exc.headers})


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests", "HTTP requests served", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to serve a request",
            ["route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )


def _route_label(request: web.Request) -> str:
    # The route's pattern, never the raw path: raw paths would give unbounded label cardinality.
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    return info.route.resource.canonical if info.route.resource is not None else "unmatched"


def observe(metrics: HttpMetrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            response.headers["X-Request-ID"] = rid
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers["X-Request-ID"] = rid
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "remote": request.remote,
                    },
                )
            request_id.reset(token)

    return middleware


@web.middleware
async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except OAuthError as exc:
        return error_response(exc)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return json_response(
            {"error": "server_error", "error_description": f"request {request_id.get()} failed"},
            status=500,
            headers=NO_STORE,
        )
    return response
