"""OpenTelemetry tracing, off unless the standard `OTEL_*` variables ask for it: spans for aiohttp (server and client),
asyncpg and Redis, each carrying the request id, and no token, code or secret in any attribute.

While it is off, no instrumentation, tracer or exporter is imported and nothing is patched: the `tracing` extra is
optional, and a request costs one `is None` test (`tag_request`, `logs.trace_context`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from authorium_shared import logs
from authorium_shared.logs import request_id
from authorium_shared.settings import ConfigError

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

REQUEST_ID_ATTRIBUTE = "authorium.request_id"

# Where a URL's query lands in the aiohttp instrumentations' attributes (older and current semantic conventions).
# Queries carry authorization codes (`/callback?code=`), `state` and `nonce`: they never leave the process.
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full")
_QUERY_ATTRIBUTES = ("url.query",)

# Captured headers would carry `Authorization` and cookies; the instrumentations read these from the environment.
_HEADER_CAPTURE = (
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE",
)

# Set while tracing is on: tags the current (server) span with the request id the access-log middleware chose.
tag_request: Callable[[str], None] | None = None
_started: Tracing | None = None


def flush() -> None:
    """Export the spans still buffered: a forked worker ends with `os._exit`, which runs no exit handler."""
    if _started is not None:
        _started.provider.force_flush()


def wanted(environ: Mapping[str, str]) -> bool:
    """Tracing is on when an OTLP endpoint or a traces exporter is configured, and the SDK is not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        exporter or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


class Tracing:
    """Tracing as started: `stop` flushes what is buffered and removes the instrumentation."""

    def __init__(self, provider: TracerProvider, instrumentors: list[Any]) -> None:
        self.provider = provider
        self.instrumentors = instrumentors

    def stop(self) -> None:
        global tag_request, _started
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        tag_request = _started = None
        logs.trace_context = None
        self.provider.shutdown()


def start(service: str, environ: Mapping[str, str], *, exporter: SpanExporter | None = None) -> Tracing | None:
    """Start tracing if `environ` asks for it (or an `exporter` is given: tests pass an in-memory one, exported
    span by span); None when off. Call before the applications and their HTTP sessions are created: only those
    created afterwards are traced."""
    if exporter is None and not wanted(environ):
        return None
    for name in _HEADER_CAPTURE:
        if environ.get(name):
            raise ConfigError(name, "is not supported: captured headers would put credentials in spans")
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT", "asks for tracing, which needs the tracing extra (authorium[tracing])"
        ) from None
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(_scrubber())
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter(environ)))
    return _instrument(provider)


def _exporter(environ: Mapping[str, str]) -> SpanExporter:
    kind = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ConfigError("OTEL_TRACES_EXPORTER", f"must be otlp, console or none, not {kind!r}")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(name)
        if protocol:
            if protocol != "http/protobuf":
                raise ConfigError(name, f"must be http/protobuf (the exporter installed), not {protocol!r}")
            break
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout and TLS from the OTEL_EXPORTER_OTLP_* variables


def _instrument(provider: TracerProvider) -> Tracing:
    global tag_request, _started
    from opentelemetry import trace
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    # Redis spans name the command and hide its arguments ("GETDEL ?"); asyncpg's leave out query parameters
    # (capture_parameters defaults to off): keys name codes and token digests, parameters carry them.
    instrumentors: list[Any] = [
        AioHttpServerInstrumentor(),
        AioHttpClientInstrumentor(),
        AsyncPGInstrumentor(),  # type: ignore[no-untyped-call]
        RedisInstrumentor(),
    ]
    with warnings.catch_warnings():
        # The aiohttp server instrumentation subclasses web.Application (which aiohttp discourages) to put its
        # middleware first in every application created from now on.
        warnings.filterwarnings("ignore", "Inheritance class _InstrumentedApplication", DeprecationWarning)
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider)

    def tag(rid: str) -> None:
        trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, rid)

    def trace_context() -> dict[str, str]:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return {}
        return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}

    tag_request = tag
    logs.trace_context = trace_context
    _started = Tracing(provider, instrumentors)
    return _started


def _scrub(span: Span) -> None:
    attributes = span.attributes or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    for name in _QUERY_ATTRIBUTES:
        if attributes.get(name):
            span.set_attribute(name, "REDACTED")


def _scrubber() -> SpanProcessor:
    from opentelemetry.sdk.trace import SpanProcessor

    class Scrubber(SpanProcessor):
        """Runs first on every span: adds the request id being served as it starts, and strips URL queries both as
        it starts and as it ends (attributes can be set in between)."""

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            _scrub(span)
            rid = request_id.get()
            if rid:
                span.set_attribute(REQUEST_ID_ATTRIBUTE, rid)

        def _on_ending(self, span: Span) -> None:
            _scrub(span)

    return Scrubber()
