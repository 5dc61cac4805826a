"""Middlewares every service uses: request ids, access logs and metrics, and the one place errors are rendered."""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from urllib.parse import urlencode

import asyncpg
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.exceptions import RedisClusterException, RedisError

from authorium_shared import tracing
from authorium_shared.errors import InvalidRequest, OAuthError
from authorium_shared.logs import request_id

log = logging.getLogger("authorium.http")
access_log = logging.getLogger("authorium.access")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _RequestIds:
    """Request ids unique across processes and replicas without a random draw per request: 64 random bits per
    process (drawn again in each forked worker), then a counter; 32 hex digits, as uuid4().hex was."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_request_ids = _RequestIds()
_LABEL_CACHE = 1024

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(body: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def redirect_with(uri: str, params: dict[str, str], *, after_post: bool = False) -> web.HTTPException:
    """A redirect to `uri` with `params` added to its query; 303 after a POST so the browser follows with a
    GET and never re-posts the form (RFC 9700 section 4.12)."""
    sep = "&" if "?" in uri else "?"
    location = uri + sep + urlencode(params)
    return web.HTTPSeeOther(location) if after_post else web.HTTPFound(location)


def error_response(exc: OAuthError, *, after_post: bool = False) -> web.Response:
    """The RFC 6749 section 5.2 JSON form, or a redirect with error parameters (section 4.1.2.1)."""
    if exc.redirect_uri is not None:
        params = exc.body()
        if exc.state is not None:
            params["state"] = exc.state
        params.update(exc.redirect_params)
        raise redirect_with(exc.redirect_uri, params, after_post=after_post)
    return json_response({**exc.body(), **exc.json_params}, status=exc.status, headers={**NO_STORE, **exc.headers})


# Pages people see: no framing (clickjacking), no referrer (codes and state stay out of other sites' logs),
# no scripts, and nothing loaded from elsewhere.
PAGE_POLICY = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
# The one exception, made per route by `allow_own_scripts`: pages that need the site's own script files (authz's
# passkey pages call navigator.credentials, which only a script can). Scripts from this origin only: no inline
# script, no eval, and still no connections (`connect-src` stays 'none' through default-src).
OWN_SCRIPTS_POLICY = PAGE_POLICY + "; script-src 'self'"
HTML_SECURITY_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def allow_own_scripts(response: web.StreamResponse) -> None:
    """Let this page run the site's own script files (OWN_SCRIPTS_POLICY); `secure_pages` keeps it."""
    response.headers["Content-Security-Policy"] = OWN_SCRIPTS_POLICY


@web.middleware
async def secure_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Adds HTML_SECURITY_HEADERS to every HTML response, and no-store, since pages carry CSRF tokens."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.setdefault("Referrer-Policy", "no-referrer")
        raise
    if response.content_type == "text/html":
        for name, value in HTML_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def client_address(hops: int) -> Middleware:
    """The client's address as the nearest of `hops` trusted reverse proxies saw it, taken from the right of
    X-Forwarded-For (entries further left are whatever the client claimed). With no trusted proxy, or a header
    shorter than the chain, the connection's own peer address stands: a client cannot choose its address."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded = [a.strip() for a in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
        forwarded = [a for a in forwarded if a]
        if hops > 0 and len(forwarded) >= hops:
            return await handler(request.clone(remote=forwarded[-hops]))
        return await handler(request)

    return middleware


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
    # The labelled series, looked up once each: `labels()` takes a lock and builds a key on every call.
    # Bounded, since a method is whatever the client sent.
    counted: dict[tuple[str, str, str], Counter] = {}
    timed: dict[str, Histogram] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if incoming and _REQUEST_ID_RE.fullmatch(incoming) else _request_ids.new()
        token = request_id.set(rid)
        if tracing.tag_request is not None:
            tracing.tag_request(rid)
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
            key = (request.method, route, str(status))
            requests = counted.get(key)
            if requests is None:
                requests = metrics.requests.labels(*key)
                if len(counted) < _LABEL_CACHE:
                    counted[key] = requests
            requests.inc()
            latency = timed.get(route)
            if latency is None:
                latency = timed[route] = metrics.latency.labels(route)
            latency.observe(elapsed)
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


def _content_type_unparseable(request: web.Request) -> bool:
    """The standard library's MIME parser, behind `request.content_type`, raises IndexError on some malformed
    parameters (e.g. `;0*`): that is the client's malformed header, not the server's failure. (Asked again, aiohttp
    fails an assertion instead, having cached the raw header but no result.)"""
    try:
        request.content_type  # noqa: B018
    except Exception:
        return True
    return False


# What a backing store that is away, restarting or stalled raises. Postgres's class 57 (operator intervention) is
# what a restart says: "terminating connection due to administrator command" to the sessions it ends, "the
# database system is shutting down" / "starting up" to new ones. asyncpg raises InternalClientError when such a
# termination arrives while a connection sits idle in a transaction.
_STORE_UNAVAILABLE = (
    RedisError,
    RedisClusterException,  # a Redis Cluster with no node answering for a slot (not a RedisError)
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
    TimeoutError,
)


@web.middleware
async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except OAuthError as exc:
        return error_response(exc, after_post=request.method == "POST")
    except web.HTTPException:
        raise
    except web.RequestPayloadError:
        # A body that does not match its Content-Encoding or framing (e.g. "gzip" over bytes that are not) is the
        # client's mistake, found only when the body is read.
        return error_response(InvalidRequest("the request body could not be decoded"))
    except _STORE_UNAVAILABLE as exc:
        # A backing store is away: say so, and let the client retry, rather than a bare 500.
        log.warning("backing store unavailable", extra={"path": request.path, "error": repr(exc)})
        return json_response(
            {"error": "temporarily_unavailable", "error_description": "a backing store is unavailable; retry"},
            status=503,
            headers={**NO_STORE, "Retry-After": "1"},
        )
    except Exception:
        if _content_type_unparseable(request):
            return error_response(InvalidRequest("the Content-Type header cannot be parsed"))
        log.exception("unhandled error", extra={"path": request.path})
        return json_response(
            {"error": "server_error", "error_description": f"request {request_id.get()} failed"},
            status=500,
            headers=NO_STORE,
        )
    return response
