"""The request body limit of the authorization and resource servers, endpoint by endpoint: base_app's
`client_max_size` (64 KiB, the resource server's MAX_BODY_BYTES too). A request of exactly the limit is served as
any other; one byte more is refused with 413 in the endpoint's own error format, and changes nothing. Bodies far
beyond it, chunked ones, and compressed ones that inflate beyond it are refused the same way."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote_plus

import aiohttp
import asyncpg
import orjson
import pytest

from authorium_shared.service import DEFAULT_MAX_BODY
from resource_server.app import MAX_BODY_BYTES
from tests.fuzz import strategies as s
from tests.fuzz.conftest import REGISTRATION_TOKEN
from tests.fuzz.invariants import REGISTRATION_ERRORS, TOKEN_ERRORS, no_server_error, oauth_error
from tests.fuzz.wire import BODY_LIMIT, Answer, Request, Served, send
from tests.resource.conftest import Caller, user_token

OVER = BODY_LIMIT + 1


def test_the_limit_is_what_the_services_configure() -> None:
    """The tests below send bodies of BODY_LIMIT and one byte more: the services' own limits must be it."""
    assert DEFAULT_MAX_BODY == MAX_BODY_BYTES == BODY_LIMIT


def padded_form(form: str, size: int) -> bytes:
    """`form` with unknown parameters (ignored, RFC 6749 section 3.2) added to make exactly `size` bytes."""
    body = form.encode()
    n = 0
    while len(body) < size:
        head = f"&pad{n}=".encode()
        room = size - len(body) - len(head)
        body += head + b"a" * max(0, min(room, 4000))
        n += 1
    assert len(body) == size, "no room for padding"
    return body


def form_request(path: str, form: str, size: int, *headers: tuple[str, str]) -> Request:
    return Request("POST", path, "", (("Content-Type", s.FORM), *headers), padded_form(form, size))


BASIC = ("Authorization", s.basic(s.CLIENT_ID, s.CLIENT_SECRET))


def too_large(answer: Answer, codes: frozenset[str]) -> None:
    assert answer.status == 413, answer
    oauth_error(answer, codes)


@pytest.mark.parametrize(
    ("path", "form"),
    [("/token", "grant_type=client_credentials"), ("/revoke", "token=x"), ("/introspect", "token=x")],
)
async def test_token_revocation_and_introspection_take_exactly_the_limit(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, path: str, form: str
) -> None:
    at_limit = await send(fuzz_http, authz_server.url, form_request(path, form, BODY_LIMIT, BASIC))
    assert at_limit.status == 200, at_limit
    over = await send(fuzz_http, authz_server.url, form_request(path, form, OVER, BASIC))
    too_large(over, TOKEN_ERRORS)
    assert b"access_token" not in over.body


@dataclass(frozen=True)
class Body:
    name: str
    request: Request


def huge_bodies() -> list[Body]:
    """Ways past the limit other than by a byte: far past it, and compressed small but inflating past it."""
    headers = (("Content-Type", s.FORM), BASIC)
    gzipped = (*headers, ("Content-Encoding", "gzip"))
    big = padded_form("grant_type=client_credentials", 4 * 1024 * 1024)
    return [
        Body("4 MiB", Request("POST", "/token", "", headers, big)),
        Body("4 MiB gzipped", Request("POST", "/token", "", gzipped, gzip.compress(big))),
        Body("16 MiB of zeros gzipped", Request("POST", "/token", "", gzipped, gzip.compress(bytes(16 * 1024 * 1024)))),
    ]


@pytest.mark.parametrize("body", huge_bodies(), ids=lambda body: body.name)
async def test_far_larger_and_compressed_bodies_are_refused(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, body: Body
) -> None:
    too_large(await send(fuzz_http, authz_server.url, body.request), TOKEN_ERRORS)


