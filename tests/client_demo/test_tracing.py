"""Tracing (docs/operations.md, "Tracing"): a sign-in and an API call at the demo are traces that follow the demo's
calls into the authorization and resource servers (W3C traceparent), every span and log line carries the request id,
and no span attribute holds a code, token, password, secret or cookie of the flow."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg
import orjson
import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from authorium_shared import tracing
from authorium_shared.logs import JsonFormatter
from tests.authz.flows import PASSWORD, query_of
from tests.client_demo.conftest import Visitor, stored_session
from tests.client_demo.test_session import expire_access_token
from tests.stack import Stack, running_stack

SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced() -> Iterator[tracing.Tracing]:
    """Tracing on for this module's stack, spans kept in SPANS; off again afterwards."""
    started = tracing.start("authorium", {}, exporter=SPANS)
    assert started is not None
    yield started
    started.stop()
    SPANS.clear()


@pytest.fixture(scope="module")
async def stack(
    traced: tracing.Tracing, module_environ: dict[str, str], module_db: asyncpg.Pool
) -> AsyncIterator[Stack]:
    """The stack, started once tracing is on so that its services are traced."""
    async with running_stack(module_environ, module_db) as running:
        yield running


@pytest.fixture
def browser(visitor: Visitor) -> Visitor:
    """The test's own requests start no trace: a browser sends no traceparent."""
    AioHttpClientInstrumentor.uninstrument_session(visitor.http)
    return visitor


class Lines(logging.Handler):
    """Log lines as the services write them, formatted as they are emitted (inside the span)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@pytest.fixture
def access_lines() -> Iterator[Lines]:
    logger = logging.getLogger("authorium.access")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def port_of(span: ReadableSpan) -> int:
    attributes = span.attributes or {}
    return int(attributes.get("net.host.port") or attributes.get("server.port") or 0)


def service_of(stack: Stack, span: ReadableSpan) -> str:
    ports = {int(url.rsplit(":", 1)[1]): name for name, url in vars(stack).items() if name in SERVICES}
    return ports.get(port_of(span), "?")


SERVICES = ("authz", "resource", "demo")


def trace_of(root: ReadableSpan) -> list[ReadableSpan]:
    assert root.context is not None
    return [
        s for s in SPANS.get_finished_spans() if s.context is not None and s.context.trace_id == root.context.trace_id
    ]


def server_span(name: str, stack: Stack, service: str) -> ReadableSpan:
    found = [
        s
        for s in SPANS.get_finished_spans()
        if s.kind == SpanKind.SERVER and s.name == name and service_of(stack, s) == service
    ]
    assert found, f"no {name} span of {service}"
    return found[-1]


def assert_parent_is_a_client_span_of(span: ReadableSpan, spans: Sequence[ReadableSpan], stack: Stack) -> str:
    """The server span's parent is a client span in the trace; returns the service that made the call."""
    assert span.parent is not None, f"{span.name} starts a trace of its own: no traceparent arrived"
    [parent] = [s for s in spans if s.context is not None and s.context.span_id == span.parent.span_id]
    assert parent.kind == SpanKind.CLIENT
    [caller] = [s for s in spans if s.kind == SpanKind.SERVER and s.context.span_id == _server_ancestor(parent, spans)]
    return service_of(stack, caller)


