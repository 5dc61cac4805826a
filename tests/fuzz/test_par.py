"""Fuzzing the pushed authorization request endpoint (RFC 9126) and private_key_jwt client assertions (RFC 7523) over
HTTP: random requests get RFC 9126 section 2.3's JSON errors (or, for a well-formed push, section 2.2's 201) and never
a 5xx; random assertions authenticate nobody, at the token endpoint or at the PAR endpoint."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import aiohttp
import orjson
from hypothesis import given
from hypothesis import strategies as st

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