async def test_a_chunked_body_is_held_to_the_limit(authz_server: Served, fuzz_http: aiohttp.ClientSession) -> None:
    """Without a Content-Length the server cannot refuse up front: it must stop reading at the limit."""

    async def chunks(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    for size, status in ((BODY_LIMIT, 200), (OVER, 413), (1024 * 1024, 413)):
        body = padded_form("grant_type=client_credentials", size)
        async with fuzz_http.post(
            authz_server.url + "/token", data=chunks(body), headers={"Content-Type": s.FORM, BASIC[0]: BASIC[1]}
        ) as resp:
            assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
            assert resp.status == status, (size, resp.status, await resp.read())


async def clients(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM clients"))


async def test_registration_takes_exactly_the_limit(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> None:
    metadata = orjson.dumps({"client_name": "limit", "grant_types": ["client_credentials"], "scope": "notes:read"})
    headers = (("Authorization", "Bearer " + REGISTRATION_TOKEN), ("Content-Type", s.JSON))
    before = await clients(module_db)
    at_limit = await send(fuzz_http, authz_server.url, Request("POST", "/register", "", headers, metadata, BODY_LIMIT))
    assert at_limit.status == 201, at_limit
    assert await clients(module_db) == before + 1
    over = await send(fuzz_http, authz_server.url, Request("POST", "/register", "", headers, metadata, OVER))
    too_large(over, REGISTRATION_ERRORS)
    assert await clients(module_db) == before + 1


@pytest.mark.parametrize("path", ["/authorize", "/authorize/login", "/authorize/consent"])
async def test_the_authorization_pages_refuse_a_body_over_the_limit(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, path: str
) -> None:
    form = f"response_type=code&client_id={s.CLIENT_ID}&redirect_uri={quote_plus(s.REDIRECT_URI)}"
    if path == "/authorize":
        at_limit = await send(fuzz_http, authz_server.url, form_request(path, form, BODY_LIMIT))
        assert at_limit.status == 200 and b'action="/authorize/login"' in at_limit.body, at_limit
    over = await send(fuzz_http, authz_server.url, form_request(path, form, OVER))
    no_server_error(over)
    assert over.status == 413, over
    assert over.content_type == "text/html", over
    assert "Set-Cookie" not in over.headers and "Location" not in over.headers, over


@pytest.fixture(scope="module")
async def author(
    authz_server: Served, resource_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> Caller:
    return await user_token(fuzz_http, authz_server.url, module_db)


def note(caller: Caller, method: str, path: str, fields: dict[str, str], size: int) -> Request:
    headers = (("Authorization", f"Bearer {caller.token}"), ("Content-Type", s.JSON))
    return Request(method, path, "", headers, orjson.dumps(fields), pad_to=size)


async def test_the_notes_api_takes_exactly_the_limit(
    resource_server: Served, fuzz_http: aiohttp.ClientSession, author: Caller
) -> None:
    # The most a note may hold is well under the limit, so whitespace makes up the rest (JSON allows it).
    title = f"limit {uuid.uuid4().hex[:8]}"
    created = await send(
        fuzz_http, resource_server.url, note(author, "POST", "/api/notes", {"title": title}, BODY_LIMIT)
    )
    assert created.status == 201, created
    path = f"/api/notes/{created.json()['id']}"
    over = await send(fuzz_http, resource_server.url, note(author, "POST", "/api/notes", {"title": title + "!"}, OVER))
    assert over.status == 413, over
    patched = await send(fuzz_http, resource_server.url, note(author, "PATCH", path, {"body": "at"}, BODY_LIMIT))
    assert patched.status == 200 and patched.json()["body"] == "at", patched
    over = await send(fuzz_http, resource_server.url, note(author, "PATCH", path, {"body": "over"}, OVER))
    assert over.status == 413, over

    async with fuzz_http.get(resource_server.url + "/api/notes?limit=100", headers=author.headers) as resp:
        notes = (await resp.json())["notes"]
    assert [(n["title"], n["body"]) for n in notes] == [(title, "at")], "a refused body changed something"
