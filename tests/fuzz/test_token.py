"""Fuzzing the token endpoint (RFC 6749 section 3.2, errors per section 5.2) over HTTP: random requests never get
a token, never a 5xx, and every error is section 5.2's JSON; a well-formed request gets a token exactly when
nothing about it is wrong."""

from __future__ import annotations

from urllib.parse import quote_plus

import aiohttp
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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
from tests.fuzz.wire import BODY_LIMIT, Answer, Request, Served, send

PATHS = st.sampled_from(["/token"] * 8 + ["/token/", "//token", "/Token", "/token%00", "/%74oken"])


def check_error(answer: Answer) -> None:
    """Whatever the request, an answer from /token that is not a token is section 5.2's error."""
    no_server_error(answer)
    no_token_issued(answer)
    if refused_by_parser(answer) or answer.request.path != "/token" or method_not_allowed(answer, "POST"):
        return
    note(f"{answer.status} {oauth_error(answer, TOKEN_ERRORS)['error']}")


# Inputs that got a 500 or a malformed error before this suite's fixes, tried on every run.
FOUND = (
    # A body that is not what its Content-Encoding says.
    Request("POST", "/token", "", (("Content-Type", s.FORM), ("Content-Encoding", "gzip")), b"grant_type=x"),
    # A charset no codec has.
    Request("POST", "/token", "", (("Content-Type", s.FORM + "; charset=bogus"),), b"grant_type=x"),
    # A Content-Type the standard library's MIME parser fails on.
    Request("POST", "/token", "", (("Content-Type", ";0*"),), b"grant_type=x"),
    # A repeated parameter whose name the error description would quote as is.
    Request("POST", "/token", "", (("Content-Type", s.FORM),), b"%C3%A9%22=1&%C3%A9%22=2"),
    # A client_id with a NUL (Postgres text cannot hold one), in Basic credentials.
    Request("POST", "/token", "", (("Content-Type", s.FORM), ("Authorization", s.basic("\x00", "x"))), b"grant_type=x"),
    # Over the body limit.
    Request("POST", "/token", "", (("Content-Type", s.FORM),), b"grant_type=x", pad_to=BODY_LIMIT + 1),
)


@pytest.mark.parametrize("request_", FOUND, ids=range(len(FOUND)))
async def test_inputs_that_once_failed(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request_: Request
) -> None:
    check_error(await send(fuzz_http, authz_server.url, request_))


