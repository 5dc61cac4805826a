"""Fuzzing revocation (RFC 7009) and introspection (RFC 7662) over HTTP: random requests get section 5.2's errors
and never a 5xx; with valid client authentication, any token the server did not issue to that client is revoked
"successfully" (200, RFC 7009 section 2.2) and introspected as exactly `{"active": false}` (RFC 7662 section 2.2)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import aiohttp
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import (
    INTROSPECTION_ERRORS,
    REVOCATION_ERRORS,
    method_not_allowed,
    no_server_error,
    note,
    oauth_error,
    refused_by_parser,
)
from tests.fuzz.wire import Answer, Request, Served, send

ENDPOINTS = ("/revoke", "/introspect")


def check(answer: Answer) -> None:
    no_server_error(answer)
    if refused_by_parser(answer) or method_not_allowed(answer, "POST"):
        return
    note(f"{answer.request.path} {answer.status}")
    if answer.status == 200:
        # Random requests hold no token of the authenticated client's: nothing to reveal, nothing revoked.
        if answer.request.path == "/revoke":
            assert answer.body == b"", answer
        else:
            assert orjson.loads(answer.body) == {"active": False}, answer
        assert "no-store" in answer.headers.get("Cache-Control", ""), answer
        return
    oauth_error(answer, REVOCATION_ERRORS if answer.request.path == "/revoke" else INTROSPECTION_ERRORS)


@FUZZ
@given(request=s.requests(st.sampled_from(ENDPOINTS), s.client_authorizations))
async def test_random_requests_get_rfc_errors(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    check(await send(fuzz_http, authz_server.url, request))


# Tokens that are not a token this server issued to the client: random text and bytes, JWT-shaped nonsense, a JWT
# that names no key of ours, huge, with NUL or control characters, or invalid percent-escapes.
JWT_ISH = st.builds(
    lambda parts: ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in parts),
    st.lists(st.binary(max_size=40), min_size=3, max_size=3),
)
KNOWN_GARBAGE = (
    "a.b.c",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vLXN1Y2gta2V5IiwidHlwIjoiYXQrand0In0.e30.c2ln",
    "\x00",
    "token\x00with-nul",
    "%ff",
    s.CLIENT_SECRET,
    s.CODE_CLIENT_SECRET,
    "A" * 43,
    "A" * 257,
    "a" * 4097,
    "a" * 20_000,
)
garbage_tokens = st.one_of(
    st.text(min_size=1, max_size=80),
    st.sampled_from(KNOWN_GARBAGE),
    JWT_ISH,
    st.builds(lambda n: "a" * n, st.integers(1, 30_000)),
)


@st.composite
def authenticated_requests(draw: st.DrawFn) -> Request:
    """A well-formed revocation or introspection request of a client that authenticates properly (Basic or in the
    body), about a garbage token, with or without a hint (an unknown hint is ignored, RFC 7009 section 2.1)."""
    client_id, secret = draw(
        st.sampled_from([(s.CLIENT_ID, s.CLIENT_SECRET), (s.CODE_CLIENT_ID, s.CODE_CLIENT_SECRET)])
    )
    params = [("token", draw(garbage_tokens))]
    hint = draw(st.sampled_from([None, "access_token", "refresh_token", "id_token", "unknown"]))
    if hint is not None:
        params.append(("token_type_hint", hint))
    headers = [("Content-Type", draw(st.sampled_from([s.FORM, s.FORM + "; charset=utf-8"])))]
    if draw(st.booleans()):
        headers.append(("Authorization", s.basic(client_id, secret)))
    else:
        params += [("client_id", client_id), ("client_secret", secret)]
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in draw(st.permutations(params))).encode()
    return Request("POST", draw(st.sampled_from(ENDPOINTS)), "", tuple(headers), body)


@FUZZ
@given(request=authenticated_requests())
async def test_garbage_tokens_are_inactive_and_revoke_succeeds(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    answer = await send(fuzz_http, authz_server.url, request)
    no_server_error(answer)
    assert answer.status == 200, answer
    assert "no-store" in answer.headers.get("Cache-Control", ""), answer
    if request.path == "/introspect":
        assert answer.content_type == "application/json", answer
        assert orjson.loads(answer.body) == {"active": False}, answer


def authenticated(path: str, token: str, *, basic: bool) -> Request:
    params = [("token", token)] + ([] if basic else [("client_id", s.CLIENT_ID), ("client_secret", s.CLIENT_SECRET)])
    headers = (("Content-Type", s.FORM),) + (
        (("Authorization", s.basic(s.CLIENT_ID, s.CLIENT_SECRET)),) if basic else ()
    )
    return Request("POST", path, "", headers, "&".join(f"{k}={quote_plus(v)}" for k, v in params).encode())


@pytest.mark.parametrize("token", KNOWN_GARBAGE)
async def test_known_garbage_is_inactive_and_revoked(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, token: str
) -> None:
    """Each of the strategy's hand-picked tokens on every run, whatever the examples Hypothesis draws."""
    for path in ENDPOINTS:
        for basic in (True, False):
            answer = await send(fuzz_http, authz_server.url, authenticated(path, token, basic=basic))
            assert answer.status == 200, answer
            assert answer.body == (b'{"active":false}' if path == "/introspect" else b""), answer
