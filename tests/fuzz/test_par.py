"""Fuzzing the pushed authorization request endpoint (RFC 9126) and private_key_jwt client assertions (RFC 7523) over
HTTP: random requests get RFC 9126 section 2.3's JSON errors (or, for a well-formed push, section 2.2's 201) and never
a 5xx; random assertions authenticate nobody, at the token endpoint or at the PAR endpoint."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from authz.clients.registration import build_spec, declare_client
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import (
    AUTHORIZATION_ERRORS,
    TOKEN_ERRORS,
    method_not_allowed,
    no_server_error,
    no_token_issued,
    note,
    oauth_error,
    refused_by_parser,
)
from tests.fuzz.wire import Answer, Request, Served, send

PAR = "/par"
# Section 2.3: the token endpoint's errors (client authentication) and the authorization endpoint's (the request).
PAR_ERRORS = TOKEN_ERRORS | AUTHORIZATION_ERRORS
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def check(answer: Answer) -> None:
    no_server_error(answer)
    no_token_issued(answer)
    if refused_by_parser(answer) or answer.request.path != PAR or method_not_allowed(answer, "POST"):
        return
    if answer.status == 201:
        body = orjson.loads(answer.body)
        assert set(body) == {"request_uri", "expires_in"}, answer
        assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:"), answer
        assert "no-store" in answer.headers.get("Cache-Control", ""), answer
        note("201")
        return
    note(f"{answer.status} {oauth_error(answer, PAR_ERRORS)['error']}")


@FUZZ
@given(request=s.requests(st.sampled_from([PAR] * 8 + ["/par/", "/PAR", "/par%00"]), s.client_authorizations))
async def test_rfc9126_random_requests_get_json_errors(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    check(await send(fuzz_http, authz_server.url, request))


@FUZZ
@given(request=s.authenticated_form_posts(PAR))
async def test_rfc9126_section_2_3_authenticated_clients_pushing_random_forms_get_json_errors(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, request: Request
) -> None:
    """Past client authentication, into the authorization request's checks: whatever the form, a JSON error of
    section 2.3 or a 201, never a redirect."""
    check(await send(fuzz_http, authz_server.url, request))


def _segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["none", "HS256", "RS256", "ES256", "EdDSA", "PS256", "", None, 5]),
        "kid": st.one_of(st.text(max_size=20), st.integers(), st.just("x" * 200)),
        "typ": st.sampled_from(["JWT", "at+jwt", None]),
        "crit": st.just(["exp"]),
    },
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([s.CLIENT_ID, s.CODE_CLIENT_ID, s.PUBLIC_CLIENT_ID, "", "\x00", None]),
        "sub": st.sampled_from([s.CLIENT_ID, s.CODE_CLIENT_ID, s.PUBLIC_CLIENT_ID, "x" * 300, "\x00", 7, None]),
        "aud": st.one_of(st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3), st.integers()),
        "exp": st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5)),
        "iat": st.one_of(st.integers(-(2**40), 2**40), st.floats(), st.none()),
        "jti": st.one_of(st.text(max_size=30), st.integers(), st.none()),
    },
)
assertions = st.one_of(
    st.builds(
        lambda h, c, sig: f"{_segment(h)}.{_segment(c)}.{_segment(sig)}", headers, claims, st.binary(max_size=80)
    ),
    st.text(max_size=100),
    st.sampled_from(["a.b.c", "..", "eyJhbGciOiJub25lIn0.e30.", "x" * 5000]),
)


@FUZZ
@given(
    path=st.sampled_from(["/token", PAR, "/revoke", "/introspect"]),
    assertion=assertions,
    assertion_type=st.sampled_from([ASSERTION_TYPE] * 4 + ["urn:other", ""]),
    client_id=st.sampled_from([None, s.CLIENT_ID, s.PUBLIC_CLIENT_ID, "nobody"]),
)
async def test_rfc7523_random_client_assertions_authenticate_nobody(
    authz_server: Served,
    fuzz_http: aiohttp.ClientSession,
    path: str,
    assertion: str,
    assertion_type: str,
    client_id: str | None,
) -> None:
    """RFC 7523 section 3: no assertion the fuzzer can make (no client here registered a key) authenticates anyone:
    invalid_client (RFC 7521 section 4.2.1) or invalid_request, never a 5xx, never a token or a request_uri."""
    form = {"client_assertion_type": assertion_type, "client_assertion": assertion, "grant_type": "client_credentials"}
    form.update({"response_type": "code", "redirect_uri": s.REDIRECT_URI, "token": "x"})
    if client_id is not None:
        form["client_id"] = client_id
    body = urlencode(form, encoding="utf-8", errors="surrogatepass").encode()
    answer = await send(fuzz_http, authz_server.url, Request("POST", path, "", (("Content-Type", s.FORM),), body))
    no_server_error(answer)
    error = oauth_error(answer, frozenset({"invalid_client", "invalid_request"}))
    note(f"{path} {answer.status} {error['error']}")


# A private_key_jwt client with a fixed key (derived from a constant, so failing examples replay exactly).
KEY_CLIENT_ID = "fuzz-key-client"
KEY = ec.derive_private_key(0x5EED_0F_A_F022_CAFE, ec.SECP256R1())
KID = "fuzz-key"


@pytest.fixture(scope="module")
async def key_client(module_db: asyncpg.Pool, fuzz_clients: None) -> str:
    jwk = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": KID, "alg": "ES256", "use": "sig"}
    spec = build_spec(
        name="fuzz key client",
        grant_types=("client_credentials", "authorization_code"),
        redirect_uris=(s.REDIRECT_URI,),
        scope="notes:read",
        public=False,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [jwk]},
    )
    await declare_client(module_db, KEY_CLIENT_ID, spec, None)
    return KEY_CLIENT_ID


AUDIENCES = ("<issuer>", "<issuer>/token", "<issuer>/par", "<issuer>/", "https://other.example", "")


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` four times in five, else `bad`; a value of None leaves the claim out."""
    return st.one_of(good, good, good, good, bad)


