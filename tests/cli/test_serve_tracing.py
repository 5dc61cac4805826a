"""`authorium serve` with tracing: off unless the OTEL_* variables ask for it; when on, spans reach an OTLP/HTTP
collector (here one in the test) named after the service, without the request's query, and log lines name the trace."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from authorium_shared import tracing
from authorium_shared.settings import ConfigError
from tests.processes import authorium_popen, free_port, wait_for_port
from tests.servers import bound_socket, serve, url_of


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver: the export requests it was sent."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    sock = bound_socket()
    async with serve(app, sock):
        yield url_of(sock), received


def spans_of(received: list[ExportTraceServiceRequest]) -> list[tuple[str, str, dict[str, str]]]:
    """(service.name, span name, attributes as text) of every span received."""
    found = []
    for request in received:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: str(a.value).strip() for a in span.attributes}
                    found.append((resource["service.name"], span.name, attributes))
    return found


async def test_serve_exports_spans_to_the_otlp_endpoint_and_names_the_trace_in_log_lines(
    environ: dict[str, str], collector: tuple[str, list[ExportTraceServiceRequest]]
) -> None:
    endpoint, received = collector
    port = free_port()
    env = {
        **environ,
        "AUTHORIUM_LOG_LEVEL": "INFO",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    proc = authorium_popen("serve", "resource", "--port", str(port), env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz?code=secret-code", headers={"X-Request-ID": "req-7"}) as resp,
        ):
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    [(service, _, attributes)] = [s for s in spans_of(received) if s[1] == "GET /healthz"]
    assert service == "resource"
    assert "req-7" in attributes[tracing.REQUEST_ID_ATTRIBUTE]
    assert "secret-code" not in str(spans_of(received))
    [line] = [json.loads(x) for x in err.splitlines() if '"path":"/healthz"' in x]
    assert line["request_id"] == "req-7" and len(line["trace_id"]) == 32 and len(line["span_id"]) == 16


async def test_a_worker_stopped_at_once_exports_its_last_spans(
    environ: dict[str, str], collector: tuple[str, list[ExportTraceServiceRequest]]
) -> None:
    """Workers end with os._exit, which runs no exit handler: the batch still buffered (spans wait up to 5 s) is
    flushed first."""
    endpoint, received = collector
    port = free_port()
    env = {**environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "60000"}
    proc = authorium_popen("serve", "resource", "--port", str(port), "--workers", "2", env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        async with aiohttp.ClientSession() as http:
            for _ in range(4):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert len([s for s in spans_of(received) if s[1] == "GET /healthz"]) == 4


def test_tracing_is_off_unless_an_exporter_or_endpoint_is_configured() -> None:
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not tracing.wanted({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert tracing.start("authz", {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}) is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ],
)
def test_settings_tracing_cannot_honour_stop_start_up_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        tracing.start("authz", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", variable: value})


def test_with_tracing_off_nothing_of_opentelemetry_is_loaded() -> None:
    """Zero cost when off: no instrumentation, tracer or exporter is loaded, and nothing is patched."""
    program = """
import sys
from aiohttp import web
from authorium_shared import logs, tracing
import authz.app, client_demo.app, resource_server.app
assert tracing.start("authz", {}) is None
assert tracing.tag_request is None and logs.trace_context is None and web.Application.__name__ == "Application"
# (redis-py itself imports OpenTelemetry's metrics SDK when it is installed: not ours to control.)
ours = ("opentelemetry.instrumentation", "opentelemetry.sdk.trace", "opentelemetry.exporter")
loaded = sorted(m for m in sys.modules if m.startswith(ours))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
