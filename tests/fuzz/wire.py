"""Sending a fuzzed request exactly as generated (raw query, repeated headers, raw body bytes) through a real socket,
and what came back."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# base_app's `client_max_size` (authorium_shared.service.DEFAULT_MAX_BODY), which every service keeps: the
# authorization server and the demo client by default, the resource server explicitly (MAX_BODY_BYTES).
BODY_LIMIT = 64 * 1024
CLIENT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Served:
    url: str
    app: web.Application


@dataclass(frozen=True)
class Request:
    """A request as generated. `<name>` placeholders (e.g. `<user_token>`) are filled in at send time with values
    only a running server has; `pad_to` grows the body to that many bytes at send time (padding is the body's
    own: `pad_with` repeated), so that failing examples stay short when printed."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    pad_to: int | None = None
    pad_with: bytes = field(default=b" ", repr=False)

    def filled(self, values: Mapping[str, str]) -> Request:
        def fill(text: str) -> str:
            for name, value in values.items():
                text = text.replace(f"<{name}>", value)
            return text

        body = self.body
        if body is not None:
            for name, value in values.items():
                body = body.replace(f"<{name}>".encode(), value.encode())
        return replace(
            self,
            path=fill(self.path),
            query=fill(self.query),
            headers=tuple((k, fill(v)) for k, v in self.headers),
            body=body,
        )

    def payload(self) -> bytes | None:
        if self.pad_to is None:
            return self.body
        body = self.body or b""
        missing = self.pad_to - len(body)
        return body + (self.pad_with * (missing // len(self.pad_with) + 1))[:missing] if missing > 0 else body

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def from_app(self) -> bool:
        """Whether the application answered (every answer through its middlewares carries a request id), rather
        than aiohttp's HTTP parser refusing the request before any handler ran."""
        return "X-Request-ID" in self.headers

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        assert self.content_type == "application/json", self
        return orjson.loads(self.body)

    def __repr__(self) -> str:
        shown = self.body[:300] + (b"..." if len(self.body) > 300 else b"")
        return f"<{self.status} {dict(self.headers)!r} {shown!r} for {self.request!r}>"


async def send(http: aiohttp.ClientSession, base: str, request: Request) -> Answer:
    """Send `request` as it is: the query unencoded further, headers in order (repeats kept), no Content-Type
    or other headers added unless the request has them. A server that does not answer in time fails the test."""
    url = URL(base + request.path + ("?" + request.query if request.query else ""), encoded=True)
    body = request.payload()
    try:
        async with http.request(
            request.method,
            url,
            headers=CIMultiDict(request.headers),
            data=None if body is None else io.BytesIO(body),
            skip_auto_headers=("Content-Type", "Accept", "Accept-Encoding", "User-Agent"),
            allow_redirects=False,
        ) as resp:
            return Answer(request, resp.status, resp.headers, await resp.read())
    except TimeoutError:
        raise AssertionError(f"no answer within {CLIENT_TIMEOUT} s: the server hangs on {request!r}") from None
    except aiohttp.ClientResponseError as exc:
        # aiohttp's HTTP parser answers a HEAD it cannot accept (e.g. an unsupported Content-Encoding) with a
        # 400 that has a body, which the client then refuses to read: a refusal before the application ran.
        if request.method != "HEAD" or exc.status != 400:
            raise
        return Answer(request, 400, CIMultiDictProxy(CIMultiDict()), b"")
