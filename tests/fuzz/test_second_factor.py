"""Fuzzing the second-factor step (`/authorize/second-factor`, RFC 6238, OIDC Core 3.1.2.3) and the account's
security page (`/account/security` and its forms) over HTTP, with the real request id, CSRF tokens and sessions or
not: never a 5xx, never a finished sign-in, never a redirect but to the account pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import asyncpg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from yarl import URL

from tests.authz import flows
from tests.authz.conftest import cheap_password_hashing  # noqa: F401 - fixture
from tests.authz.factor_flows import enrol
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import no_server_error, note, refused_by_parser
from tests.fuzz.wire import Request, Served, send

PATHS = (
    "/authorize/second-factor",
    "/authorize/second-factor",
    "/account/security",
    "/account/security/totp",
    "/account/security/totp/confirm",
    "/account/security/totp/remove",
    "/account/security/recovery-codes",
)
CODES = ("000000", "12345", "1234567", " 123 456 ", "١٢٣٤٥٦", "aaaa-bbbb-cccc-dddd", "AAAA BBBB CCCC DDDD", "0" * 100)
VALUES = {
    "rid": st.sampled_from(["<rid>", "<rid>x", "A" * 43]) | s.values,
    "csrf": st.sampled_from(["<csrf>", "<account_csrf>", "<csrf> ", "A" * 43]) | s.values,
    "code": st.sampled_from(CODES) | s.values,
}
COOKIES = ("authz_session=<sid>", "authz_session=<account_sid>", "authz_session=<sid>; a=b", "x=y")


@st.composite
def factor_requests(draw: st.DrawFn) -> Request:
    pairs = [
        (name, draw(values), draw(st.sampled_from(("utf-8",) * 6 + s.PAIR_ENCODINGS)))
        for name, values in VALUES.items()
        if draw(st.integers(0, 3))
    ]
    if pairs and draw(st.integers(0, 4)) == 0:
        pairs.append(draw(st.sampled_from(pairs)))
    body = b"&".join(s.encode_pair(*pair) for pair in pairs)
    headers = [("Content-Type", draw(st.sampled_from([s.FORM] * 4) | s.content_types))]
    if draw(st.integers(0, 3)):
        headers.append(("Cookie", draw(st.sampled_from(COOKIES))))
    path = draw(st.sampled_from(PATHS))
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT"]))
    if method == "GET":
        return Request("GET", path, s.raw_query(body), tuple(headers))
    return Request(method, path, "", tuple(headers), body)


def session_cookie(browser: aiohttp.ClientSession, url: str) -> str:
    return browser.cookie_jar.filter_cookies(URL(url))["authz_session"].value


@pytest.fixture(scope="module")
async def waiting_for_factor(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> AsyncIterator[dict[str, str]]:
    """A person with an authenticator app signed in on one browser (its session and CSRF token for the account
    pages), and on another a request parked at their second-factor step (its id, session and CSRF token)."""
    url = authz_server.url
    client = flows.RegisteredClient(s.CLIENT_ID, s.CLIENT_SECRET, s.REDIRECT_URI)
    username = await flows.make_user(module_db)
    async with flows.browser() as account, flows.browser() as other:
        await flows.authorize(account, url, client, username, scope="openid")
        await enrol(account, url)
        _, page = await _get(account, f"{url}/account/security")
        account_csrf = flows.hidden_fields(page)["csrf"]
        query = urlencode({"response_type": "code", "client_id": s.CLIENT_ID, "redirect_uri": s.REDIRECT_URI})
        _, login = await _get(other, f"{url}/authorize?{query}")
        form = {**flows.hidden_fields(login), "username": username, "password": flows.PASSWORD}
        async with other.post(f"{url}/authorize/login", data=form) as resp:
            step = await resp.text()
        assert 'action="/authorize/second-factor"' in step, step[:500]
        fields = flows.hidden_fields(step)
        yield {
            "rid": fields["rid"],
            "csrf": fields["csrf"],
            "sid": session_cookie(other, url),
            "account_sid": session_cookie(account, url),
            "account_csrf": account_csrf,
        }


async def _get(browser: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with browser.get(url) as resp:
        return resp.status, await resp.text()


@pytest.mark.usefixtures("cheap_password_hashing")
@FUZZ
@given(request=factor_requests())
@example(
    request=Request(
        "POST",
        "/authorize/second-factor",
        "",
        (("Content-Type", s.FORM), ("Cookie", "authz_session=<sid>")),
        b"rid=<rid>&csrf=<csrf>&code=000000",
    )
)
@example(
    request=Request(
        "POST",
        "/account/security/totp/confirm",
        "",
        (("Content-Type", s.FORM), ("Cookie", "authz_session=<account_sid>")),
        b"csrf=<account_csrf>&code=%00",
    )
)
async def test_second_factor_and_security_forms_never_sign_in_or_fail(
    authz_server: Served,
    fuzz_http: aiohttp.ClientSession,
    waiting_for_factor: dict[str, str],
    request: Request,
) -> None:
    answer = await send(fuzz_http, authz_server.url, request.filled(waiting_for_factor))
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    note(f"{request.method} {request.path} {answer.status}")
    assert answer.headers.get("Set-Cookie") is None, answer
    if 300 <= answer.status < 400:
        assert answer.headers.get("Location") in ("/account", "/account/security"), answer