def _server_ancestor(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> int:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    while span.kind != SpanKind.SERVER:
        assert span.parent is not None
        span = by_id[span.parent.span_id]
    assert span.context is not None
    return span.context.span_id


def leaks(spans: Sequence[ReadableSpan], secrets: dict[str, str]) -> list[str]:
    """Every (span, attribute, secret) where an attribute of a span, or of one of its events, holds a secret."""
    found = []
    for span in spans:
        attributes = [dict(span.attributes or {})] + [dict(e.attributes or {}) for e in span.events]
        for name, value in ((k, v) for a in attributes for k, v in a.items()):
            for what, secret in secrets.items():
                if secret in str(value):
                    found.append(f"{span.name}: {name} holds the {what}")
    return found


async def test_a_sign_in_and_an_api_call_are_traces_across_the_services_without_a_secret(
    browser: Visitor, username: str, stack: Stack, redis: Redis, access_lines: Lines
) -> None:
    SPANS.clear()
    location = (await browser.authorize(username)).location
    code, state = query_of(location)["code"], query_of(location)["state"]
    status, _, callback = await browser.callback(location)
    assert status == 303
    status, page, _ = await browser.get("/")
    assert status == 200 and "Your notes" in page

    # The callback: the demo redeems the code and reads userinfo at the authorization server, in one trace.
    signed_in = server_span("GET /callback", stack, "demo")
    spans = trace_of(signed_in)
    token = server_span("POST /token", stack, "authz")
    assert token in spans
    assert assert_parent_is_a_client_span_of(token, spans, stack) == "demo"
    assert {service_of(stack, s) for s in spans if s.kind == SpanKind.SERVER} >= {"demo", "authz"}

    # An API call with an expired access token: the demo refreshes it at the authorization server and calls the notes
    # API, in one trace across the three services.
    before = await expire_access_token(redis, stack, browser)
    status, page, home = await browser.get("/")
    assert status == 200 and "Your notes" in page
    dashboard = server_span("GET /", stack, "demo")
    spans = trace_of(dashboard)
    refresh, notes = server_span("POST /token", stack, "authz"), server_span("GET /api/notes", stack, "resource")
    assert refresh in spans and notes in spans
    assert assert_parent_is_a_client_span_of(refresh, spans, stack) == "demo"
    assert assert_parent_is_a_client_span_of(notes, spans, stack) == "demo"
    assert {service_of(stack, s) for s in spans if s.kind == SpanKind.SERVER} == {"demo", "authz", "resource"}

    # Every span of both traces carries the request id of the request it served; the demo's is the one it answered.
    traced = trace_of(signed_in) + trace_of(dashboard)
    assert all((s.attributes or {}).get(tracing.REQUEST_ID_ATTRIBUTE) for s in traced), [
        s.name for s in traced if not (s.attributes or {}).get(tracing.REQUEST_ID_ATTRIBUTE)
    ]
    assert (dashboard.attributes or {})[tracing.REQUEST_ID_ATTRIBUTE] == home.headers["X-Request-ID"]
    assert (signed_in.attributes or {})[tracing.REQUEST_ID_ATTRIBUTE] == callback.headers["X-Request-ID"]
    assert any(s.name.startswith("GETDEL") or s.name.startswith("EVALSHA") for s in traced), "no Redis span"
    assert any((s.attributes or {}).get("db.system") == "postgresql" for s in traced), "no Postgres span"

    # Log lines written inside a span carry its trace and span ids, next to the request id.
    [line] = [x for x in access_lines.lines if x.get("request_id") == home.headers["X-Request-ID"]]
    assert dashboard.context is not None
    assert line["trace_id"] == format(dashboard.context.trace_id, "032x")
    assert line["span_id"] == format(dashboard.context.span_id, "016x")

    session = await stored_session(redis, stack.environ, browser.sid)
    assert session is not None
    secrets = {
        "authorization code": code,
        "state": state,
        "password": PASSWORD,
        "client secret": str(stack.client.secret),
        **{f"old {name}": value for name, value in before.items() if name.endswith("token")},
        **{name: str(value) for name, value in session["tokens"].items() if name.endswith("token")},  # type: ignore[union-attr]
        **{f"cookie {c.key}": c.value for c in browser.http.cookie_jar},
    }
    assert len(secrets) >= 11, secrets.keys()
    everything = SPANS.get_finished_spans()
    assert leaks(everything, secrets) == []


async def test_the_leak_check_finds_a_planted_secret(traced: tracing.Tracing) -> None:
    """The check above can fail: a span given a code as an attribute is caught (and a URL's query is stripped)."""
    SPANS.clear()
    tracer = traced.provider.get_tracer("test")
    with tracer.start_as_current_span("planted", attributes={"http.url": "http://x/cb?code=c0de"}) as span:
        span.set_attribute("note", "the code is c0de")
    [planted] = SPANS.get_finished_spans()
    assert (planted.attributes or {})["http.url"] == "http://x/cb"
    assert leaks([planted], {"authorization code": "c0de"}) == ["planted: note holds the authorization code"]
