"""The authorization server as an open redirector (RFC 9700 section 4.11, RFC 6749 section 4.1.2.1) and as a
header splitter (CR/LF in `state` and `redirect_uri`), checked on the raw bytes of its answers.

Near misses already covered in tests/authz/test_authorize.py (a trailing slash, path or host case, an added
query or fragment, http for https, an explicit port, a suffixed host, another host, a scheme-relative URI) are
not repeated; `state` coming back percent-encoded through the parsed Location is covered there too."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote, unquote, urlencode, urlsplit

import aiohttp
import asyncpg
import pytest
from yarl import URL

from tests.authz import flows
from tests.authz.conftest import Person
from tests.authz.test_authorize import assert_error_page, get_authorize

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

NEAR_MISSES = [
    # Prefixes and suffixes of the registered https://client.example/callback
    "https://client.example/call",
    "https://client.example",
    "https://client.example/callbackx",
    "https://client.example/callback/../../evil",
    "https://client.example/callback/%2e%2e/%2e%2e/evil",
    "https://client.example/callback?",
    "https://client.example/callback.evil.example",
    "https://client.example/callback@evil.example",
    # Userinfo: which host is meant depends on who parses
    "https://client.example@evil.example/callback",
    "https://client.example:443@evil.example/callback",
    "https://evil.example@client.example/callback",
    "https://user:pass@client.example/callback",
    # Fragments and encodings
    "https://client.example/callback#@evil.example",
    "https://client.example/callback%23@evil.example",
    "HTTPS://client.example/callback",
    "https://client.example/%63allback",
    "https://client%2Eexample/callback",
    "https://client.example./callback",
    "https://cl\u0456ent.example/callback",  # a Cyrillic i
    "https://client.example/callback\u3000",
    # White space, control characters and backslashes
    " https://client.example/callback",
    "https://client.example/callback ",
    "https://client.example/callback\t",
    "https://client.example/callback\r\nLocation: https://evil.example/",
    "https://client.example\\@evil.example/callback",
    "https:\\\\evil.example\\callback",
    "https:/client.example/callback",
    "https:client.example/callback",
    # Other schemes
    "javascript:alert(document.domain)//https://client.example/callback",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.mark.parametrize("redirect_uri", NEAR_MISSES)
async def test_near_miss_redirect_uris_get_an_error_page_never_a_redirect(
    authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, redirect_uri: str
) -> None:
    client = await flows.make_client(module_db)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri, "state": "s"}
    assert_error_page(*await get_authorize(module_http, authz, params))
    # A request that is wrong in other ways too: its error must not go to the unverified address either.
    assert_error_page(*await get_authorize(module_http, authz, {**params, "response_type": "token", "scope": "x"}))
    async with module_http.post(f"{authz}/authorize", data=params, allow_redirects=False) as resp:
        assert_error_page(resp.status, resp.headers, await resp.text())


_HEADER_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[ \t]?[^\r\n]*$")


async def raw_exchange(base_url: str, request: bytes) -> tuple[bytes, list[bytes]]:
    """Send `request` byte for byte; the status line and header lines exactly as the server sent them."""
    parts = urlsplit(base_url)
    assert parts.hostname and parts.port
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
    head = raw.partition(b"\r\n\r\n")[0]
    status_line, *header_lines = head.split(b"\r\n")
    return status_line, header_lines


def request_bytes(method: str, target: str, *, cookie: str | None = None, body: bytes = b"") -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if cookie:
        head.append(f"Cookie: {cookie}")
    if body:
        head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


def headers_of(header_lines: list[bytes]) -> list[tuple[str, str]]:
    """Each line a well-formed `name: value` (a split header would leave a line that is not), as pairs."""
    for line in header_lines:
        assert _HEADER_LINE.fullmatch(line), line
    pairs = [line.decode("latin-1").split(":", 1) for line in header_lines]
    return [(name.lower(), value.strip()) for name, value in pairs]


def assert_nothing_injected(headers: list[tuple[str, str]]) -> None:
    names = [name for name, _ in headers]
    assert "x-injected" not in names
    for name, value in headers:
        assert not (name == "set-cookie" and "injected" in value), value
    assert names.count("location") <= 1


# What an attacker puts in the query, already percent-encoded; each decodes to something with a line break,
# or to bytes some header writers truncate to one.
STATES = {
    "crlf": "%0D%0ASet-Cookie:%20injected=1",
    "lf": "%0ASet-Cookie:%20injected=1",
    "cr": "%0DX-Injected:%201",
    "crlfcrlf-body": "%0D%0A%0D%0A%3Chtml%3Einjected",
    "double-encoded": "%250D%250ASet-Cookie:%20injected=1",
    "utf8-low-bytes": "%E5%98%8A%E5%98%8DSet-Cookie:%20injected=1",  # U+560A U+560D end in 0A and 0D
    "nel-and-line-separator": "%C2%85X-Injected:%201%E2%80%A8X-Injected:%202",
}


def assert_clean_redirect(status_line: bytes, header_lines: list[bytes], redirect_uri: str, state: str) -> str:
    """One Location, to the registered URI, without raw line breaks, carrying `state` exactly."""
    assert status_line.split()[1] in (b"302", b"303"), status_line
    headers = headers_of(header_lines)
    assert_nothing_injected(headers)
    (location,) = [value for name, value in headers if name == "location"]
    assert location.startswith(redirect_uri + "?"), location
    assert not set(location) & set(" \r\n\t\x85\u2028"), location
    assert flows.query_of(location)["state"] == state
    return location


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
async def test_line_breaks_in_state_stay_inside_the_location_of_an_error_redirect(
    authz: str, module_db: asyncpg.Pool, state: str
) -> None:
    client = await flows.make_client(module_db)
    query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri})
    target = f"/authorize?{query}&prompt=none&state={state}"
    status_line, header_lines = await raw_exchange(authz, request_bytes("GET", target))
    location = assert_clean_redirect(status_line, header_lines, client.redirect_uri, unquote(state))
    assert flows.query_of(location)["error"] == "login_required"


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
async def test_line_breaks_in_state_stay_inside_the_location_of_a_code_redirect(
    authz: str, module_db: asyncpg.Pool, person: Person, state: str
) -> None:
    client = await flows.make_client(module_db)
    await flows.authorize(person.browser, authz, client, person.username, scope="openid")  # sign in, consent
    cookies = person.browser.cookie_jar.filter_cookies(URL(authz))
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
    query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri})
    target = f"/authorize?{query}&scope=openid&prompt=none&state={state}"
    status_line, header_lines = await raw_exchange(authz, request_bytes("GET", target, cookie=cookie))
    location = assert_clean_redirect(status_line, header_lines, client.redirect_uri, unquote(state))
    assert flows.query_of(location)["code"]


async def test_raw_line_breaks_in_a_posted_state_stay_inside_the_location(authz: str, module_db: asyncpg.Pool) -> None:
    """A form body can carry CR and LF as raw bytes, not just percent-encoded."""
    client = await flows.make_client(module_db)
    form = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri})
    for raw_state in (b"a\r\nSet-Cookie: injected=1", b"a\nX-Injected: 1", b"a\r\n\r\ninjected"):
        body = f"{form}&prompt=none&state=".encode() + raw_state
        status_line, header_lines = await raw_exchange(authz, request_bytes("POST", "/authorize", body=body))
        assert status_line.split()[1] == b"303", status_line
        assert_clean_redirect(status_line, header_lines, client.redirect_uri, raw_state.decode())


@pytest.mark.parametrize(
    "suffix",
    ["%0D%0ALocation:%20https://evil.example/", "%0ASet-Cookie:%20injected=1", "%0D%0A%0D%0Ainjected"],
)
async def test_line_breaks_in_redirect_uri_get_an_error_page_without_location(
    authz: str, module_db: asyncpg.Pool, suffix: str
) -> None:
    client = await flows.make_client(module_db)
    target = "/authorize?" + urlencode({"response_type": "code", "client_id": client.client_id, "state": "s"})
    target += "&redirect_uri=" + quote(client.redirect_uri, safe="") + suffix
    status_line, header_lines = await raw_exchange(authz, request_bytes("GET", target))
    assert status_line.split()[1] == b"400", status_line
    headers = headers_of(header_lines)
    assert_nothing_injected(headers)
    assert "location" not in [name for name, _ in headers]


async def test_raw_line_breaks_in_the_request_line_split_only_the_attackers_own_request(
    authz: str, module_db: asyncpg.Pool
) -> None:
    """Unencoded CR/LF end the request line early: what follows becomes request headers of the sender's own
    request (aiohttp even answers it as HTTP/0.9), never part of the answer."""
    client = await flows.make_client(module_db)
    query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri})
    request = f"GET /authorize?{query}&prompt=none&state=a\r\nX-Injected: 1\r\nSet-Cookie: injected=1 HTTP/1.1\r\n"
    request += "Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status_line, header_lines = await raw_exchange(authz, request.encode())
    assert status_line.split()[1] == b"302", status_line
    # The query ended at the raw CR: the error goes to the verified URI, with the state cut there.
    assert_clean_redirect(status_line, header_lines, client.redirect_uri, "a")
