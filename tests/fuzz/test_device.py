"""Fuzzing the device authorization grant's two endpoints over HTTP (RFC 8628 sections 3.1-3.3): random requests to
the device authorization endpoint get section 5.2's JSON errors, or codes only for the client registered for the
grant; random requests to the verification page never fail, never redirect and never sign anyone in, and reach the
login page only with a live user code, however it is typed (section 6.1)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import asyncpg
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authorium_shared.appkeys import REDIS, REDIS_KEYS
from authz.clients.registration import build_spec, declare_client
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import (
    TOKEN_ERRORS,
    method_not_allowed,
    no_server_error,
    no_token_issued,
    note,
    oauth_error,
    refused_by_parser,
)
from tests.fuzz.test_authorize import check_no_sign_in
from tests.fuzz.wire import Answer, Request, Served, send

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# A public client registered for the device grant: any form naming it may get codes, which grant nothing by themselves.
DEVICE_CLIENT_ID = "fuzz-device"
USER_CODE = re.compile(rb'"user_code":"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}"')
ENDPOINT = "/device_authorization"
PATHS = st.sampled_from(
    [ENDPOINT] * 8 + ["/device_authorization/", "/Device_authorization", "/device_authorization%00"]
)
PAGE_PATHS = st.sampled_from(["/device"] * 8 + ["/device/", "/Device", "/device%00"])


@pytest.fixture(scope="module")
async def device_client(module_db: asyncpg.Pool) -> None:
    spec = build_spec(
        name="fuzz device", grant_types=[DEVICE_GRANT], redirect_uris=[], scope="openid notes:read", public=True
    )
    await declare_client(module_db, DEVICE_CLIENT_ID, spec, None)


def check_device_authorization(answer: Answer) -> None:
    no_server_error(answer)
    no_token_issued(answer)
    if refused_by_parser(answer) or answer.request.path != ENDPOINT or method_not_allowed(answer, "POST"):
        return
    if answer.status == 200:
        body = orjson.loads(answer.body)
        assert set(body) == {
            "device_code",
            "user_code",
            "verification_uri",
            "verification_uri_complete",
            "expires_in",
            "interval",
        }, answer
        assert USER_CODE.search(answer.body), answer
        assert DEVICE_CLIENT_ID.encode() in (answer.request.payload() or b""), answer
        note("codes issued")
        return
    note(f"{answer.status} {oauth_error(answer, TOKEN_ERRORS)['error']}")


@st.composite
def device_forms(draw: st.DrawFn) -> Request:
    """Forms from the device client, another client, or none, with the real parameter names and random values."""
    form = draw(s.oauth_forms())
    who = draw(st.sampled_from(["device", "device", "public", "code", "none"]))
    headers = [("Content-Type", s.FORM)]
    if who == "device":
        form += f"&client_id={DEVICE_CLIENT_ID}".encode()
    elif who == "public":
        form += f"&client_id={s.PUBLIC_CLIENT_ID}".encode()
    elif who == "code":
        headers.append(("Authorization", s.basic(s.CODE_CLIENT_ID, s.CODE_CLIENT_SECRET)))
    return Request("POST", ENDPOINT, "", tuple(headers), form.lstrip(b"&"))


@pytest.mark.usefixtures("device_client")
@FUZZ
@given(request=s.requests(PATHS, s.client_authorizations) | s.form_posts(ENDPOINT, s.client_authorizations))
@example(request=Request("POST", ENDPOINT, "", (("Content-Type", s.FORM),), f"client_id={DEVICE_CLIENT_ID}".encode()))
@example(request=Request("POST", ENDPOINT, "", (("Content-Type", s.FORM),), b"client_id=%FF%00&scope=\xff"))
async def test_random_requests_to_the_device_authorization_endpoint(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    check_device_authorization(await send(fuzz_http, authz_server.url, request))


@pytest.mark.usefixtures("device_client")
@FUZZ
@given(request=device_forms())
async def test_forms_from_each_kind_of_client_get_codes_only_for_the_device_client(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    check_device_authorization(await send(fuzz_http, authz_server.url, request))


# What a person might type, or anything at all: the live code (placeholders, filled in by `live`) in the forms section
# 6.1 accepts, and near misses.
TYPED = st.one_of(
    st.sampled_from(
        [
            "XLIVECODEX",
            "XLIVELOWERX",
            "XLIVEBAREX",
            " XLIVECODEX ",
            "XLIVECODEXx",
            "XLIVECODEX-BCDF",
            "BCDF-GHJK",
            "",
        ]
    ),
    s.values,
)


@st.composite
def verification_requests(draw: st.DrawFn) -> Request:
    """GETs with `user_code` in the query (verification_uri_complete) and POSTs of the entry form, with random
    encodings, methods, Content-Types and bodies; and wholly random requests to the page."""
    kind = draw(st.sampled_from(["get", "post", "random"]))
    if kind == "random":
        return draw(s.requests(PAGE_PATHS, s.client_authorizations))
    typed = draw(TYPED)
    encoding = draw(st.sampled_from(("utf-8",) * 6 + s.PAIR_ENCODINGS))
    pair = s.encode_pair("user_code", typed, encoding)
    if draw(st.integers(0, 5)) == 0:
        pair += b"&" + pair
    if kind == "get":
        return Request("GET", draw(PAGE_PATHS), s.raw_query(pair))
    content_type = draw(st.sampled_from([s.FORM] * 4) | s.content_types)
    return Request(
        draw(st.sampled_from(["POST"] * 6 + ["PUT"])), draw(PAGE_PATHS), "", (("Content-Type", content_type),), pair
    )


@pytest.fixture(scope="module")
async def live_user_code(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, device_client: None
) -> AsyncIterator[dict[str, str]]:
    """A device request waiting for its user code, in each way a person may type it."""
    async with fuzz_http.post(
        authz_server.url + ENDPOINT, data={"client_id": DEVICE_CLIENT_ID, "scope": "notes:read"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        code = (await resp.json())["user_code"]
    yield {"XLIVECODEX": code, "XLIVELOWERX": code.lower(), "XLIVEBAREX": code.replace("-", "")}


def live(request: Request, values: dict[str, str]) -> Request:
    """`request` with the placeholders (plain letters, so that every encoding leaves them as they are) filled in."""
    body, query = request.body, request.query
    for name, value in values.items():
        body = body.replace(name.encode(), value.encode()) if body is not None else None
        query = query.replace(name, value)
    return replace(request, body=body, query=query)


async def forget_wrong_codes(served: Served) -> None:
    """Each example starts with no wrong user codes counted, so that the throttle (section 5.1) does not turn every
    later example into a 429 that never reaches the lookup."""
    redis, keys = served.app[REDIS], served.app[REDIS_KEYS]
    found = [key async for key in redis.scan_iter(match=keys("rl", "user-code-addr", "*"), count=1000)]
    if found:
        await redis.delete(*found)


@FUZZ
@given(request=verification_requests())
@example(request=Request("GET", "/device", "user_code=XLIVECODEX"))
@example(request=Request("POST", "/device", "", (("Content-Type", s.FORM),), b"user_code=XLIVELOWERX"))
@example(request=Request("POST", "/device", "", (("Content-Type", s.FORM),), b"user_code=XLIVEBAREX"))
@example(request=Request("POST", "/device", "", (("Content-Type", s.FORM),), b"user_code=\xff\xfe"))
async def test_the_verification_page_never_fails_redirects_or_signs_in(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, live_user_code: dict[str, str], request: Request
) -> None:
    await forget_wrong_codes(authz_server)
    answer = await send(fuzz_http, authz_server.url, live(request, live_user_code))
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    assert "Location" not in answer.headers, answer
    await check_no_sign_in(authz_server, answer)
    if answer.request.path != "/device":
        assert answer.status == 404, answer
        return
    if answer.request.method.upper() not in ("GET", "POST"):
        assert answer.status == 405, answer
        return
    assert answer.status in (200, 400, 413), answer
    login = b'action="/authorize/login"' in answer.body
    note(f"{answer.status} {'login page' if login else ''}")
    if login:
        # Only the live code gets this far, however it was typed.
        assert b"XLIVE" in (request.payload() or b"") + request.query.encode(), answer


@st.composite
def polls(draw: st.DrawFn) -> Request:
    """Token requests of the device grant from the device client, with random device codes and other parameters."""
    others = tuple(p for p in s.PARAMETERS if p not in ("client_id", "client_secret", "grant_type"))
    form = draw(s.oauth_forms(names=others)) if draw(st.booleans()) else b""
    device_code = draw(st.sampled_from(["XLIVEDEVICEX", "XLIVEDEVICEXx", "A" * 43]) | s.values)
    pair = s.encode_pair("device_code", device_code, draw(st.sampled_from(("utf-8",) * 4 + s.PAIR_ENCODINGS)))
    body = b"&".join(
        part for part in (f"grant_type={DEVICE_GRANT}&client_id={DEVICE_CLIENT_ID}".encode(), pair, form) if part
    )
    return Request("POST", "/token", "", (("Content-Type", s.FORM),), body)


@pytest.fixture(scope="module")
async def live_device_code(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, device_client: None
) -> dict[str, str]:
    async with fuzz_http.post(authz_server.url + ENDPOINT, data={"client_id": DEVICE_CLIENT_ID}) as resp:
        assert resp.status == 200, await resp.text()
        return {"XLIVEDEVICEX": (await resp.json())["device_code"]}


@FUZZ
@given(request=polls())
@example(request=Request("POST", "/token", "", (("Content-Type", s.FORM),), b"grant_type=" + DEVICE_GRANT.encode()))
async def test_polls_with_random_device_codes_never_get_a_token(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, live_device_code: dict[str, str], request: Request
) -> None:
    """RFC 8628 section 3.5: whatever else the form holds, a poll gets one of section 3.5's and 5.2's errors; the live
    device code, which nobody approves, at best `authorization_pending` or `slow_down`."""
    answer = await send(fuzz_http, authz_server.url, live(request, live_device_code))
    no_server_error(answer)
    no_token_issued(answer)
    if refused_by_parser(answer):
        return
    assert answer.status in (400, 413), answer  # 413: a form over the body limit
    body = orjson.loads(answer.body)
    assert body["error"] in TOKEN_ERRORS | {"authorization_pending", "slow_down", "expired_token"}, answer
    note(str(body["error"]))