@FUZZ
@given(request=s.requests(PATHS, s.client_authorizations))
async def test_random_requests_never_get_a_token(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    check_error(await send(fuzz_http, authz_server.url, request))


@FUZZ
@given(request=s.form_posts("/token", s.client_authorizations))
async def test_random_forms_never_get_a_token(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    """The same, with the method and Content-Type right, so that examples reach client authentication and the
    grants rather than stopping at the first check."""
    check_error(await send(fuzz_http, authz_server.url, request))


@FUZZ
@given(request=s.authenticated_form_posts("/token"))
async def test_authenticated_clients_get_no_token_for_random_forms(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    """Past client authentication, into the grants: a client registered for the code flow only (or a public one)
    holds no code or refresh token here, so no form gets it a token."""
    check_error(await send(fuzz_http, authz_server.url, request))


# Each of these alone makes a valid client credentials request invalid.
BREAKAGES = (
    "wrong secret",
    "unknown client",
    "no client authentication",
    "two authentication methods",
    "client_id disagrees with Basic",
    "grant_type repeated",
    "scope repeated",
    "grant_type unsupported",
    "grant_type missing",
    "scope not registered",
    "NUL in scope",
    "JSON body",
    "no Content-Type",
    "parameters in the query",
    "GET",
    "Bearer scheme",
    "public client",
    "body over the limit",
    "charset unknown",
    "value over 4096 characters",
)


@st.composite
def client_credentials_requests(draw: st.DrawFn) -> tuple[Request, frozenset[str]]:
    """A client credentials request built to be valid, then broken in zero or more of BREAKAGES' ways (each
    enough on its own), with harmless variations: credentials in Basic or in the body, the Basic scheme's case,
    a scope or none, unknown extra parameters, parameter and header order, the charset named or not."""
    broken = frozenset(draw(st.lists(st.sampled_from(BREAKAGES), max_size=2)))
    client_id, secret = s.CLIENT_ID, s.CLIENT_SECRET
    if "wrong secret" in broken:
        secret = draw(s.values.filter(lambda v: v != s.CLIENT_SECRET))
    if "unknown client" in broken:
        client_id = draw(s.values.filter(lambda v: v not in s.CLIENT_IDS))
    if "public client" in broken:
        client_id, secret = s.PUBLIC_CLIENT_ID, ""

    params: list[tuple[str, str]] = []
    grant_type = "client_credentials"
    if "grant_type unsupported" in broken:
        grant_type = draw(s.values.filter(lambda v: v not in ("client_credentials", "")))
    if "grant_type missing" not in broken:
        params.append(("grant_type", grant_type))
    if "grant_type repeated" in broken:
        params.extend([("grant_type", "client_credentials")] * (2 if "grant_type missing" in broken else 1))
    scope = draw(st.sampled_from([None, "notes:read", "notes:read notes:write", "notes:write"]))
    if "scope not registered" in broken:
        scope = draw(st.sampled_from(["notes:admin", "notes:read notes:admin", "openid", "write", "x" * 50]))
    if "NUL in scope" in broken:
        scope = (scope or "notes:read") + "\x00"
    if scope is not None:
        params.append(("scope", scope))
    if "scope repeated" in broken:
        params.extend([("scope", "notes:read")] * (1 if scope is not None else 2))
    if "value over 4096 characters" in broken:
        params.append(("state", "s" * 4097))

    headers: list[tuple[str, str]] = []
    in_body = draw(st.booleans())
    if "no client authentication" not in broken:
        if in_body or "two authentication methods" in broken or "public client" in broken:
            params.append(("client_id", client_id))
            if secret:
                params.append(("client_secret", secret))
        if not in_body or "two authentication methods" in broken or "Bearer scheme" in broken:
            scheme = "Bearer" if "Bearer scheme" in broken else draw(st.sampled_from(["Basic", "basic", "BASIC"]))
            headers.append(("Authorization", s.basic(client_id, secret).replace("Basic", scheme, 1)))
    elif "Bearer scheme" in broken:
        headers.append(("Authorization", "Bearer " + s.CLIENT_SECRET))
    if "client_id disagrees with Basic" in broken:
        params.append(("client_id", s.CODE_CLIENT_ID))
        if not headers:
            headers.append(("Authorization", s.basic(s.CLIENT_ID, s.CLIENT_SECRET)))
    # Unknown parameters are ignored (RFC 6749 section 3.2).
    extra = draw(st.lists(st.from_regex(r"\Ax_[a-z]{1,8}\Z"), max_size=3, unique=True))
    params.extend(
        (name, draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20))) for name in extra
    )
    params = draw(st.permutations(params))
    encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params)

    method, query, body = "POST", "", encoded.encode()
    content_type = draw(st.sampled_from([s.FORM, s.FORM + "; charset=utf-8", s.FORM + "; charset=UTF-8"]))
    if "charset unknown" in broken:
        content_type = s.FORM + "; charset=bogus"
    if "JSON body" in broken:
        content_type, body = s.JSON, orjson.dumps(dict(params))
    if "no Content-Type" not in broken:
        headers.append(("Content-Type", content_type))
    if "parameters in the query" in broken:
        query, body = encoded, b""
    if "GET" in broken:
        method, query, body = "GET", encoded, b""
    headers.extend(draw(st.lists(st.tuples(st.sampled_from(["Accept", "X-Request-ID"]), st.just("x")), max_size=2)))
    request = Request(
        method,
        "/token",
        query,
        tuple(draw(st.permutations(headers))),
        body,
        pad_to=BODY_LIMIT + 1 if "body over the limit" in broken else None,
        pad_with=b"a",
    )
    return request, broken


VALID = Request(
    "POST",
    "/token",
    headers=(("Authorization", s.basic(s.CLIENT_ID, s.CLIENT_SECRET)), ("Content-Type", s.FORM)),
    body=b"grant_type=client_credentials",
)


@FUZZ
@given(case=client_credentials_requests())
@example(case=(VALID, frozenset()))
async def test_only_a_well_formed_request_gets_a_token(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, case: tuple[Request, frozenset[str]]
) -> None:
    request, broken = case
    answer = await send(fuzz_http, authz_server.url, request)
    no_server_error(answer)
    if broken:
        check_error(answer)
        assert answer.status != 200, answer
        if "body over the limit" in broken and not broken & {"no Content-Type", "JSON body", "GET"}:
            assert answer.status == 413, answer
        return
    assert answer.status == 200, answer
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["access_token"], answer
    assert "no-store" in answer.headers["Cache-Control"], answer


def check_dpop_refusal(answer: Answer) -> None:
    """A hostile DPoP proof (RFC 9449 section 4.3) from a client that authenticates is refused as such (400
    invalid_dpop_proof, section 5), or reaches the grant, which has no code to give a token for."""
    check_error(answer)
    if refused_by_parser(answer):
        return
    assert answer.status == 400, answer
    assert oauth_error(answer, TOKEN_ERRORS)["error"] in ("invalid_dpop_proof", "invalid_grant"), answer


def dpop_request(*proofs: str) -> Request:
    headers = [("Content-Type", s.FORM), ("Authorization", s.basic(s.CODE_CLIENT_ID, s.CODE_CLIENT_SECRET))]
    body = f"grant_type=authorization_code&code=unknown&redirect_uri={quote_plus(s.REDIRECT_URI)}".encode()
    return Request("POST", "/token", "", (*headers, *(("DPoP", proof) for proof in proofs)), body)


@FUZZ
@given(proofs=st.lists(s.dpop_proofs, min_size=1, max_size=2))
async def test_random_dpop_proofs_are_refused_not_failed(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, proofs: list[str]
) -> None:
    check_dpop_refusal(await send(fuzz_http, authz_server.url, dpop_request(*proofs)))