signed_claims = st.fixed_dictionaries(
    {
        "iss": mostly(st.just(KEY_CLIENT_ID), st.sampled_from([s.CLIENT_ID, "", "\x00", None]) | st.integers()),
        "sub": mostly(st.just(KEY_CLIENT_ID), st.sampled_from([s.CLIENT_ID, "x" * 300, None]) | st.integers()),
        "aud": mostly(
            st.sampled_from(AUDIENCES[:3]),
            st.sampled_from([*AUDIENCES[3:], None]) | st.lists(st.sampled_from(AUDIENCES), max_size=3) | st.integers(),
        ),
        "exp": mostly(st.sampled_from([10, 60, 299]), st.sampled_from([-100, -31, 331, 3600, None]) | st.floats()),
        "jti": mostly(st.just("<fresh>"), st.text(max_size=20) | st.integers() | st.just("x" * 300) | st.none()),
    },
    optional={
        "iat": st.sampled_from([-400, -10, 0, 31, 600]) | st.text(max_size=3),
        "nbf": st.sampled_from([-10, 40]) | st.booleans(),
    },
).map(lambda claims: {name: value for name, value in claims.items() if value is not None})
signed_headers = st.fixed_dictionaries(
    {"kid": mostly(st.just(KID), st.sampled_from(["other", ""]) | st.integers())},
    optional={"typ": st.sampled_from(["JWT", "client-authentication+jwt", "at+jwt"]), "crit": st.just(["x"])},
)


def _now_relative(claims: dict[str, Any], now: int, issuer: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in claims.items():
        if name in ("exp", "iat", "nbf") and isinstance(value, int) and not isinstance(value, bool):
            value = now + value
        elif value == "<fresh>":
            value = uuid.uuid4().hex  # each example's own: a replay is tested elsewhere
        elif name == "aud":
            values = value if isinstance(value, list) else [value]
            values = [v.replace("<issuer>", issuer) if isinstance(v, str) else v for v in values]
            value = values if isinstance(value, list) else values[0]
        result[name] = value
    return result


@FUZZ
@given(
    path=st.sampled_from(["/token", PAR, "/revoke", "/introspect"]),
    claims=signed_claims,
    header=signed_headers,
    with_client_id=st.booleans(),
)
async def test_rfc7523_section_3_assertions_signed_with_the_registered_key_are_checked_claim_by_claim(
    authz_server: Served,
    fuzz_http: aiohttp.ClientSession,
    key_client: str,
    path: str,
    claims: dict[str, Any],
    header: dict[str, Any],
    with_client_id: bool,
) -> None:
    """RFC 7523 section 3 with a real signature: whatever the claims, an answer is a section 5.2 error or, only when
    every check of section 3 passes (iss = sub = the client, an accepted aud, a near exp, a string jti), what the
    endpoint answers an authenticated client; never a 5xx."""
    issuer = authz_server.url
    body = _now_relative(claims, int(time.time()), issuer)
    try:
        assertion = jwt.encode(body, KEY, algorithm="ES256", headers=header)
    except (TypeError, ValueError, OverflowError, jwt.PyJWTError):
        return  # pyjwt will not encode it (a non-string kid, a float it cannot serialise): nothing to send
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, "grant_type": "client_credentials"}
    form.update({"response_type": "code", "redirect_uri": s.REDIRECT_URI, "token": "x", "scope": "notes:read"})
    if with_client_id:
        form["client_id"] = key_client
    data = urlencode(form, encoding="utf-8", errors="surrogatepass").encode()
    answer = await send(fuzz_http, issuer, Request("POST", path, "", (("Content-Type", s.FORM),), data))
    no_server_error(answer)
    if answer.status in (200, 201):
        accepted = {issuer, issuer + "/token", issuer + path}
        auds = body.get("aud") if isinstance(body.get("aud"), list) else [body.get("aud")]
        assert body.get("iss") == body.get("sub") == key_client, answer
        assert any(isinstance(a, str) and a in accepted for a in auds), answer
        assert header["kid"] == KID and "crit" not in header, answer
        assert isinstance(body.get("jti"), str) and 0 < len(body["jti"]) <= 256, answer
        note(f"{path} accepted")
        return
    error = oauth_error(answer, frozenset({"invalid_client", "invalid_request"}))
    note(f"{path} {answer.status} {error['error']}")
